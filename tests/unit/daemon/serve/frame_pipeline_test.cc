#include "daemon/serve/frame_pipeline.h"

#include "support/fake_stages.h"
#include <doctest/doctest.h>

#include <algorithm>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <thread>

namespace anchord::daemon {
namespace {

using std::chrono::milliseconds;
using testing::RecordingSink;

struct Harness {
  explicit Harness(PipelineConfig o,
                   std::vector<std::unique_ptr<Stage>> stages) {
    pipeline = std::make_unique<FramePipeline>(
        o, std::move(stages), [] { return nullptr; },
        [this](std::unique_ptr<Job> job) { sink(std::move(job)); });
    pipeline->Start();
  }
  RecordingSink sink;
  std::unique_ptr<FramePipeline> pipeline;
};

std::vector<std::unique_ptr<Stage>> Stages(std::unique_ptr<Stage> a) {
  std::vector<std::unique_ptr<Stage>> v;
  v.push_back(std::move(a));
  return v;
}

bool Consecutive(const std::vector<uint64_t>& s) {
  for (size_t k = 1; k < s.size(); ++k) {
    if (s[k] != s[k - 1] + 1) return false;
  }
  return true;
}

TEST_CASE("every frame comes out once, in order, from parallel workers" *
          doctest::timeout(20)) {
  PipelineConfig o;
  o.workers = 4;
  o.ingest_queue = 64;
  o.ingest_overflow = OverflowPolicy::kBlock;
  Harness h(o, Stages(std::make_unique<testing::SlowStage>(milliseconds(1),
                                                           milliseconds(8))));
  for (int k = 0; k < 60; ++k) h.pipeline->Submit(std::to_string(k), 0);
  h.pipeline->Stop(std::chrono::seconds(10));
  REQUIRE(h.sink.size() == 60);
  std::vector<uint64_t> expected(60);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(h.sink.Sequences() == expected);
  for (int k = 0; k < 60; ++k) CHECK(h.sink.Payloads()[k] == std::to_string(k));
  const auto stats = h.pipeline->Stats();
  CHECK(stats.completed == 60);
  CHECK(stats.dropped == 0);
  CHECK(stats.reorder_skipped == 0);
  CHECK(stats.stages[0].processed == 60);
}

// An ordered stage that keeps cross-frame state: the sequences it saw and
// the threads it ran on.
class HistoryStage final : public Stage {
 public:
  const char* name() const override { return "history"; }
  bool Process(Job& job) override {
    seen.push_back(job.sequence);  // no lock: ordered stages run serially
    threads.insert(std::this_thread::get_id());
    job.outputs.push_back({"history", std::to_string(seen.size())});
    return true;
  }
  std::vector<uint64_t> seen;
  std::set<std::thread::id> threads;
};

// Runs 60 jobs through jittery workers into the ordered stages (history,
// then 2 ms of work); returns the pipeline's statistics after Stop.
struct OrderedRun {
  std::vector<uint64_t> seen, published;
  size_t ordered_threads = 0;
  FramePipeline::Snapshot stats;
};
OrderedRun RunOrdered(int reorder_max, int reorder_timeout_ms) {
  PipelineConfig o;
  o.workers = 4;
  o.ingest_queue = 64;
  o.ingest_overflow = OverflowPolicy::kBlock;
  o.reorder_max = reorder_max;
  o.reorder_timeout_ms = reorder_timeout_ms;
  auto history = std::make_unique<HistoryStage>();
  HistoryStage* h = history.get();
  std::vector<std::unique_ptr<Stage>> ordered;
  ordered.push_back(std::move(history));
  ordered.push_back(std::make_unique<testing::SlowStage>(milliseconds(2)));
  RecordingSink sink;
  FramePipeline p(
      o,
      Stages(std::make_unique<testing::SlowStage>(milliseconds(1),
                                                  milliseconds(8))),
      std::move(ordered), [] { return nullptr; },
      [&](std::unique_ptr<Job> job) { sink(std::move(job)); });
  p.Start();
  for (int k = 0; k < 60; ++k) p.Submit(std::to_string(k), 0);
  p.Stop(std::chrono::seconds(10));
  OrderedRun run;
  run.seen = h->seen;
  run.ordered_threads = h->threads.size();
  run.published = sink.Sequences();
  run.stats = p.Stats();
  return run;
}

TEST_CASE("ordered stages see every job once, in sequence, one at a time" *
          doctest::timeout(20)) {
  // A reorder buffer that can hold every job and never times out: no
  // sequence number may be given up on, however the workers are scheduled.
  const OrderedRun run = RunOrdered(64, 60000);
  std::vector<uint64_t> expected(60);
  std::iota(expected.begin(), expected.end(), 0);
  CHECK(run.seen == expected);
  CHECK(run.ordered_threads == 1);
  CHECK(run.published == expected);
  CHECK(run.stats.completed == 60);
  CHECK(run.stats.reorder_skipped == 0);
  REQUIRE(run.stats.stages.size() == 3);
  CHECK(run.stats.stages[1].name == "history");
  CHECK(run.stats.stages[1].processed == 60);
  CHECK(run.stats.stages[2].processed == 60);
}

TEST_CASE("under back-pressure a job given up on is counted, never lost" *
          doctest::timeout(20)) {
  // reorder_max 4 with 4 workers: the ordered queue (16) fills and blocks
  // the workers. A worker descheduled for long enough lets more than 4
  // later jobs wait, and its job is then given up on (skipped) and refused
  // when it turns up (late) — by design. Whatever the scheduling, every
  // job is either run by the ordered stages, once and in order, or
  // counted.
  const OrderedRun run = RunOrdered(4, 2000);
  CHECK(std::is_sorted(run.seen.begin(), run.seen.end()));
  CHECK(std::adjacent_find(run.seen.begin(), run.seen.end()) == run.seen.end());
  CHECK(run.ordered_threads == 1);
  CHECK(run.published == run.seen);
  CHECK(run.stats.completed == run.seen.size());
  CHECK(run.seen.size() + run.stats.reorder_late == 60);
  CHECK(run.stats.reorder_skipped == run.stats.reorder_late);
  REQUIRE(run.stats.stages.size() == 3);
  CHECK(run.stats.stages[1].processed == run.seen.size());
}

// Sleeps `slow` for the payload "slow", nothing for the others.
class OneSlowStage final : public Stage {
 public:
  explicit OneSlowStage(std::chrono::milliseconds slow) : slow_(slow) {}
  const char* name() const override { return "one_slow"; }
  bool Process(Job& job) override {
    if (job.payload == "slow") std::this_thread::sleep_for(slow_);
    return true;
  }

