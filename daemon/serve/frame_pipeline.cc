#include "daemon/serve/frame_pipeline.h"

#include "anchord/util/stopwatch.h"

#include <boost/asio/post.hpp>

#include <algorithm>
#include <exception>

namespace anchord::daemon {

namespace {

// A count from the configuration as a capacity (at least 1).
size_t Capacity(int count) { return static_cast<size_t>(std::max(1, count)); }

}  // namespace

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
      stages_(std::move(stages)),
      ordered_stages_(std::move(ordered_stages)),
      config_(std::move(config)),
      sink_(std::move(sink)),
      ingest_(Capacity(options.ingest_queue), options.ingest_overflow),
      reorder_(Capacity(options.reorder_max),
               std::chrono::milliseconds(options.reorder_timeout_ms)),
      ordered_queue_(4 * Capacity(options.reorder_max),
                     OverflowPolicy::kBlock) {
  for (const auto& stage : stages_) {
    stats_.push_back(std::make_unique<ExecStats>(stage->name()));
  }
  for (const auto& stage : ordered_stages_) {
    stats_.push_back(std::make_unique<ExecStats>(stage->name()));
  }
}

FramePipeline::~FramePipeline() { Stop(Clock::duration::zero()); }

void FramePipeline::Start() {
  if (running_.exchange(true)) return;
  const int workers = options_.workers < 1 ? 1 : options_.workers;
  if (!ordered_stages_.empty()) {
    ordered_thread_ = std::thread([this] { OrderedLoop(); });
  }
  pool_ = std::make_unique<boost::asio::thread_pool>(workers);
  for (int k = 0; k < workers; ++k) {
    boost::asio::post(*pool_, [this] { WorkerLoop(); });
  }
}

bool FramePipeline::Submit(std::string payload, int64_t received_unix_ns) {
  ++submitted_;
  if (!running_) return false;
  auto job = std::make_unique<Job>();
  job->payload = std::move(payload);
  job->received = Clock::now();
  job->received_unix_ns = received_unix_ns;
  return ingest_.Push(std::move(job));
}

void FramePipeline::WorkerLoop() {
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
    RunStages(*job);
    Deliver(std::move(job));
    {
      std::lock_guard lock(drain_mutex_);
      --in_flight_;
    }
    drained_.notify_all();
  }
}

// Runs every stage; a stage that fails is counted and later stages still
// run (the encode stage turns the failure into a result message). Nothing
// escapes: an exception from a stage is the last-resort catch's to count.
namespace {

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

}  // namespace

void FramePipeline::RunStages(Job& job) {
  for (size_t k = 0; k < stages_.size(); ++k) {
    RunOne(*stages_[k], job, *stats_[k]);
  }
}

void FramePipeline::Release(std::unique_ptr<Job> job) {
  if (ordered_stages_.empty()) {
    ++completed_;
    sink_(std::move(job));
    return;
  }
  ordered_queue_.Push(std::move(job));
}

void FramePipeline::OrderedLoop() {
  while (std::optional<std::unique_ptr<Job>> job = ordered_queue_.Pop()) {
    for (size_t k = 0; k < ordered_stages_.size(); ++k) {
      RunOne(*ordered_stages_[k], **job, *stats_[stages_.size() + k]);
    }
    ++completed_;
    sink_(std::move(*job));
  }
}

void FramePipeline::Deliver(std::unique_ptr<Job> job) {
  std::lock_guard lock(reorder_mutex_);
  const uint64_t seq = job->sequence;
  reorder_.Insert(seq, std::move(job), Clock::now());
  for (auto& ready : reorder_.TakeReady(Clock::now())) {
    Release(std::move(ready));
  }
}

void FramePipeline::Poll() {
  std::lock_guard lock(reorder_mutex_);
  for (auto& ready : reorder_.TakeReady(Clock::now())) {
    Release(std::move(ready));
  }
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
  {
    std::lock_guard lock(reorder_mutex_);
    for (auto& job : reorder_.Flush()) Release(std::move(job));
  }
  // The ordered thread finishes what is queued, then ends.
  ordered_queue_.Close();
  if (ordered_thread_.joinable()) ordered_thread_.join();
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
    s.reorder_depth = reorder_.pending();
    s.reorder_capacity = reorder_.max_pending();
  }
  for (const auto& st : stats_) s.stages.push_back(st->Snapshot());
  return s;
}

}  // namespace anchord::daemon
