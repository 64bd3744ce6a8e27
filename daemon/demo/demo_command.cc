#include "daemon/demo/demo_command.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/common/stop_signals.h"
#include "daemon/config/config.h"
#include "daemon/demo/demo_view.h"
#include "daemon/instrument/frame_publisher.h"
#include "daemon/instrument/instrument_loop.h"
#include "daemon/instrument/sequence.h"
#include "daemon/serve/local_daemon.h"
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <zmq.hpp>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <thread>

namespace anchord::daemon {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The simulated instrument's sample and scan.
constexpr uint64_t kSeed = 7;
constexpr int kSizePx = 512;
constexpr double kFovNm = 30.0;
const Vec2 kDriftNmPerMin(1.8, 0.9);

// How long results may lag behind the last frame sent.
constexpr std::chrono::seconds kResultGrace{15};
constexpr std::chrono::milliseconds kPollStep{100};

Status ApplyOption(const std::string& name,
                   const std::string& value,
                   DemoArgs& a) {
  if (name == "--no-compensation") {
    a.compensate = false;
    return Status::Ok();
  }
  if (name == "--frames") {
    if (ParseNumber(value, a.frames) && a.frames >= 0) return Status::Ok();
    return UsageError("--frames = '" + value + "': expected a count >= 0");
  }
  if (name == "--rate") {
    if (ParseNumber(value, a.rate_hz) && a.rate_hz >= 0) return Status::Ok();
    return UsageError("--rate = '" + value +
                      "': expected frames per second >= 0");
  }
  if (value.empty()) return UsageError("--out needs a folder");
  a.out_dir = value;
  return Status::Ok();
}

// The demo's instrument: 512 px frames of 30 nm, drift 2 nm/min with a
// slow random walk; frames 52 s apart in simulated time.
SimulatedInstrumentOptions DemoInstrument() {
  SimulatedInstrumentOptions o;
  o.scan = ModeratelyDistortedScan(kSeed, kSizePx, kFovNm);
  o.scan.adsorbates_per_cell = 0.01;
  o.line_time_s = 0.1;
  o.frame_gap_s = 1.0;
  o.drift_nm_per_s = kDriftNmPerMin / 60.0;
  o.seed = kSeed;
  return o;
}

void PrintIntro(const DemoArgs& args,
                const DaemonConfig& config,
                std::ostream& out) {
  char instrument[240];
  std::snprintf(instrument, sizeof instrument,
                "  instrument: simulated Si(111)-7x7 (seed %llu), %d px over "
                "%.0f nm, drift %.1f,%.1f nm/min + random walk, compensation "
                "%s, ",
                static_cast<unsigned long long>(kSeed), kSizePx, kFovNm,
                kDriftNmPerMin.x(), kDriftNmPerMin.y(),
                args.compensate ? "from the daemon's drift" : "off");
  out << "anchord demo: the daemon (default configuration), a simulated "
         "instrument and this console view\n"
      << instrument << RateText(args.rate_hz) << ", "
      << (args.frames > 0 ? std::to_string(args.frames) + " frames"
                          : std::string("until Ctrl-C"))
      << "\n  endpoints:  frames " << config.endpoints.frames << "\n"
      << "              results " << config.endpoints.results << "\n"
      << "              queries " << config.endpoints.queries << "\n"
      << "  catalog:    " << config.catalog.options.path << "\n"
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

// The simulated instrument closing the drift loop with the daemon
// (instrument_loop.h) on a thread: args.frames frames, or until `stop`;
// sets `done` when it has finished.
std::thread StartInstrument(FramePublisher& publisher,
                            const DaemonConfig& config,
                            const DemoArgs& args,
                            const std::atomic<bool>& stop,
                            std::atomic<bool>& done) {
  return std::thread([&publisher, &config, &args, &stop, &done] {
    zmq::context_t context(1);
    zmq::socket_t drift(context, zmq::socket_type::sub);
    drift.set(zmq::sockopt::linger, 0);
    drift.set(zmq::sockopt::subscribe, std::string(kTopicDrift));
    drift.connect(config.endpoints.results);
    SimulatedInstrument instrument(DemoInstrument());
    InstrumentLoopOptions o;
    o.frames = args.frames > 0 ? static_cast<int>(args.frames)
                               : std::numeric_limits<int>::max();
    o.compensate = args.compensate;
    o.instrument = "demo-instrument";
    // A session of its own per run: the simulated sample restarts where it
    // began, which a catalogued session from an earlier run would read as
    // the sample jumping back.
    o.session = "anchord-demo-" + std::to_string(std::time(nullptr));
    o.rate_hz = args.rate_hz;
    const InstrumentLoopResult r =
        RunInstrumentLoop(instrument, publisher, drift, o, stop);
    if (!r.status.ok()) {
      spdlog::error("[demo] instrument: {}", r.status.message());
    } else if (!r.frames.empty()) {
      const ResidualDrift residual =
          MeasureResidualDrift(r.frames, std::min<int>(2, r.frames.size() - 1));
      spdlog::info("[demo] residual drift from frame 2 on: {:.3f} nm/min",
                   residual.net_nm_per_min);
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
  const auto config = std::make_shared<const DaemonConfig>(LocalDaemonConfig(
      runtime, (fs::path(args.out_dir) / "catalog.sqlite").string()));
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
  std::atomic<bool> publishing_done{false};
  std::thread instrument = StartInstrument(publisher, *config, args,
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
  return ApplyOptions(
      args, {"--no-compensation"}, {"--frames", "--out", "--rate"},
      [&parsed](const std::string& name, const std::string& value) {
        return ApplyOption(name, value, parsed);
      },
      parsed.help);
}

void PrintDemoHelp(std::ostream& out) {
  out << R"(Usage: anchord demo [--frames N] [--out DIR] [--rate HZ] [--no-compensation]

The product in one command: starts the daemon (as `anchord serve` with the
built-in default configuration, on private ipc sockets so that it cannot
clash with a daemon already running, its defect catalog in
DIR/catalog.sqlite), a simulated instrument (a virtual Si(111)-7x7 sample
with a fixed defect population under 2 nm/min of drift with a slow random
walk) that scans frames and closes the drift loop: after each frame it sets
its drift compensation to the velocity the daemon published, as a control
loop would with Nanonis Piezo.DriftCompSet; and a console view subscribed
to the daemon's results.

Per frame the view prints: frame id, sequence, status, latency (the
daemon's, frame received -> result published; and end to end, daemon
receipt -> result received here), the drift velocity in nm/min with the
frame's placement in the session (F first, P drift prediction, C unit-cell
codes, - not placed), adatom sites, vacancies and the lattice residual; and
writes to DIR the corrected frame (corrected-ID.tiff, 32-bit float on the
absolute model grid, NaN outside the scan) and an overlay of the daemon's
sites on it (overlay-ID.png: occupied adatoms green, vacancies red, corner
holes cyan).

Options:
  --frames N          stop after the results of N frames (default 0: run
                      until Ctrl-C)
  --out DIR           output folder (default out/demo; created if missing)
  --rate HZ           frames per second (default 2; 0 = as fast as
                      possible); the instrument's own clock runs in
                      simulated time, 52 s per frame
  --no-compensation   the instrument only scans; the drift stays
  -h, --help          show this help

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
  if (const std::optional<int> exit =
          FinishParsing({"demo", &PrintDemoHelp}, status, parsed.help)) {
    return *exit;
  }
  return RunDemo(parsed);
}

}  // namespace anchord::daemon
