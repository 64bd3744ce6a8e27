#include "daemon/demo_command.h"

#include "daemon/cli_args.h"
#include "daemon/config.h"
#include "daemon/demo_view.h"
#include "daemon/frame_publisher.h"
#include "daemon/sequence.h"
#include "daemon/server.h"
#include "daemon/stop_signals.h"
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <zmq.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

namespace anchord::daemon {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// The simulated instrument's sample and scan.
constexpr uint64_t kSeed = 7;
constexpr int kSizePx = 512;
constexpr double kFovNm = 30.0;
const Vec2 kDriftNmPerFrame(0.25, 0.1);

// How long the daemon may take to answer its first query.
constexpr std::chrono::seconds kStartTimeout{10};
// How long results may lag behind the last frame sent.
constexpr std::chrono::seconds kResultGrace{15};
constexpr std::chrono::milliseconds kPollStep{100};

Status Usage(const std::string& message) {
  return Status::InvalidInput(message);
}

Status ApplyOption(const std::string& name,
                   const std::string& value,
                   DemoArgs& a) {
  if (name == "--frames") {
    if (ParseNumber(value, a.frames) && a.frames >= 0) return Status::Ok();
    return Usage("--frames = '" + value + "': expected a count >= 0");
  }
  if (name == "--rate") {
    if (ParseNumber(value, a.rate_hz) && a.rate_hz >= 0) return Status::Ok();
    return Usage("--rate = '" + value + "': expected frames per second >= 0");
  }
  if (value.empty()) return Usage("--out needs a folder");
  a.out_dir = value;
  return Status::Ok();
}

// A private folder under the system's temporary directory for the ipc
// endpoints; removed with everything in it on destruction.
class RuntimeDir {
 public:
  RuntimeDir() = default;
  RuntimeDir(const RuntimeDir&) = delete;
  RuntimeDir& operator=(const RuntimeDir&) = delete;
  ~RuntimeDir() {
    std::error_code ignored;
    if (!path_.empty()) fs::remove_all(path_, ignored);
  }

  // kInternal when the folder cannot be made.
  Status Create() {
    std::error_code ec;
    std::string pattern =
        (fs::temp_directory_path(ec) / "anchord-demo-XXXXXX").string();
    if (ec || mkdtemp(pattern.data()) == nullptr) {
      return Status::Internal(
          "cannot create a temporary folder for the "
          "demo's sockets");
    }
    path_ = pattern;
    return Status::Ok();
  }
  // "ipc://<folder>/<name>".
  std::string Endpoint(const char* name) const {
    return "ipc://" + (path_ / name).string();
  }

 private:
  fs::path path_;
};

// The built-in default configuration with the demo's endpoints.
DaemonConfig DemoConfig(const RuntimeDir& dir) {
  DaemonConfig config;
  config.endpoints.frames = dir.Endpoint("frames");
  config.endpoints.frames_mode = FramesMode::kConnect;
  config.endpoints.results = dir.Endpoint("results");
  config.endpoints.queries = dir.Endpoint("queries");
  config.endpoints.http_metrics = "";
  config.logging.level = "warn";
  return config;
}

// Server::Run on a thread of its own.
class DaemonThread {
 public:
  explicit DaemonThread(std::shared_ptr<const DaemonConfig> config)
      : server_(std::move(config), "") {
    thread_ = std::thread([this] { Run(); });
  }
  DaemonThread(const DaemonThread&) = delete;
  DaemonThread& operator=(const DaemonThread&) = delete;
  ~DaemonThread() { Stop(); }

  bool exited() const { return exited_; }
  // Asks the daemon to drain and stop (as SIGTERM would).
  void RequestStop() { server_.RequestStop(); }
  // RequestStop, then waits for Run to return; its exit status.
  int Stop() {
    server_.RequestStop();
    if (thread_.joinable()) thread_.join();
    return exit_status_;
  }

 private:
  void Run() {
    try {
      exit_status_ = server_.Run();
    } catch (const std::exception& e) {
      spdlog::critical("[demo] daemon: {}", e.what());
      exit_status_ = kExitFailure;
    }
    exited_ = true;
  }

