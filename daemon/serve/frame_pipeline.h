#pragma once

#include "daemon/common/bounded_queue.h"
#include "daemon/common/exec_stats.h"
#include "daemon/common/reorder_buffer.h"
#include "daemon/config/config.h"
#include "daemon/serve/stage.h"
#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace anchord::daemon {

// Runs frames through a chain of stages on a pool of worker threads and
// delivers the finished jobs in ingest order (the odin-data / areaDetector
// split: stages implement Process(); the runner owns queues, threads,
// ordering and statistics).
//
// Ingest: Submit() puts a message on a bounded queue with an overflow
// policy (dropped frames are counted). Workers (a Boost.Asio thread pool)
// take jobs in order, assign consecutive sequence numbers, run every stage
// and hand the job to a reorder buffer, which releases jobs in sequence
// order into a bounded queue (capacity 4 × reorder_max, overflow policy
// block: a lagging ordered stage holds back the workers rather than
// losing results) to one ordered thread. It runs the ordered stages
// (cross-frame work such as tracking and the catalog commit, which may
// keep state across frames; there may be none) on each job in sequence
// order and then calls the sink, one job at a time, in order. The sink may
// wait (for room downstream) but must not wait for the caller of Submit.
//
// No call from the caller's thread waits on the workers or the ordered
// stage: TrySubmit, Poll and Stats only take locks that are never held
// while waiting.
//
// States: kIdle → Start() → kRunning → Stop() → kStopped.
//   kRunning: Submit() accepts messages; Poll() releases jobs whose
//             predecessors were lost (reorder timeout).
//   Stop(deadline): closes ingest, lets the workers drain what is queued
//             until the deadline (what is left then is dropped and
//             counted), joins them, flushes the reorder buffer and lets
//             the ordered thread finish. Blocking.
// Thread-safe: Submit, Poll and Snapshot may be called from any thread.
class FramePipeline {
 public:
  using Clock = std::chrono::steady_clock;
  using Sink = std::function<void(std::unique_ptr<Job>)>;
  using ConfigSource = std::function<std::shared_ptr<const DaemonConfig>()>;

  // Counters for the status topic.
  struct Snapshot {
    uint64_t submitted = 0;        // messages offered to Submit()
    uint64_t dropped = 0;          // ingest overflow + left at shutdown
    uint64_t completed = 0;        // jobs released to the sink
    uint64_t reorder_skipped = 0;  // sequence numbers given up on
    // Of those, jobs that finished after their slot was given up on (not
    // released: released sequence numbers only increase).
    uint64_t reorder_late = 0;
    size_t queue_depth = 0, queue_capacity = 0;
    size_t reorder_depth = 0, reorder_capacity = 0;
    size_t in_flight = 0;
    // Jobs the ordered stages gave up on (watchdog; see
    // PipelineConfig::stage_deadline_ms).
    uint64_t ordered_abandoned = 0;
    // The stage call running longest right now ("" and 0 when none), ms.
    std::string longest_running_stage;
    double longest_running_ms = 0;
    std::vector<StageSnapshot> stages;  // in chain order, ordered last
  };

  // `options` is the [pipeline] table of the configuration (valid, see
  // PipelineConfig::Validate); drain_timeout_ms and status_period_ms are
  // the caller's (Stop() takes its deadline).
  FramePipeline(const PipelineConfig& options,
                std::vector<std::unique_ptr<Stage>> stages,
                ConfigSource config,
                Sink sink);
  // With ordered stages run after the reorder buffer (see above).
  FramePipeline(const PipelineConfig& options,
                std::vector<std::unique_ptr<Stage>> stages,
                std::vector<std::unique_ptr<Stage>> ordered_stages,
                ConfigSource config,
                Sink sink);
  ~FramePipeline();  // Stop(0) if still running
  FramePipeline(const FramePipeline&) = delete;
  FramePipeline& operator=(const FramePipeline&) = delete;

  void Start();
  // Offers one wire message. False when it was refused (not running, or
  // dropped by the overflow policy); under kBlock it waits for room.
  bool Submit(std::string payload, int64_t received_unix_ns);
  // Offers one wire message without ever waiting: under kBlock a full
  // queue gives PushOutcome::kFull and leaves `payload` with the caller to
  // offer again; otherwise as Submit (kClosed when not running).
  PushOutcome TrySubmit(std::string& payload, int64_t received_unix_ns);
  // Releases jobs held back by a lost predecessor past the timeout.
  void Poll();
  void Stop(Clock::duration deadline);
  Snapshot Stats() const;
  const PipelineConfig& options() const { return options_; }

 private:
  // Stages with their statistics and a clock of the call in progress
  // (shared with the executor thread, which may outlive the pipeline when
  // a stage is stuck at shutdown).
  struct StageSet;
  struct RunningClock;

  static std::unique_ptr<Job> MakeJob(std::string& payload,
                                      int64_t received_unix_ns);
  void WorkerLoop(RunningClock& clock);
  void Deliver(std::unique_ptr<Job> job);
  // The ordered thread: ordered stages, then the sink, job by job.
  void OrderedLoop();
  // The job after the ordered stages, or its abandoned shell.
  std::unique_ptr<Job> RunOrdered(std::unique_ptr<Job> job);

  const PipelineConfig options_;
  std::shared_ptr<StageSet> stages_;
  std::shared_ptr<StageSet> ordered_stages_;
  // One per worker, then one for the ordered executor.
  std::vector<std::shared_ptr<RunningClock>> clocks_;
  std::unique_ptr<class OrderedExecutor> executor_;
  std::atomic<uint64_t> ordered_abandoned_{0};
  ConfigSource config_;
  Sink sink_;

  BoundedQueue<std::unique_ptr<Job>> ingest_;
  std::mutex sequence_mutex_;  // pops and numbering happen together
  uint64_t next_sequence_ = 0;
  std::mutex release_mutex_;  // held while pushing released jobs, in order
  mutable std::mutex reorder_mutex_;
  ReorderBuffer<std::unique_ptr<Job>> reorder_;
  BoundedQueue<std::unique_ptr<Job>> ordered_queue_;
  std::thread ordered_thread_;
  std::unique_ptr<boost::asio::thread_pool> pool_;

  std::atomic<bool> running_{false};
  std::atomic<uint64_t> submitted_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> left_at_stop_{0};
  std::atomic<size_t> in_flight_{0};
  std::mutex drain_mutex_;
  std::condition_variable drained_;
};

}  // namespace anchord::daemon
