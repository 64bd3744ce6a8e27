#include "daemon/serve/frame_pipeline.h"

#include "anchord/util/stopwatch.h"

#include "daemon/common/clock.h"
#include "daemon/serve/ordered_executor.h"
#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>
#include <iterator>

namespace anchord::daemon {

// When a stage call started (ns since the epoch, 0 = none running) and
// which stage it is; written by the thread running it, read by Stats().
struct FramePipeline::RunningClock {
  std::atomic<int64_t> since_ns{0};
  std::atomic<const char*> stage{""};
};

struct FramePipeline::StageSet {
  std::vector<std::unique_ptr<Stage>> stages;
  std::vector<std::unique_ptr<ExecStats>> stats;  // one per stage

  explicit StageSet(std::vector<std::unique_ptr<Stage>> s)
      : stages(std::move(s)) {
    for (const auto& stage : stages) {
      stats.push_back(std::make_unique<ExecStats>(stage->name()));
    }
  }
  // Runs every stage; a stage that fails is counted and later stages
  // still run (the encode stage turns the failure into a result message).
  void RunAll(Job& job, RunningClock& clock);
};

namespace {

// A count from the configuration as a capacity (at least 1).
size_t Capacity(int count) { return static_cast<size_t>(std::max(1, count)); }

// One stage call; nothing escapes: an exception from a stage is counted.
bool RunOne(Stage& stage, Job& job, ExecStats& stats) {
  Stopwatch watch;
  bool ok = false;
  try {
    ok = stage.Process(job);
  } catch (const std::exception& e) {
    job.status = Status::Internal(std::string(stage.name()) +
                                  ": uncaught exception: " + e.what());
  } catch (...) {
    job.status =
        Status::Internal(std::string(stage.name()) + ": uncaught exception");
  }
  stats.Record(watch.Lap(), !ok);
  return ok;
}

// What an abandoned job is published as: its identity, the worker stages'
// outputs, and `why`.
std::unique_ptr<Job> ShellOf(const Job& job, Status why) {
  auto shell = std::make_unique<Job>();
  shell->sequence = job.sequence;
  shell->received = job.received;
  shell->received_unix_ns = job.received_unix_ns;
  shell->config = job.config;
  shell->inbound.frame_id = job.inbound.frame_id;
  shell->inbound.instrument = job.inbound.instrument;
  shell->inbound.session = job.inbound.session;
  shell->inbound.acquired_unix_ns = job.inbound.acquired_unix_ns;
  shell->decode_status = job.decode_status;
  shell->status = std::move(why);
  return shell;
}

}  // namespace

void FramePipeline::StageSet::RunAll(Job& job, RunningClock& clock) {
  for (size_t k = 0; k < stages.size(); ++k) {
    clock.stage = stages[k]->name();
    clock.since_ns = NowUnixNs();
    RunOne(*stages[k], job, *stats[k]);
    clock.since_ns = 0;
  }
}

FramePipeline::FramePipeline(const PipelineConfig& options,
                             std::vector<std::unique_ptr<Stage>> stages,
                             ConfigSource config,
                             Sink sink)
    : FramePipeline(
          options, std::move(stages), {}, std::move(config), std::move(sink)) {}

FramePipeline::FramePipeline(const PipelineConfig& options,
                             std::vector<std::unique_ptr<Stage>> stages,
                             std::vector<std::unique_ptr<Stage>> ordered_stages,
                             ConfigSource config,
                             Sink sink)
    : options_(options),
      stages_(std::make_shared<StageSet>(std::move(stages))),
      ordered_stages_(std::make_shared<StageSet>(std::move(ordered_stages))),
      config_(std::move(config)),
      sink_(std::move(sink)),
      ingest_(Capacity(options.ingest_queue),
              options.ingest_overflow,
              static_cast<size_t>(
                  std::max<int64_t>(1, options.ingest_queue_bytes))),
      reorder_(Capacity(options.reorder_max),
               std::chrono::milliseconds(options.reorder_timeout_ms)),
      ordered_queue_(4 * Capacity(options.reorder_max),
                     OverflowPolicy::kBlock) {
  const int workers = options_.workers < 1 ? 1 : options_.workers;
  for (int k = 0; k <= workers; ++k) {
    clocks_.push_back(std::make_shared<RunningClock>());
  }
}

FramePipeline::~FramePipeline() { Stop(Clock::duration::zero()); }

void FramePipeline::Start() {
  if (running_.exchange(true)) return;
  const int workers = static_cast<int>(clocks_.size()) - 1;
  if (!ordered_stages_->stages.empty()) {
    // The executor keeps the stages (and the clock) alive on its own.
    executor_ = std::make_unique<OrderedExecutor>(
        [stages = ordered_stages_, clock = clocks_.back()](Job& job) {
          stages->RunAll(job, *clock);
        });
  }
  ordered_thread_ = std::thread([this] { OrderedLoop(); });
  pool_ = std::make_unique<boost::asio::thread_pool>(workers);
  for (int k = 0; k < workers; ++k) {
    boost::asio::post(*pool_, [this, k] { WorkerLoop(*clocks_[k]); });
  }
}

std::unique_ptr<Job> FramePipeline::MakeJob(std::string& payload,
                                            int64_t received_unix_ns) {
  auto job = std::make_unique<Job>();
  job->payload = std::move(payload);
  job->received = Clock::now();
  job->received_unix_ns = received_unix_ns;
  return job;
}

bool FramePipeline::Submit(std::string payload, int64_t received_unix_ns) {
  ++submitted_;
  if (!running_) return false;
  const size_t bytes = payload.size();
  return ingest_.Push(MakeJob(payload, received_unix_ns), bytes);
}

PushOutcome FramePipeline::TrySubmit(std::string& payload,
                                     int64_t received_unix_ns) {
  if (!running_) {
    ++submitted_;
    return PushOutcome::kClosed;
  }
  const size_t bytes = payload.size();
  std::unique_ptr<Job> job = MakeJob(payload, received_unix_ns);
  const PushOutcome outcome = ingest_.TryPush(job, bytes);
  if (outcome == PushOutcome::kFull || outcome == PushOutcome::kClosed) {
    payload = std::move(job->payload);  // still the caller's
  }
  // A frame kept for another try is counted when it is finally offered.
  if (outcome != PushOutcome::kFull) ++submitted_;
  return outcome;
}

void FramePipeline::WorkerLoop(RunningClock& clock) {
  for (;;) {
    std::unique_ptr<Job> job;
    {
      // Popping and numbering under one lock keeps sequence numbers in
      // ingest order.
      std::lock_guard lock(sequence_mutex_);
      std::optional<std::unique_ptr<Job>> next = ingest_.Pop();
      if (!next) return;  // closed and drained
      job = std::move(*next);
      job->sequence = next_sequence_++;
      ++in_flight_;
    }
    job->config = config_();
    stages_->RunAll(*job, clock);
    Deliver(std::move(job));
    {
      std::lock_guard lock(drain_mutex_);
      --in_flight_;
    }
    drained_.notify_all();
  }
}

void FramePipeline::OrderedLoop() {
  while (std::optional<std::unique_ptr<Job>> job = ordered_queue_.Pop()) {
    std::unique_ptr<Job> done = RunOrdered(std::move(*job));
    ++completed_;
    sink_(std::move(done));
  }
}

std::unique_ptr<Job> FramePipeline::RunOrdered(std::unique_ptr<Job> job) {
  if (!executor_) return job;
  const int64_t deadline_ms = options_.stage_deadline_ms;
  const auto deadline = std::chrono::milliseconds(deadline_ms);
  if (!executor_->idle()) {
    ++ordered_abandoned_;
    std::unique_ptr<Job> shell = ShellOf(
        *job, Status::Internal(
                  "ordered stages still busy with a frame abandoned after " +
                  std::to_string(deadline_ms) +
                  " ms; this frame is not "
                  "tracked"));
    shell->outputs = std::move(job->outputs);
    return shell;
  }
  // The worker stages' outputs wait here: an abandoned job is published
  // with them; the ordered stages' outputs follow them otherwise.
  std::vector<OutboundMessage> outputs = std::move(job->outputs);
  job->outputs.clear();
  std::unique_ptr<Job> shell = ShellOf(
      *job, Status::Internal("ordered stages ran past " +
                             std::to_string(deadline_ms) +
                             " ms on this frame; abandoned, not tracked"));
  std::unique_ptr<Job> done = executor_->Run(std::move(job), deadline);
  if (!done) {
    ++ordered_abandoned_;
    shell->outputs = std::move(outputs);
    return shell;
  }
  outputs.insert(outputs.end(), std::make_move_iterator(done->outputs.begin()),
                 std::make_move_iterator(done->outputs.end()));
  done->outputs = std::move(outputs);
  return done;
}

void FramePipeline::Deliver(std::unique_ptr<Job> job) {
  // Lock order release → reorder. The reorder lock is never held while
  // waiting for the ordered queue, so Stats() and Poll() never wait for a
  // lagging ordered stage; the release lock keeps released jobs in order
  // while this worker waits for room.
  std::lock_guard release(release_mutex_);
  std::vector<std::unique_ptr<Job>> ready;
  {
    std::lock_guard lock(reorder_mutex_);
    const uint64_t seq = job->sequence;
    // A job whose slot was given up on is not released (its result would
    // carry an older sequence than one already published); it stays
    // counted among the skipped and, separately, in reorder_late.
    if (reorder_.Insert(seq, std::move(job), Clock::now()).has_value()) return;
    ready = reorder_.TakeReady(Clock::now());
  }
  for (auto& r : ready) ordered_queue_.Push(std::move(r));
}

void FramePipeline::Poll() {
  // Never waits: when a worker is releasing (it will take what is ready
  // itself) or the ordered queue is full, there is nothing to do now.
  std::unique_lock release(release_mutex_, std::try_to_lock);
  if (!release.owns_lock()) return;
  const size_t room = ordered_queue_.capacity() - ordered_queue_.size();
  if (room == 0) return;
  std::vector<std::unique_ptr<Job>> ready;
  {
    std::lock_guard lock(reorder_mutex_);
    ready = reorder_.TakeReady(Clock::now(), room);
  }
  // Only this holder of the release lock pushes, so the room is there.
  for (auto& r : ready) ordered_queue_.TryPush(r);
}

void FramePipeline::Stop(Clock::duration deadline) {
  if (!running_.exchange(false)) return;
  ingest_.Close();
  // Wait for the queue to drain and the workers to finish, up to the
  // deadline; then drop what is still queued.
  const auto until = Clock::now() + deadline;
  {
    // Lock order drain → sequence; workers never hold both.
    std::unique_lock lock(drain_mutex_);
    drained_.wait_until(lock, until, [&] {
      std::lock_guard numbering(sequence_mutex_);
      return ingest_.size() == 0 && in_flight_ == 0;
    });
  }
  left_at_stop_ += ingest_.TakeAll().size();
  pool_->join();
  std::vector<std::unique_ptr<Job>> rest;
  {
    std::lock_guard lock(reorder_mutex_);
    rest = reorder_.Flush();
  }
  for (auto& job : rest) ordered_queue_.Push(std::move(job));
  // The ordered thread finishes what is queued (abandoning at once what a
  // stuck stage would hold), then ends.
  ordered_queue_.Close();
  if (ordered_thread_.joinable()) ordered_thread_.join();
  if (executor_ && !executor_->idle()) {
    // A stage is stuck: its thread is let go, with the executor and the
    // stages it runs, rather than waited for.
    executor_->Detach();
    (void)executor_.release();
  }
  executor_.reset();
}

FramePipeline::Snapshot FramePipeline::Stats() const {
  Snapshot s;
  s.submitted = submitted_;
  s.dropped = ingest_.dropped() + left_at_stop_;
  s.completed = completed_;
  s.queue_depth = ingest_.size();
  s.queue_capacity = ingest_.capacity();
  s.in_flight = in_flight_;
  {
    std::lock_guard lock(reorder_mutex_);
    s.reorder_skipped = reorder_.skipped();
    s.reorder_late = reorder_.late();
    s.reorder_depth = reorder_.pending();
    s.reorder_capacity = reorder_.max_pending();
  }
  s.ordered_abandoned = ordered_abandoned_;
  const int64_t now_ns = NowUnixNs();
  for (const auto& clock : clocks_) {
    const int64_t since = clock->since_ns;
    if (since == 0) continue;
    const double ms = (now_ns - since) * 1e-6;
    if (ms > s.longest_running_ms) {
      s.longest_running_ms = ms;
      s.longest_running_stage = clock->stage.load();
    }
  }
  for (const StageSet* set : {stages_.get(), ordered_stages_.get()}) {
    for (const auto& st : set->stats) s.stages.push_back(st->Snapshot());
  }
  return s;
}

}  // namespace anchord::daemon
