#pragma once

// Test support for running the real `anchord serve` binary (ANCHORD_BIN)
// as a child process and talking to it over loopback ZeroMQ, as an
// acquisition controller and a subscriber would (integration tests run
// the real daemon wiring over tcp://127.0.0.1).
//
// Every daemon gets fresh ports, so test executables may run in parallel
// (ctest -j). The frame endpoint is bound by the test (an XPUB, so the
// test sees the daemon's subscription arrive); results, queries and the
// Prometheus endpoint are bound by the daemon on ports the kernel reported
// free a moment before.

#include "anchord/synth/synthetic_scan.h"
#include "anchord/v1/anchord.pb.h"

#include "daemon/common/curve_keys.h"
#include "daemon/config/config.h"
#include "support/temp_dir.h"
#include <sys/types.h>
#include <zmq.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace anchord::testing {

using Millis = std::chrono::milliseconds;

// A TCP port on 127.0.0.1 that was free when the call returned (the
// kernel's pick for port 0; the probe socket is closed again). Another
// process may take it before the caller binds it; the ephemeral range makes
// that unlikely.
int FreeLoopbackPort();

// "tcp://127.0.0.1:PORT".
std::string LoopbackEndpoint(int port);

// The path of the anchord binary from ANCHORD_BIN (set by
// tests/CMakeLists.txt); empty when unset.
std::string AnchordBinary();

// The source tree's root (for deploy/ and proto/): ANCHORD_SOURCE_DIR when
// set, else derived from this file's compile-time path.
std::filesystem::path SourceRoot();

using testing::TempDir;

// Writes `text` to `path` atomically (temp file + rename), so a daemon
// reloading on SIGHUP never reads a half-written file. False on failure.
bool WriteFileAtomically(const std::string& path, const std::string& text);
std::string ReadWholeFile(const std::string& path);

// A daemon configuration for tests: loopback endpoints on fresh ports
// (frames = `frames_endpoint`, connect mode), Prometheus on a fresh port,
// status every 100 ms, logging at "info" with one per-frame warning per
// second, the defect catalog in memory (tests never share a database by
// accident; a test that restarts a daemon on its catalog sets a path);
// everything else the defaults of config/anchord.toml.
daemon::DaemonConfig MakeTestConfig(const std::string& frames_endpoint);

// How a child process ended.
struct ExitInfo {
  bool exited = false;  // returned from main / called exit
  int code = -1;        // exit status when `exited`
  int signal = 0;       // terminating signal otherwise
};

// Spawns `argv` (argv[0] searched in PATH) with stdout and stderr
// appended to `log_path`. Returns the pid, or -1 with `error` set.
pid_t SpawnLogged(const std::vector<std::string>& argv,
                  const std::string& log_path,
                  std::string* error);
// Waits up to `timeout` for child `pid` to exit and reaps it; nullopt
// while it still runs.
std::optional<ExitInfo> WaitChild(pid_t pid, Millis timeout);

// `anchord serve --config DIR/anchord.toml` as a child process, with its
// stdout and stderr captured in DIR/daemon.log.
//
// States: written (constructor) → Start() → running → exited (WaitExit).
// The destructor kills (SIGKILL) and reaps a child that is still running.
// Not thread-safe: one test thread drives it.
class DaemonProcess {
 public:
  // Writes `config` (daemon::ToToml) into a fresh temp dir.
  explicit DaemonProcess(const daemon::DaemonConfig& config);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  // Spawns the binary. False (with `error` set) when ANCHORD_BIN is unset
  // or the spawn failed.
  bool Start(std::string* error);
  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `signo` to the child; false when it is not running.
  bool Signal(int signo);
  // Waits up to `timeout` for the child to exit; nullopt on timeout.
  std::optional<ExitInfo> WaitExit(Millis timeout);

  const std::string& config_path() const { return config_path_; }
  // Replaces the configuration file (atomically); the daemon reads it on
  // SIGHUP.
  bool RewriteConfig(const std::string& toml);
  // Everything the daemon wrote to stdout and stderr so far.
  std::string Log() const;
  // The child's resident set size from /proc/PID/status, kB; -1 when
  // unavailable.
  long RssKb() const;

 private:
  TempDir dir_;
  std::string config_path_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<ExitInfo> exit_;
};

// One message from the daemon's results PUB socket.
struct Published {
  std::string topic;
  std::string payload;
};

// CURVE material of a test client: its own key pair and the daemon's
// public key.
struct CurveClientKeys {
  daemon::CurveKeyPair client;
  std::string server_public_z85;
};

// The test's side of the daemon's sockets: an XPUB bound on the frame
// endpoint (the controller), a SUB connected to the results endpoint
// subscribed to `topics` (all when empty), a DEALER connected to the
// query endpoint. Not thread-safe.
class DaemonClient {
 public:
  // Binds the frame XPUB on a kernel-chosen loopback port. With `curve`
  // every socket is a CURVE client of the daemon.
  explicit DaemonClient(std::vector<std::string> topics = {},
                        const std::optional<CurveClientKeys>& curve = {});
  DaemonClient(const DaemonClient&) = delete;
  DaemonClient& operator=(const DaemonClient&) = delete;

