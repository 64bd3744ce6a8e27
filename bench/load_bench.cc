// anchord_load_bench: offered-rate sweep of the real daemon
// (daemon/serve/frame_pipeline.h) against the load targets: ≥ 100 frames/s
// without drops, p99 ≤ 30 ms at 50 frames/s, flat RSS over a 10,000-frame
// soak. A program, not a timed test.
//
// Starts `anchord serve` (the binary, as a child process, on fresh loopback
// ports), then acts as the acquisition controller and a subscriber:
// - sweep: for each offered rate, publishes 512 × 512 float32 frames from a
//   pool of pre-encoded synthetic 7×7 frames for a few seconds and reports
//   the published rate, the frames dropped by the ingest queue and the
//   frame-in → result-out latency measured at the subscriber (send time of
//   the frame message → receipt of its `registration` result);
// - soak: 10,000 frames at a sustainable rate, sampling the daemon's
//   resident set size (/proc/PID/status VmRSS) every 1,000 results.
//
// Frames are encoded once; each send only prepends its frame_id (protobuf
// field 1; a later field of the same number wins, so the pool messages are
// sent with frame_id unset), so generation and encoding are not measured.
//
// Usage: anchord_load_bench [--rates 10,25,50,75,100,150,200]
//          [--seconds 4] [--rss-frames 10000] [--rss-rate auto|HZ]
//          [--workers 2] [--ingest-queue 8] [--size 512] [--pool 20]
//          [--no-corrected] [--query-flood N] [--anchord PATH]
//
// --query-flood N runs N query clients during every sweep phase, each
// sending health queries as fast as its socket takes them (the fairness
// figure: frames at 20/s must still get >= 95 % of results within 100 ms;
// `--rates 20 --seconds 10 --rss-frames 0 --query-flood 4`).

#include "anchord/synth/simulated_instrument.h"
#include "anchord/synth/synthetic_scan.h"
#include "anchord/v1/anchord.pb.h"

#include "daemon/config/config.h"
#include "daemon/instrument/sequence.h"
#include "daemon/wire/wire.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace anchord::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;

// --- Command line -----------------------------------------------------------

struct Options {
  std::vector<double> rates = {10, 25, 50, 75, 100, 150, 200};
  double seconds = 4;      // per sweep rate
  int rss_frames = 10000;  // soak length; 0 = no soak
  double rss_rate = 0;     // frames/s of the soak; 0 = auto
  int workers = 2;
  int ingest_queue = 8;
  int size_px = 512;
  int pool = 20;
  bool make_corrected = true;
  int query_flood = 0;          // query clients flooding during the sweep
  bool fresh_sessions = false;  // the soak gives every frame its own session
  std::string anchord;          // the daemon binary; default next to this one
};

void PrintUsage() {
  std::cout << R"(Usage: anchord_load_bench [options]

Offered-rate sweep and RSS soak of `anchord serve` on loopback.

  --rates R1,R2,...   offered frame rates of the sweep, frames/s
                      (default 10,25,50,75,100,150,200)
  --seconds S         duration of each sweep rate, s (default 4)
  --rss-frames N      frames of the RSS soak; 0 skips it (default 10000)
  --rss-rate HZ|auto  soak rate; auto = the highest sweep rate without drops
                      and with p99 <= 30 ms, at most 100 (default auto)
  --workers N         daemon pipeline.workers (default 2)
  --ingest-queue N    daemon pipeline.ingest_queue (default 8)
  --size PX           frame side, px (default 512)
  --pool N            distinct pre-encoded frames (default 20)
  --no-corrected      registration.make_corrected = false
  --query-flood N     N clients flood health queries during each sweep
                      phase (default 0)
  --fresh-sessions    every soak frame names a session of its own (the
                      bound on sessions and the catalog)
  --anchord PATH      the daemon binary (default: ../daemon/anchord next to
                      this program)
)";
}

std::vector<double> ParseRates(const std::string& text) {
  std::vector<double> rates;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    rates.push_back(std::stod(item));
  }
  return rates;
}