  Server server_;
  std::thread thread_;
  std::atomic<bool> exited_{false};
  int exit_status_ = kExitFailure;
};

// Sends a health query until the daemon answers (it is then serving);
// false when it exits, `stop` is set or kStartTimeout passes first.
bool WaitUntilServing(zmq::context_t& context,
                      const std::string& queries,
                      const DaemonThread& daemon,
                      const std::atomic<bool>& stop) {
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(queries);
  v1::QueryRequest request;
  request.set_request_id(1);
  request.mutable_health();
  const std::string body = request.SerializeAsString();
  dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
  dealer.send(zmq::buffer(body), zmq::send_flags::none);
  const Clock::time_point deadline = Clock::now() + kStartTimeout;
  while (!stop && !daemon.exited() && Clock::now() < deadline) {
    zmq::pollitem_t item{static_cast<void*>(dealer), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, kPollStep);
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    if (item.revents & ZMQ_POLLIN) return true;
  }
  return false;
}

SyntheticSequence DemoSequence() {
  SyntheticSequence sequence;
  sequence.base = DefaultSequenceScan(kSeed, kSizePx, kFovNm);
  sequence.drift_nm_per_frame = kDriftNmPerFrame;
  sequence.instrument = "demo-instrument";
  sequence.session = "anchord-demo";
  return sequence;
}

void PrintIntro(const DemoArgs& args,
                const DaemonConfig& config,
                std::ostream& out) {
  char instrument[200];
  std::snprintf(instrument, sizeof instrument,
                "  instrument: synthetic Si(111)-7x7 (seed %llu), %d px over "
                "%.0f nm, sample drift %.2f,%.2f nm/frame, ",
                static_cast<unsigned long long>(kSeed), kSizePx, kFovNm,
                kDriftNmPerFrame.x(), kDriftNmPerFrame.y());
  out << "anchord demo: the daemon (default configuration), a simulated "
         "instrument and this console view\n"
      << instrument << RateText(args.rate_hz) << ", "
      << (args.frames > 0 ? std::to_string(args.frames) + " frames"
                          : std::string("until Ctrl-C"))
      << "\n  endpoints:  frames " << config.endpoints.frames << "\n"
      << "              results " << config.endpoints.results << "\n"
      << "              queries " << config.endpoints.queries << "\n"
      << "  output:     " << args.out_dir
      << "/{corrected,overlay}-<frame>.{tiff,png}\n\n"
      << std::flush;
}

// Shows results until `frames` rows are printed (frames > 0), the run is
// interrupted, the daemon exits, or results lag kResultGrace behind the
// end of publishing.
void ShowResults(DemoView& view,
                 int64_t frames,
                 const DaemonThread& daemon,
                 const StopSignals& signals,
                 const std::atomic<bool>& publishing_done) {
  std::optional<Clock::time_point> deadline;
  while (!signals.stop_requested() && !daemon.exited()) {
    if (frames > 0 && view.rows() >= frames) return;
    if (publishing_done && frames == 0) return;  // the instrument failed
    if (publishing_done && !deadline) deadline = Clock::now() + kResultGrace;
    if (deadline && Clock::now() > *deadline) {
      spdlog::error(
          "[demo] results of {} frames missing {} s after the last "
          "frame was sent",
          frames - view.rows(), kResultGrace.count());
      return;
    }
    view.Poll(kPollStep);
  }
}

// Stops the daemon and shows what it publishes while it drains.
int StopDaemon(DemoView& view, DaemonThread& daemon) {
  daemon.RequestStop();
  while (!daemon.exited()) view.Poll(kPollStep);
  const int status = daemon.Stop();
  view.Poll(kPollStep);
  return status;
}

// Creates the private socket folder and the output folder.
Status PrepareFolders(const DemoArgs& args, RuntimeDir& runtime) {
  const Status created = runtime.Create();
  if (!created.ok()) return created;
  std::error_code ec;
  fs::create_directories(args.out_dir, ec);
  if (ec) {
    return Status::Internal("cannot create " + args.out_dir + ": " +
                            ec.message());
  }
  return Status::Ok();
}

// The simulated instrument: publishes the demo sequence (args.frames
// frames, or until `stop`) on a thread; sets `done` when it has finished.
std::thread StartInstrument(FramePublisher& publisher,
                            const SyntheticSequence& sequence,
                            const DemoArgs& args,
                            const std::atomic<bool>& stop,
                            std::atomic<bool>& done) {
  return std::thread([&publisher, &sequence, &args, &stop, &done] {
    const PublishOutcome outcome = PublishPaced(
        publisher, args.rate_hz,
        [&](int64_t k, InboundFrame* out) {
          if (args.frames > 0 && k >= args.frames) return false;
          *out = sequence.Inbound(k);
          return true;
        },
        stop, nullptr);
    if (!outcome.status.ok()) {
      spdlog::error("[demo] instrument: {}", outcome.status.message());
    }
    done = true;
  });
}

int RunDemo(const DemoArgs& args) {
  StopSignals signals;
  RuntimeDir runtime;
  Status s = PrepareFolders(args, runtime);
  if (!s.ok()) {
    spdlog::error("[demo] {}", s.message());
    return kExitFailure;
  }
  const auto config = std::make_shared<const DaemonConfig>(DemoConfig(runtime));
  PrintIntro(args, *config, std::cout);
  DaemonThread daemon(config);
  zmq::context_t context(1);
  DemoView view(context, config->endpoints.results, args.out_dir, std::cout);
  if (!WaitUntilServing(context, config->endpoints.queries, daemon,
                        signals.flag())) {
    daemon.Stop();
    if (signals.signal_number() != 0) return kExitOk;
    spdlog::error("[demo] the daemon did not start");
    return kExitFailure;
  }
  PublisherOptions options;
  options.endpoint = config->endpoints.frames;
  FramePublisher publisher;
  s = publisher.Open(options, signals.flag());
  if (!s.ok()) {
    spdlog::error("[demo] {}", s.message());
    return kExitFailure;
  }
  const SyntheticSequence sequence = DemoSequence();
  std::atomic<bool> publishing_done{false};
  std::thread instrument = StartInstrument(publisher, sequence, args,
                                           signals.flag(), publishing_done);
  view.PrintHeader();
  ShowResults(view, args.frames, daemon, signals, publishing_done);
  const bool interrupted = signals.signal_number() != 0;
  signals.RequestStop();
  instrument.join();
  const int daemon_status = StopDaemon(view, daemon);
  view.PrintSummary();
  const bool complete =
      interrupted || args.frames == 0 || view.rows() >= args.frames;
  return daemon_status == kExitOk && complete && view.files_ok() ? kExitOk
                                                                 : kExitFailure;
}

}  // namespace

