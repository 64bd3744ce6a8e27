#pragma once

#include "daemon/common/exec_stats.h"
#include "daemon/common/rate_limiter.h"
#include "daemon/config/config_holder.h"
#include "daemon/serve/frame_pipeline.h"
#include "daemon/serve/track_service.h"
#include "daemon/wire/results.h"
#include "daemon/wire/wire.h"
#include <zmq.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace anchord::daemon {

// The running daemon (DESIGN §7–8): owns every socket and the pipeline.
//
// One I/O thread (the caller of Run) owns the ZeroMQ sockets: it reads
// frames from the SUB socket into the pipeline (never blocking: the
// ingest queue drops the oldest frame when full), forwards finished
// results — handed over in frame order by the pipeline's sink through an
// inproc PUSH/PULL pair — to the PUB socket as [topic, payload], answers
// queries on the ROUTER socket, and publishes the status topic
// periodically. A second thread runs a Boost.Asio io_context for signals
// (SIGTERM/SIGINT: stop; SIGHUP: reload) and the Prometheus endpoint.
//
// States: constructed → Run(): binding → serving → draining → stopped.
//   serving:  until SIGTERM/SIGINT or RequestStop().
//   draining: the frame socket is closed, in-flight frames finish within
//             pipeline.drain_timeout_ms and are published; then the final
//             status is published and Run() returns 0.
// Reload (SIGHUP) goes through the same load-and-validate path as start-up
// and swaps the snapshot at a frame boundary; a bad file is rejected with
// every violation logged and the old configuration kept. What a reload
// applies and what waits for a restart (reported, not applied) is
// ApplyReloadable's (daemon/config/reload.h).
class Server {
 public:
  // `config_path` is re-read on reload; empty = built-in defaults, no
  // reload.
  Server(std::shared_ptr<const DaemonConfig> config, std::string config_path);
  ~Server();

  // Binds, serves until stopped, drains. Returns the process exit status:
  // kExitOk after a clean stop, kExitFailure when the catalog, a socket or
  // the metrics endpoint could not be opened.
  int Run();
  // Thread-safe: asks Run() to drain and return (as SIGTERM does).
  void RequestStop() { stop_requested_ = true; }

 private:
  struct FrameCounters {
    std::atomic<uint64_t> received{0};
    std::atomic<uint64_t> published{0};
    std::atomic<uint64_t> invalid{0};
    std::atomic<uint64_t> no_lattice{0};
    std::atomic<uint64_t> internal{0};
  };

  bool OpenSockets();
  // Binds the Prometheus endpoint (when configured); false when it cannot.
  bool OpenMetrics();
  void StartSignalThread();
  void ServeLoop();
  void Drain();
  void ReceiveFrames();
  // Forwards up to one turn of finished results; true when more may wait.
  bool ForwardResults();
  void AnswerQueries();
  void PublishStatus();
  void Reload();
  // Called by the pipeline (serialised by its reorder lock).
  void OnJobDone(std::unique_ptr<Job> job);
  void RecordOutcome(const Job& job);
  DaemonCounters Snapshot() const;
  std::string MetricsText() const;
  v1::QueryReply Answer(const v1::QueryRequest& request) const;

  ConfigHolder config_;
  const std::string config_path_;
  const std::chrono::steady_clock::time_point started_;

  zmq::context_t context_;
  zmq::socket_t frames_;
  zmq::socket_t results_;
  zmq::socket_t queries_;
  zmq::socket_t handoff_in_;   // PULL, I/O thread
  zmq::socket_t handoff_out_;  // PUSH, pipeline sink (under its lock)
  // Sessions and the defect catalog: written by the pipeline's ordered
  // track stage, read by queries.
  std::shared_ptr<TrackService> track_;
  std::unique_ptr<FramePipeline> pipeline_;

  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> reload_requested_{false};
  std::unique_ptr<std::thread> signal_thread_;
  struct AsioRuntime;
  std::unique_ptr<AsioRuntime> asio_;

  FrameCounters counters_;
  RateLimiter warnings_;
  // Per-stage times of the registration itself (level, detect, …), from
  // each frame's FrameResult; keyed by stage name.
  mutable std::mutex lib_stats_mutex_;
  std::map<std::string, std::unique_ptr<ExecStats>> lib_stats_;
  // Latest published registration result and sites (for queries).
  std::string latest_registration_;
  std::string latest_sites_;
  std::chrono::steady_clock::time_point next_status_;
};

}  // namespace anchord::daemon