 private:
  std::chrono::milliseconds slow_;
};

TEST_CASE("a job slower than the reorder timeout is never released late" *
          doctest::timeout(20)) {
  PipelineConfig o;
  o.workers = 2;
  o.ingest_queue = 16;
  o.ingest_overflow = OverflowPolicy::kBlock;
  o.reorder_timeout_ms = 50;
  Harness h(o, Stages(std::make_unique<OneSlowStage>(milliseconds(400))));
  h.pipeline->Submit("slow", 0);
  for (int k = 1; k <= 3; ++k) h.pipeline->Submit(std::to_string(k), 0);
  // The server polls the buffer between turns; so does this test, until
  // the slow job has finished too.
  const auto until = std::chrono::steady_clock::now() + milliseconds(800);
  while (std::chrono::steady_clock::now() < until) {
    h.pipeline->Poll();
    std::this_thread::sleep_for(milliseconds(5));
  }
  h.pipeline->Stop(std::chrono::seconds(5));
  CHECK(h.sink.Sequences() == std::vector<uint64_t>{1, 2, 3});
  const auto stats = h.pipeline->Stats();
  CHECK(stats.reorder_skipped == 1);
  CHECK(stats.reorder_late == 1);
  CHECK(stats.completed == 3);
}

// An ordered stage that hangs for `stuck` on the payload "stuck" and
// otherwise adds one output, as the track stage adds the drift.
class StuckStage final : public Stage {
 public:
  explicit StuckStage(std::chrono::milliseconds stuck) : stuck_(stuck) {}
  const char* name() const override { return "stuck_track"; }
  bool Process(Job& job) override {
    if (job.payload == "stuck") std::this_thread::sleep_for(stuck_);
    job.outputs.push_back({"drift", job.payload});
    return true;
  }