// False (after printing why) on a usage error.
bool ParseOptions(int argc, char** argv, Options& o) {
  try {
    for (int k = 1; k < argc; ++k) {
      const std::string a = argv[k];
      const auto value = [&]() -> std::string {
        if (k + 1 >= argc) throw std::invalid_argument(a + " needs a value");
        return argv[++k];
      };
      if (a == "--help" || a == "-h") {
        PrintUsage();
        std::exit(0);
      } else if (a == "--rates") {
        o.rates = ParseRates(value());
      } else if (a == "--seconds") {
        o.seconds = std::stod(value());
      } else if (a == "--rss-frames") {
        o.rss_frames = std::stoi(value());
      } else if (a == "--rss-rate") {
        const std::string v = value();
        o.rss_rate = v == "auto" ? 0 : std::stod(v);
      } else if (a == "--workers") {
        o.workers = std::stoi(value());
      } else if (a == "--ingest-queue") {
        o.ingest_queue = std::stoi(value());
      } else if (a == "--size") {
        o.size_px = std::stoi(value());
      } else if (a == "--pool") {
        o.pool = std::stoi(value());
      } else if (a == "--no-corrected") {
        o.make_corrected = false;
      } else if (a == "--fresh-sessions") {
        o.fresh_sessions = true;
      } else if (a == "--query-flood") {
        o.query_flood = std::stoi(value());
      } else if (a == "--anchord") {
        o.anchord = value();
      } else {
        throw std::invalid_argument("unknown option " + a);
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "anchord_load_bench: " << e.what() << "\n\n";
    PrintUsage();
    return false;
  }
  for (double r : o.rates) {
    if (!(r > 0)) {
      std::cerr << "anchord_load_bench: rates must be > 0\n";
      return false;
    }
  }
  if (o.seconds <= 0 || o.rss_frames < 0 || o.rss_rate < 0 || o.pool < 1 ||
      o.size_px < 64) {
    std::cerr << "anchord_load_bench: option out of range\n";
    return false;
  }
  if (o.anchord.empty()) {
    o.anchord = (fs::read_symlink("/proc/self/exe").parent_path() / ".." /
                 "daemon" / "anchord")
                    .lexically_normal()
                    .string();
  }
  return true;
}

// --- The daemon child -------------------------------------------------------

int FreeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (fd >= 0 &&
      ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

std::string Loopback(int port) {
  return "tcp://127.0.0.1:" + std::to_string(port);
}

// `anchord serve --config DIR/anchord.toml`, output in DIR/daemon.log.
// SIGTERM and reaped on Stop() or destruction.
class DaemonChild {
 public:
  DaemonChild(const std::string& binary, const daemon::DaemonConfig& config)
      : binary_(binary) {
    dir_ = fs::temp_directory_path() /
           ("anchord_load_bench_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    // The defect catalog on disk, in this run's folder (a relative path
    // would land in the working directory).
    daemon::DaemonConfig own = config;
    own.catalog.options.path = (dir_ / "catalog.sqlite").string();
    std::ofstream(dir_ / "anchord.toml") << daemon::ToToml(own);
  }
  ~DaemonChild() {
    Stop();
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  bool Start() {
    const std::string config = (dir_ / "anchord.toml").string();
    const std::string log = (dir_ / "daemon.log").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    std::string serve = "serve", flag = "--config", bin = binary_,
                path = config;
    char* argv[] = {bin.data(), serve.data(), flag.data(), path.data(),
                    nullptr};
    const int rc =
        posix_spawn(&pid_, bin.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      std::cerr << "cannot start " << binary_ << ": " << std::strerror(rc)
                << '\n';
      pid_ = -1;
    }
    return pid_ > 0;
  }

  // SIGTERM, then wait (the daemon drains); returns its exit status.
  int Stop() {
    if (pid_ <= 0) return -1;
    ::kill(pid_, SIGTERM);
    int raw = 0;
    ::waitpid(pid_, &raw, 0);
    pid_ = -1;
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  }

  // VmRSS of the daemon, MB; -1 when unavailable.
  double RssMb() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("VmRSS:", 0) == 0) {
        return std::atof(line.c_str() + 6) / 1024.0;
      }
    }
    return -1;
  }

  std::string LogTail() const {
    std::ifstream in(dir_ / "daemon.log");
    std::stringstream all;
    all << in.rdbuf();
    const std::string text = all.str();
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }

 private:
  std::string binary_;
  fs::path dir_;
  pid_t pid_ = -1;
};

// --- Frames -----------------------------------------------------------------

// Serialized Frame messages with frame_id unset: `count` consecutive
// frames of one simulated session, about 46 px per cell: one sample (the
// scan of `anchord synth`: 5 % vacancies, moderate distortion; sparse
// adsorbates) drifting
// 2 nm/min, with its acquisition times, so that the daemon's ordered track
// stage places every frame and commits its defects as in a live session.
// The pool repeats, so after `count` frames the acquisition clock jumps
// back (the tracker places those frames again from its drift fit).
std::vector<std::string> MakePool(int count, int size_px) {
  SimulatedInstrumentOptions o;
  o.scan = ModeratelyDistortedScan(1000, size_px, size_px * (15.0 / 256.0));
  o.scan.adsorbates_per_cell = 0.01;
  o.line_time_s = 0.1;
  o.drift_nm_per_s = Vec2(2.0 / 60.0, 0.5 / 60.0);
  SimulatedInstrument instrument(o);
  std::vector<std::string> pool;
  for (int k = 0; k < count; ++k) {
    pool.push_back(daemon::EncodeFrame(daemon::SimulatedInbound(
        instrument.ScanNextFrame(), "load-bench", "sweep", 0)));
  }
  return pool;
}

// Protobuf field 1 (frame_id, varint) followed by the pool message.
std::string WithFrameId(uint64_t id, const std::string& body) {
  std::string out(1, '\x08');
  do {
    const uint8_t low = id & 0x7f;
    id >>= 7;
    out.push_back(static_cast<char>(id ? (low | 0x80) : low));
  } while (id);
  out += body;
  return out;
}

// `message` with its session (protobuf field 3, a later value wins) set to
// "fresh-<id>": every frame then opens a session of its own.
std::string WithFreshSession(uint64_t id, std::string message) {
  const std::string name = "fresh-" + std::to_string(id);
  message.push_back('\x1a');
  message.push_back(static_cast<char>(name.size()));  // < 128
  return message + name;
}

// --- Measurements -----------------------------------------------------------

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(at);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (at - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

// What one phase (one offered rate) measured.
struct PhaseResult {
  double offered_hz = 0;   // requested
  double achieved_hz = 0;  // frames sent / send duration
  int sent = 0;
  int results = 0;
  int not_ok = 0;
  uint64_t dropped = 0;            // Status.frames_dropped during the phase
  double published_hz = 0;         // results / (last result − first send)
  std::vector<double> latency_ms;  // subscriber-side, per result
  std::vector<double> daemon_latency_ms;  // RegistrationResult.latency_ms
  std::vector<double> rss_mb;             // soak: every 1000 results
  bool complete = true;  // every frame accounted for (result or drop)
};

// The controller and subscriber side of the daemon's sockets.
class LoadClient {
 public:
  LoadClient()
      : frames_(context_, zmq::socket_type::xpub),
        results_(context_, zmq::socket_type::sub),
        queries_(context_, zmq::socket_type::dealer) {
    frames_.set(zmq::sockopt::linger, 0);
    frames_.bind("tcp://127.0.0.1:*");
    endpoint_ = frames_.get(zmq::sockopt::last_endpoint);
    results_.set(zmq::sockopt::linger, 0);
    results_.set(zmq::sockopt::rcvhwm, 0);
    results_.set(zmq::sockopt::subscribe, "registration");
    results_.set(zmq::sockopt::subscribe, "status");
    queries_.set(zmq::sockopt::linger, 0);
  }

  const std::string& frames_endpoint() const { return endpoint_; }

  void Connect(const daemon::DaemonConfig& c) {
    results_.connect(c.endpoints.results);
    queries_.connect(c.endpoints.queries);
  }

  // The daemon subscribed to frames and a status message arrived.
  bool WaitReady(Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    zmq::message_t m;
    for (bool subscribed = false; !subscribed;) {
      if (!PollIn(frames_, Left(deadline))) return false;
      if (frames_.recv(m, zmq::recv_flags::dontwait)) {
        subscribed = m.size() > 0 && m.data<uint8_t>()[0] == 1;
      }
    }
    for (;;) {
      if (!PollIn(results_, Left(deadline))) return false;
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(results_, std::back_inserter(parts))) continue;
      if (!parts.empty() && parts[0].to_string() == daemon::kTopicStatus) {
        return true;
      }
    }
  }

  std::optional<v1::Status> Health() {
    v1::QueryRequest q;
    q.set_request_id(++request_id_);
    q.mutable_health();
    const std::string body = q.SerializeAsString();
    queries_.send(zmq::message_t(), zmq::send_flags::sndmore);
    queries_.send(zmq::buffer(body), zmq::send_flags::none);
    const auto deadline = Clock::now() + Millis(3000);
    while (PollIn(queries_, Left(deadline))) {
      std::vector<zmq::message_t> parts;
      if (!zmq::recv_multipart(queries_, std::back_inserter(parts))) continue;
      v1::QueryReply reply;
      if (!parts.empty() && reply.ParseFromString(parts.back().to_string()) &&
          reply.request_id() == request_id_ && reply.ok()) {
        return reply.health();
      }
    }
    return std::nullopt;
  }

  // Publishes `count` frames at `rate_hz` (ids from next_id_) on a thread
  // while receiving their results here; samples `rss` every 1000 results
  // when given. Returns when every frame was published or dropped by the
  // daemon, or 30 s after the last send.
  PhaseResult RunPhase(double rate_hz,
                       int count,
                       const std::vector<std::string>& pool,
                       const DaemonChild* rss) {
    PhaseResult r;
    r.offered_hz = rate_hz;
    r.sent = count;
    const std::optional<v1::Status> before = Health();
    const uint64_t first_id = next_id_;
    next_id_ += static_cast<uint64_t>(count);
    std::vector<std::atomic<int64_t>> sent_ns(static_cast<size_t>(count));
    std::atomic<bool> done_sending{false};
    const auto start = Clock::now();
    Clock::time_point last_send = start;
    std::thread sender([&] {
      const auto period = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(1.0 / rate_hz));
      for (int k = 0; k < count; ++k) {
        std::this_thread::sleep_until(start + k * period);
        const uint64_t id = first_id + static_cast<uint64_t>(k);
        std::string msg =
            WithFrameId(id, pool[static_cast<size_t>(k) % pool.size()]);
        if (fresh_sessions_) msg = WithFreshSession(id, std::move(msg));
        sent_ns[static_cast<size_t>(k)] =
            (Clock::now() - start).count();  // before the send
        frames_.send(zmq::buffer(msg), zmq::send_flags::none);
      }
      last_send = start + Clock::duration(sent_ns[count - 1].load());
      done_sending = true;
    });
    Clock::time_point first_result{}, last_result{};
    auto quiet_since = Clock::now();
    auto next_check = Clock::now();
    for (;;) {
      if (PollIn(results_, Millis(50))) {
        ReceiveOne(r, first_id, count, sent_ns, start, &first_result,
                   &last_result, rss);
        quiet_since = Clock::now();
        continue;
      }
      if (!done_sending || Clock::now() < next_check) continue;
      next_check = Clock::now() + Millis(100);
      if (Accounted(before, r)) break;
      if (Clock::now() - quiet_since > Millis(30000)) {
        r.complete = false;
        break;
      }
    }
    sender.join();
    while (PollIn(results_, Millis(0))) {
      ReceiveOne(r, first_id, count, sent_ns, start, &first_result,
                 &last_result, rss);
    }
    // Sends k = 0 … count − 1 are due at k / rate: count − 1 periods.
    const double send_s =
        std::chrono::duration<double>(last_send - start).count();
    r.achieved_hz = count > 1 && send_s > 0 ? (count - 1) / send_s : rate_hz;
    // Steady-state output rate: results after the first over the time
    // between the first and the last.
    const double out_s =
        std::chrono::duration<double>(last_result - first_result).count();
    r.published_hz =
        r.results > 1 && out_s > 0 ? (r.results - 1) / out_s : r.results;
    const std::optional<v1::Status> after = Health();
    if (before && after) {
      r.dropped = after->frames_dropped() - before->frames_dropped();
    }
    return r;
  }

 private:
  static bool PollIn(zmq::socket_t& s, Millis timeout) {
    zmq::pollitem_t item{static_cast<void*>(s), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, timeout);
    return (item.revents & ZMQ_POLLIN) != 0;
  }
  static Millis Left(Clock::time_point deadline) {
    return std::max(
        Millis(0), std::chrono::duration_cast<Millis>(deadline - Clock::now()));
  }

  // True when the daemon received every frame of the phase and each was
  // published (and received here) or dropped.
  bool Accounted(const std::optional<v1::Status>& before,
                 const PhaseResult& r) {
    const std::optional<v1::Status> now = Health();
    if (!before || !now) return false;
    const uint64_t received =
        now->frames_received() - before->frames_received();
    const uint64_t dropped = now->frames_dropped() - before->frames_dropped();
    return received == static_cast<uint64_t>(r.sent) &&
           static_cast<uint64_t>(r.results) + dropped == received;
  }

  void ReceiveOne(PhaseResult& r,
                  uint64_t first_id,
                  int count,
                  const std::vector<std::atomic<int64_t>>& sent_ns,
                  Clock::time_point start,
                  Clock::time_point* first_result,
                  Clock::time_point* last_result,
                  const DaemonChild* rss) {
    std::vector<zmq::message_t> parts;
    const auto got = zmq::recv_multipart(results_, std::back_inserter(parts));
    const auto now = Clock::now();
    if (!got || parts.size() != 2 ||
        parts[0].to_string() != daemon::kTopicRegistration) {
      return;
    }
    v1::RegistrationResult result;
    if (!result.ParseFromString(parts[1].to_string())) return;
    if (result.frame_id() < first_id ||
        result.frame_id() >= first_id + static_cast<uint64_t>(count)) {
      return;  // a late result of an earlier phase
    }
    const int64_t sent = sent_ns[result.frame_id() - first_id];
    r.latency_ms.push_back(std::chrono::duration<double, std::milli>(
                               now - (start + Clock::duration(sent)))
                               .count());
    r.daemon_latency_ms.push_back(result.latency_ms());
    if (result.status() != v1::RESULT_STATUS_OK) ++r.not_ok;
    if (r.results++ == 0) *first_result = now;
    *last_result = now;
    if (rss != nullptr && r.results % 1000 == 0) {
      r.rss_mb.push_back(rss->RssMb());
    }
  }

  zmq::context_t context_{1};
  zmq::socket_t frames_;
  zmq::socket_t results_;
  zmq::socket_t queries_;
  std::string endpoint_;
  uint64_t next_id_ = 1;
  uint64_t request_id_ = 0;
  bool fresh_sessions_ = false;

 public:
  // Every frame sent from now on opens a session of its own.
  void UseFreshSessions() { fresh_sessions_ = true; }
};

// Clients that send health queries as fast as their sockets take them
// (replies are read and thrown away), each on its own thread and socket.
class QueryFlood {
 public:
  QueryFlood(const std::string& endpoint, int clients) {
    for (int k = 0; k < clients; ++k) {
      threads_.emplace_back([this, endpoint] { Flood(endpoint); });
    }
  }
  ~QueryFlood() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  uint64_t sent() const { return sent_; }

 private:
  void Flood(const std::string& endpoint) {
    zmq::context_t context(1);
    zmq::socket_t dealer(context, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::sndhwm, 100000);
    dealer.connect(endpoint);
    v1::QueryRequest q;
    q.mutable_health();
    const std::string body = q.SerializeAsString();
    zmq::message_t reply;
    while (!stop_) {
      for (int burst = 0; burst < 1000; ++burst) {
        if (!dealer.send(zmq::buffer(body), zmq::send_flags::dontwait)) break;
        ++sent_;
      }
      while (dealer.recv(reply, zmq::recv_flags::dontwait)) {
      }
      std::this_thread::yield();
    }
  }

  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sent_{0};
  std::vector<std::thread> threads_;
};

// --- Report -----------------------------------------------------------------

void PrintHeader() {
  std::printf("%9s %9s %6s %7s %11s %7s %7s %7s %7s %7s %7s %8s %9s\n",
              "offered/s", "sent/s", "sent", "results", "published/s",
              "dropped", "p50 ms", "p90 ms", "p99 ms", "max ms", "not ok",
              "daemon p50", "<=100ms %");
}

// Share of the frames sent whose result arrived within `ms`, percent.
double WithinPercent(const PhaseResult& r, double ms) {
  if (r.sent == 0) return 0;
  const auto n = std::count_if(r.latency_ms.begin(), r.latency_ms.end(),
                               [ms](double v) { return v <= ms; });
  return 100.0 * static_cast<double>(n) / r.sent;
}

void PrintRow(const PhaseResult& r) {
  std::printf(
      "%9.0f %9.1f %6d %7d %11.1f %7llu %7.1f %7.1f %7.1f %7.1f %7d %8.1f "
      "%9.1f%s\n",
      r.offered_hz, r.achieved_hz, r.sent, r.results, r.published_hz,
      static_cast<unsigned long long>(r.dropped), Percentile(r.latency_ms, 0.5),
      Percentile(r.latency_ms, 0.9), Percentile(r.latency_ms, 0.99),
      Percentile(r.latency_ms, 1.0), r.not_ok,
      Percentile(r.daemon_latency_ms, 0.5), WithinPercent(r, 100),
      r.complete ? "" : "  (incomplete)");
  std::fflush(stdout);
}

bool Sustained(const PhaseResult& r) {
  return r.complete && r.dropped == 0 && r.results == r.sent;
}

daemon::DaemonConfig BenchConfig(const Options& o,
                                 const std::string& frames_endpoint) {
  daemon::DaemonConfig c;
  c.endpoints.frames = frames_endpoint;
  c.endpoints.results = Loopback(FreeLoopbackPort());
  c.endpoints.queries = Loopback(FreeLoopbackPort());
  c.endpoints.http_metrics = "";
  c.pipeline.workers = o.workers;
  c.pipeline.ingest_queue = o.ingest_queue;
  c.pipeline.reorder_max = std::max(c.pipeline.reorder_max, o.workers);
  c.pipeline.status_period_ms = 1000;
  c.logging.level = "warn";
  c.registration.make_corrected = o.make_corrected;
  return c;
}

// What the sweep found, for the soak and the target summary.
struct SweepSummary {
  double best_drop_free_hz = 0;  // highest offered rate without drops
  double soak_hz = 0;  // highest drop-free rate with p99 <= 30 ms, <= 100
  std::optional<double> p99_at_50_ms;  // when 50 frames/s was offered
};

SweepSummary RunSweep(const Options& o,
                      const daemon::DaemonConfig& config,
                      LoadClient& client,
                      const std::vector<std::string>& pool) {
  std::printf(
      "Sweep: %.0f s per rate; latency = frame sent -> registration "
      "result received (at the subscriber)\n",
      o.seconds);
  PrintHeader();
  SweepSummary summary;
  for (double rate : o.rates) {
    const int count =
        std::max(1, static_cast<int>(std::lround(rate * o.seconds)));
    std::optional<QueryFlood> flood;
    if (o.query_flood > 0)
      flood.emplace(config.endpoints.queries, o.query_flood);
    const PhaseResult r = client.RunPhase(rate, count, pool, nullptr);
    const uint64_t queries = flood ? flood->sent() : 0;
    flood.reset();
    PrintRow(r);
    if (o.query_flood > 0) {
      std::printf("          (%d query clients offered %llu health queries)\n",
                  o.query_flood, static_cast<unsigned long long>(queries));
    }
    const double p99 = Percentile(r.latency_ms, 0.99);
    if (rate == 50) summary.p99_at_50_ms = p99;
    if (!Sustained(r)) continue;
    summary.best_drop_free_hz = std::max(summary.best_drop_free_hz, rate);
    if (p99 <= 30 && rate <= 100) {
      summary.soak_hz = std::max(summary.soak_hz, rate);
    }
  }
  return summary;
}

// The soak; returns last − first RSS sample, MB (NaN without samples).
double RunSoak(const Options& o,
               double rate,
               LoadClient& client,
               const std::vector<std::string>& pool,
               const DaemonChild& daemon_child) {
  std::printf("\nSoak: %d frames at %.0f frames/s (%.0f s)\n", o.rss_frames,
              rate, o.rss_frames / rate);
  const double rss_start = daemon_child.RssMb();
  const PhaseResult r =
      client.RunPhase(rate, o.rss_frames, pool, &daemon_child);
  PrintHeader();
  PrintRow(r);
  std::printf("daemon RSS, MB: before %.1f; every 1000 results:", rss_start);
  for (double mb : r.rss_mb) std::printf(" %.1f", mb);
  if (r.rss_mb.empty()) {
    std::printf(" (no samples)\n");
    return std::nan("");
  }
  std::printf("\n  first %.1f, last %.1f, max %.1f (last - first %+.1f)\n",
              r.rss_mb.front(), r.rss_mb.back(),
              *std::max_element(r.rss_mb.begin(), r.rss_mb.end()),
              r.rss_mb.back() - r.rss_mb.front());
  return r.rss_mb.back() - r.rss_mb.front();
}

// The daemon's own per-stage execution times over its recent items (the
// status message's StageStats), after the whole run.
void PrintStageTimes(const std::optional<v1::Status>& status) {
  if (!status) {
    std::printf("\nPer-stage times: no health reply\n");
    return;
  }
  std::printf(
      "\nDaemon stages (recent items), ms:\n"
      "  stage        processed  errors     p50     p90     p99     max\n");
  for (const v1::StageStats& st : status->stages()) {
    std::printf("  %-12s %9llu %7llu %7.2f %7.2f %7.2f %7.2f\n",
                st.name().c_str(),
                static_cast<unsigned long long>(st.processed()),
                static_cast<unsigned long long>(st.errors()), st.exec_ms_p50(),
                st.exec_ms_p90(), st.exec_ms_p99(), st.exec_ms_max());
  }
}

void PrintTargets(const SweepSummary& s, double rss_growth_mb) {
  std::printf("\nTargets:\n");
  std::printf(
      "  >= 100 frames/s without drops: highest drop-free rate of "
      "those offered %.0f frames/s -> %s\n",
      s.best_drop_free_hz, s.best_drop_free_hz >= 100 ? "met" : "NOT met");
  if (s.p99_at_50_ms) {
    std::printf("  p99 <= 30 ms at 50 frames/s: %.1f ms -> %s\n",
                *s.p99_at_50_ms, *s.p99_at_50_ms <= 30 ? "met" : "NOT met");
  } else {
    std::printf("  p99 <= 30 ms at 50 frames/s: 50 not in --rates\n");
  }
  if (std::isnan(rss_growth_mb)) {
    std::printf("  RSS flat: not measured\n");
  } else {
    // "Flat": under 5 MB growth between the first and the last sample.
    std::printf(
        "  RSS flat: %+.1f MB from the first to the last sample -> "
        "%s\n",
        rss_growth_mb, std::abs(rss_growth_mb) < 5 ? "met" : "NOT met");
  }
}

int Run(const Options& o) {
  std::printf(
      "anchord_load_bench: %d x %d float32 frames (%d distinct, "
      "pre-encoded, %.1f MB each), %u CPUs\n",
      o.size_px, o.size_px, o.pool, o.size_px * o.size_px * 4 / 1048576.0,
      std::thread::hardware_concurrency());
  const std::vector<std::string> pool = MakePool(o.pool, o.size_px);
  LoadClient client;
  const daemon::DaemonConfig config = BenchConfig(o, client.frames_endpoint());
  std::printf(
      "daemon %s: workers %d, ingest_queue %d (%s), reorder_max %d, "
      "make_corrected %s\n\n",
      o.anchord.c_str(), config.pipeline.workers, config.pipeline.ingest_queue,
      daemon::OverflowPolicyName(config.pipeline.ingest_overflow),
      config.pipeline.reorder_max,
      config.registration.make_corrected ? "on" : "off");
  DaemonChild daemon_child(o.anchord, config);
  if (!daemon_child.Start()) return 1;
  client.Connect(config);
  if (!client.WaitReady(Millis(15000))) {
    std::cerr << "the daemon did not become ready; its log:\n"
              << daemon_child.LogTail();
    return 1;
  }
  client.RunPhase(10, 20, pool, nullptr);  // warm-up, not reported

  const SweepSummary sweep = RunSweep(o, config, client, pool);
  double rss_growth_mb = std::nan("");
  if (o.rss_frames > 0) {
    const double rate = o.rss_rate > 0      ? o.rss_rate
                        : sweep.soak_hz > 0 ? sweep.soak_hz
                                            : 25;
    if (o.fresh_sessions) client.UseFreshSessions();
    rss_growth_mb = RunSoak(o, rate, client, pool, daemon_child);
  }
  PrintStageTimes(client.Health());
  PrintTargets(sweep, rss_growth_mb);
  const int status = daemon_child.Stop();
  std::printf("\ndaemon exit status after SIGTERM: %d\n", status);
  return status == 0 ? 0 : 1;
}

}  // namespace
}  // namespace anchord::bench

int main(int argc, char** argv) {
  anchord::bench::Options options;
  if (!anchord::bench::ParseOptions(argc, argv, options)) return 2;
  return anchord::bench::Run(options);
}