  // The endpoint the daemon must connect its frame SUB socket to.
  const std::string& frames_endpoint() const { return frames_endpoint_; }
  // Connects the SUB and DEALER sockets to `config`'s endpoints (and
  // disconnects them from the previous ones).
  void Connect(const daemon::DaemonConfig& config);
  // True once the daemon's frame subscription reached the XPUB and a
  // message (the periodic status: every subscriber gets it) arrived on
  // the results socket, so nothing sent afterwards is lost to ZeroMQ's
  // slow-joiner window. Requires "status" among the topics.
  bool WaitReady(Millis timeout);

  // Publishes one frame message (non-blocking; true when queued).
  bool Send(const std::string& frame_bytes);
  // The next results message within `timeout`, or nullopt.
  std::optional<Published> Receive(Millis timeout);
  // Receives until `count` registration results arrived or `timeout`
  // passed since the call; other topics are counted in topic_counts() and
  // status messages kept in statuses().
  std::vector<v1::RegistrationResult> CollectRegistrations(size_t count,
                                                           Millis timeout);
  // Receives until `quiet` passes without a registration result (status
  // messages do not count) and returns the results.
  std::vector<v1::RegistrationResult> DrainRegistrations(Millis quiet);

  // Sends `request` (request_id set by the client) and waits for the
  // matching reply.
  std::optional<v1::QueryReply> Query(v1::QueryRequest request,
                                      Millis timeout = Millis(3000));
  // Sends `bytes` as a query payload (for garbage) and waits for a reply.
  std::optional<v1::QueryReply> QueryRaw(const std::string& bytes,
                                         Millis timeout = Millis(3000));
  // Health via Query; nullopt on timeout or ok = false.
  std::optional<v1::Status> Health();
  // CurrentConfig parsed through daemon::LoadConfigString; null on failure.
  std::shared_ptr<const daemon::DaemonConfig> CurrentConfig();

  const std::map<std::string, int>& topic_counts() const {
    return topic_counts_;
  }
  const std::vector<v1::Status>& statuses() const { return statuses_; }

 private:
  void Keep(const Published& message,
            std::vector<v1::RegistrationResult>* registrations);

  zmq::context_t context_{1};
  zmq::socket_t frames_;
  zmq::socket_t results_;
  zmq::socket_t queries_;
  std::string frames_endpoint_;
  std::string connected_results_, connected_queries_;
  std::vector<std::string> topics_;
  uint64_t next_request_id_ = 1;
  std::map<std::string, int> topic_counts_;
  std::vector<v1::Status> statuses_;
};

// A started daemon with a connected client: the common set-up of the
// integration tests. `customize` edits the test configuration before it is
// written. A daemon that exits during start-up (a probed port was taken
// meanwhile) is retried twice on fresh ports.
struct RunningDaemon {
  explicit RunningDaemon(
      const std::function<void(daemon::DaemonConfig&)>& customize = {},
      std::vector<std::string> topics = {},
      const std::optional<CurveClientKeys>& curve = {});

  // True when the daemon started and WaitReady succeeded; `error` says why
  // not (with the daemon's log).
  bool ok = false;
  std::string error;
  DaemonClient client;
  daemon::DaemonConfig config;
  std::unique_ptr<DaemonProcess> process;
};

// --- Frames -----------------------------------------------------------------

// A synthetic 7×7 frame with known truth, `size_px` square over
// `size_px` × 0.0586 nm (about 46 px per cell), mildly distorted (rotation,
// scale, shear from `seed`, no creep so that H alone is the truth).
SyntheticScan MakeTruthScan(uint64_t seed, int size_px = 256);
// A frame of white noise (no lattice), same pixel size.
Frame MakeNoiseFrame(uint64_t seed, int size_px = 256);

// The wire message of `frame` with the given id (instrument "test-stm",
// session "itest").
v1::Frame ToMessage(const Frame& frame,
                    uint64_t frame_id,
                    int64_t acquired_unix_ns = 0);
std::string Encode(const Frame& frame,
                   uint64_t frame_id,
                   int64_t acquired_unix_ns = 0);

// The published corner holes' positions predicted by the result's
// image_from_model, px; empty when H is missing.
std::vector<Vec2> CornerHolesPx(const v1::RegistrationResult& result);

// The largest distance, px, between a published corner hole's position
// (CornerHolesPx) and the nearest true corner hole; only holes at least
// `margin_px` inside the frame's rows [row_begin, row_end) count (-1: the
// frame's height), e.g. the scanned rows of a partial frame. `checked`
// receives their number. Infinity when H is missing.
double MaxHoleErrorPx(const v1::RegistrationResult& result,
                      const SyntheticScan& truth,
                      double margin_px,
                      int* checked,
                      int row_begin = 0,
                      int row_end = -1);

// The status name ("ok", "invalid_input", …) of a result.
std::string StatusName(v1::ResultStatus status);

}  // namespace anchord::testing