 private:
  std::chrono::milliseconds stuck_;
};

// A worker stage that adds the "registration" output every job has.
class EncodeLikeStage final : public Stage {
 public:
  const char* name() const override { return "encode_like"; }
  bool Process(Job& job) override {
    job.outputs.push_back({"registration", job.payload});
    return true;
  }
};

struct StuckHarness {
  explicit StuckHarness(std::chrono::milliseconds stuck) {
    PipelineConfig o;
    o.workers = 2;
    o.ingest_queue = 16;
    o.ingest_overflow = OverflowPolicy::kBlock;
    o.stage_deadline_ms = 100;
    std::vector<std::unique_ptr<Stage>> ordered;
    ordered.push_back(std::make_unique<StuckStage>(stuck));
    pipeline = std::make_unique<FramePipeline>(
        o, Stages(std::make_unique<EncodeLikeStage>()), std::move(ordered),
        [] { return nullptr; },
        [this](std::unique_ptr<Job> job) { sink(std::move(job)); });
    pipeline->Start();
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (sink.size() < n && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    return sink.size() >= n;
  }
  RecordingSink sink;
  std::unique_ptr<FramePipeline> pipeline;
};

std::vector<std::string> Topics(const Job& job) {
  std::vector<std::string> topics;
  for (const OutboundMessage& m : job.outputs) topics.push_back(m.topic);
  return topics;
}

TEST_CASE(
    "an ordered stage past its deadline abandons the job, never holds "
    "the pipeline" *
    doctest::timeout(20)) {
  StuckHarness h(milliseconds(1500));
  h.pipeline->Submit("a", 0);
  h.pipeline->Submit("stuck", 0);
  h.pipeline->Submit("b", 0);
  REQUIRE(h.WaitFor(3, milliseconds(1000)));  // long before the 1.5 s
  CHECK(h.sink.Sequences() == std::vector<uint64_t>{0, 1, 2});
  CHECK(h.sink.at(0).status.ok());
  CHECK(Topics(h.sink.at(0)) ==
        std::vector<std::string>{"registration", "drift"});
  // The stuck job: its registration is published, its tracking is not.
  CHECK(h.sink.at(1).status.code() == StatusCode::kInternal);
  CHECK(h.sink.at(1).status.message().find("abandoned") != std::string::npos);
  CHECK(Topics(h.sink.at(1)) == std::vector<std::string>{"registration"});
  // While the stage is stuck, later jobs pass without it.
  CHECK(h.sink.at(2).status.message().find("still busy") != std::string::npos);
  CHECK(Topics(h.sink.at(2)) == std::vector<std::string>{"registration"});
  auto stats = h.pipeline->Stats();
  CHECK(stats.ordered_abandoned == 2);
  CHECK(stats.longest_running_stage == "stuck_track");
  CHECK(stats.longest_running_ms > 100);
  // Once the stage returns, tracking resumes.
  std::this_thread::sleep_for(milliseconds(1700));
  h.pipeline->Submit("c", 0);
  REQUIRE(h.WaitFor(4, milliseconds(2000)));
  CHECK(h.sink.at(3).status.ok());
  CHECK(Topics(h.sink.at(3)) ==
        std::vector<std::string>{"registration", "drift"});
  stats = h.pipeline->Stats();
  CHECK(stats.longest_running_ms == 0);
  CHECK(stats.completed == 4);
}

TEST_CASE("stop does not wait for a stuck ordered stage" *
          doctest::timeout(20)) {
  StuckHarness h(milliseconds(5000));
  h.pipeline->Submit("stuck", 0);
  h.pipeline->Submit("after", 0);
  REQUIRE(h.WaitFor(2, milliseconds(2000)));
  const auto t0 = std::chrono::steady_clock::now();
  h.pipeline->Stop(milliseconds(200));
  const double stop_ms = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - t0)
                             .count();
  CHECK(stop_ms < 1000);
  h.pipeline.reset();  // the stuck stage outlives the pipeline safely
}

TEST_CASE("a full ingest queue drops the oldest frames and counts them" *
          doctest::timeout(20)) {
  PipelineConfig o;
  o.workers = 1;
  o.ingest_queue = 2;
  o.ingest_overflow = OverflowPolicy::kDropOldest;
  Harness h(o, Stages(std::make_unique<testing::SlowStage>(milliseconds(20))));
  for (int k = 0; k < 30; ++k) h.pipeline->Submit(std::to_string(k), 0);
  h.pipeline->Stop(std::chrono::seconds(10));
  const auto stats = h.pipeline->Stats();
  CHECK(stats.dropped > 0);
  CHECK(stats.submitted == 30);
  CHECK(stats.completed + stats.dropped == 30);
  CHECK(h.sink.size() == stats.completed);
  CHECK(Consecutive(h.sink.Sequences()));
  // The newest frame always survives drop-oldest.
  CHECK(h.sink.Payloads().back() == "29");
}

TEST_CASE("stop drains queued frames within the deadline" *
          doctest::timeout(20)) {
  PipelineConfig o;
  o.workers = 2;
  o.ingest_queue = 16;
  Harness h(o, Stages(std::make_unique<testing::SlowStage>(milliseconds(15))));
  for (int k = 0; k < 8; ++k) h.pipeline->Submit(std::to_string(k), 0);
  h.pipeline->Stop(std::chrono::seconds(5));
  CHECK(h.sink.size() == 8);
  CHECK(h.pipeline->Stats().dropped == 0);
  CHECK_FALSE(h.pipeline->Submit("late", 0));  // stopped: refused
}

TEST_CASE("a stop past its deadline drops what is left, counted" *
          doctest::timeout(20)) {
  PipelineConfig o;
  o.workers = 1;
  o.ingest_queue = 32;
  Harness h(o, Stages(std::make_unique<testing::SlowStage>(milliseconds(50))));
  for (int k = 0; k < 20; ++k) h.pipeline->Submit(std::to_string(k), 0);
  h.pipeline->Stop(milliseconds(60));
  const auto stats = h.pipeline->Stats();
  CHECK(stats.dropped > 0);
  CHECK(stats.completed + stats.dropped == 20);
  CHECK(Consecutive(h.sink.Sequences()));
}

TEST_CASE("failing and throwing stages are counted, never fatal" *
          doctest::timeout(20)) {
  PipelineConfig o;
  o.workers = 2;
  o.ingest_queue = 16;
  o.ingest_overflow = OverflowPolicy::kBlock;
  std::vector<std::unique_ptr<Stage>> stages;
  stages.push_back(std::make_unique<testing::PickyStage>());
  auto counting = std::make_unique<testing::CountingStage>();
  testing::CountingStage* counter = counting.get();
  stages.push_back(std::move(counting));
  Harness h(o, std::move(stages));
  for (const char* p : {"ok", "bad", "poison", "ok"}) h.pipeline->Submit(p, 0);
  h.pipeline->Stop(std::chrono::seconds(5));
  REQUIRE(h.sink.size() == 4);
  CHECK(h.sink.at(0).status.ok());
  CHECK(h.sink.at(1).status.code() == StatusCode::kInvalidInput);
  CHECK(h.sink.at(2).status.code() == StatusCode::kInternal);
  CHECK(h.sink.at(2).status.message().find("poisoned") != std::string::npos);
  CHECK(h.sink.at(3).status.ok());
  CHECK(counter->seen == 4);  // later stages ran for every job
  const auto stats = h.pipeline->Stats();
  CHECK(stats.stages[0].errors == 2);
  CHECK(stats.stages[1].errors == 0);
}

TEST_CASE("each job reads the configuration once, at its start" *
          doctest::timeout(20)) {
  std::atomic<int> version{0};
  PipelineConfig o;
  o.workers = 1;
  o.ingest_queue = 16;
  o.ingest_overflow = OverflowPolicy::kBlock;
  RecordingSink sink;
  auto source = [&]() -> std::shared_ptr<const DaemonConfig> {
    ++version;
    return nullptr;
  };
  FramePipeline p(o, Stages(std::make_unique<testing::CountingStage>()), source,
                  [&](std::unique_ptr<Job> job) { sink(std::move(job)); });
  p.Start();
  for (int k = 0; k < 5; ++k) p.Submit("x", 0);
  p.Stop(std::chrono::seconds(5));
  CHECK(version == 5);
}

}  // namespace
}  // namespace anchord::daemon