Status ParseDemoArgs(const std::vector<std::string>& args, DemoArgs& parsed) {
  SplitArgs split;
  Status s = SplitCommandLine(args, {"--help", "-h"},
                              {"--frames", "--out", "--rate"}, split);
  if (!s.ok()) return s;
  if (!split.flags.empty()) {
    parsed.help = true;
    return Status::Ok();
  }
  if (!split.positional.empty()) {
    return Usage("unexpected argument '" + split.positional.front() + "'");
  }
  for (const auto& [name, value] : split.values) {
    s = ApplyOption(name, value, parsed);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

void PrintDemoHelp(std::ostream& out) {
  out << R"(Usage: anchord demo [--frames N] [--out DIR] [--rate HZ]

The product in one command: starts the daemon (as `anchord serve` with the
built-in default configuration, on private ipc sockets so that it cannot
clash with a daemon already running), a simulated instrument that publishes
a drifting synthetic Si(111)-7x7 sequence (as `anchord replay --synthetic`),
and a console view subscribed to the daemon's results.

Per frame the view prints: frame id, sequence, status, latency (the
daemon's, frame received -> result published; and end to end, frame sent ->
result received), drift (n/a until the daemon's drift estimate is valid;
the tracker is not built yet), adatom sites, vacancies and the lattice
residual; and writes to DIR the corrected frame (corrected-ID.tiff, 32-bit
float on the absolute model grid, NaN outside the scan) and an overlay of
the daemon's sites on it (overlay-ID.png: occupied adatoms green, vacancies
red, corner holes cyan).

Options:
  --frames N   stop after the results of N frames (default 0: run until
               Ctrl-C)
  --out DIR    output folder (default out/demo; created if missing)
  --rate HZ    frames per second (default 2; 0 = as fast as possible)
  -h, --help   show this help

Ctrl-C (SIGINT) or SIGTERM stops the instrument, drains the daemon and
prints a summary.

Exit status: 0 after a clean stop with every frame answered and every file
written; 1 when the daemon could not start, results are missing or a file
could not be written; 2 on a usage error.
)";
}

int RunDemoCommand(const std::vector<std::string>& args) {
  DemoArgs parsed;
  const Status status = ParseDemoArgs(args, parsed);
  if (!status.ok()) {
    std::cerr << "anchord demo: " << status.message()
              << "\nTry 'anchord demo --help'.\n";
    return kExitUsage;
  }
  if (parsed.help) {
    PrintDemoHelp(std::cout);
    return kExitOk;
  }
  return RunDemo(parsed);
}

}  // namespace anchord::daemon
