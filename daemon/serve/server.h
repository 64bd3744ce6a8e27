#pragma once

#include "daemon/common/bounded_queue.h"
#include "daemon/common/curve_keys.h"
#include "daemon/common/exec_stats.h"
#include "daemon/common/rate_limiter.h"
#include "daemon/config/config_holder.h"
#include "daemon/serve/curve_auth.h"
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
#include <optional>
#include <string>
#include <thread>

namespace anchord::daemon {

// The running daemon: owns every socket and the pipeline.
//
// One I/O thread (the caller of Run) owns the ZeroMQ sockets: it reads
// frames from the SUB socket into the pipeline (never blocking: under
// "block" a frame that finds the ingest queue full is held — one at most —
// and the frame socket is not read until it fits, so ZeroMQ's receive
// limit pushes back; the other policies drop), forwards finished results
// — handed over in frame order by the pipeline's sink through a queue
// bounded in bytes, with an inproc PUSH/PULL pair to wake the loop — to
// the PUB socket as [topic, payload], answers
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

  // Reads the key files and starts the ZAP handler; false (logged) when
  // the keys are unusable.
  bool StartCurve(CurveKeyPair* server_keys);
  bool OpenSockets();
  // Binds the Prometheus endpoint (when configured); false when it cannot.
  bool OpenMetrics();
  void StartSignalThread();
  void ServeLoop();
  void Drain();
  void ReceiveFrames();
  // Offers the held frame again; true when none is held any more.
  bool OfferHeldFrame();
  // Forwards up to one turn of finished results; true when more may wait.
  bool ForwardResults();
  void AnswerQueries();
  void PublishStatus();
  // Watchdog report: a stage call running past the ordered deadline is
  // logged (rate-limited) with the number of frames abandoned.
  void ReportStuckStages();
  // Shutdown with a stage that never returns: logs it and ends the
  // process at once (exit status 1).
  [[noreturn]] void ExitStuck();
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
  // The ZAP handler when [security] CURVE is on (destroyed before the
  // context, which waits for its socket).
  std::unique_ptr<CurveAuthenticator> auth_;
  zmq::socket_t frames_;
  zmq::socket_t results_;
  zmq::socket_t queries_;
  // Finished results in frame order, one batch per frame. The sink waits
  // for room (back-pressure into the pipeline), so it never holds more
  // than kResultBytes; the I/O thread forwards them.
  BoundedQueue<std::vector<OutboundMessage>> finished_;
  zmq::socket_t handoff_in_;   // PULL, I/O thread: wake-ups
  zmq::socket_t handoff_out_;  // PUSH, pipeline sink: one byte per batch
  // A frame that found the ingest queue full under "block", offered again
  // before the frame socket is read; with its receive time.
  std::optional<std::string> held_frame_;
  int64_t held_frame_unix_ns_ = 0;
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
