#include "daemon/studies/closed_loop_study.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/common/stop_signals.h"
#include "daemon/instrument/instrument_loop.h"
#include "daemon/instrument/sequence.h"
#include "daemon/serve/local_daemon.h"
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace anchord::daemon {
namespace {

struct StudyArgs {
  int frames = 100;
  double drift_nm_per_min = 2.0;
  double walk = 2e-5;
  int size_px = 256;
  double line_time_s = 0.2;
  uint64_t seed = 7;
  int settle_frames = 2;
  double unresolved_fraction = 0;
  std::string json;
  bool help = false;
};

// Sets one option of `a`; a usage error when its value is out of range.
Status ApplyOption(const std::string& name,
                   const std::string& value,
                   StudyArgs& a) {
  bool ok = true;
  if (name == "--frames") ok = ParseNumber(value, a.frames) && a.frames >= 3;
  if (name == "--drift-nm-per-min") {
    ok = ParseNumber(value, a.drift_nm_per_min) && a.drift_nm_per_min > 0 &&
         a.drift_nm_per_min <= 20;
  }
  if (name == "--walk") ok = ParseNumber(value, a.walk) && a.walk >= 0;
  if (name == "--size") ok = ParseNumber(value, a.size_px) && a.size_px >= 128;
  if (name == "--line-time") {
    ok = ParseNumber(value, a.line_time_s) && a.line_time_s > 0;
  }
  if (name == "--seed") ok = ParseNumber(value, a.seed);
  if (name == "--settle") {
    ok = ParseNumber(value, a.settle_frames) && a.settle_frames >= 0;
  }
  if (name == "--unresolved-fraction") {
    ok = ParseNumber(value, a.unresolved_fraction) &&
         a.unresolved_fraction >= 0 && a.unresolved_fraction <= 1;
  }
  if (name == "--json") a.json = value;
  if (!ok) return UsageError(name + " = '" + value + "': out of range");
  return Status::Ok();
}

Status ParseArgs(const std::vector<std::string>& args, StudyArgs& a) {
  const Status s = ApplyOptions(
      args,
      {"--frames", "--drift-nm-per-min", "--walk", "--size", "--line-time",
       "--seed", "--settle", "--unresolved-fraction", "--json"},
      [&a](const std::string& name, const std::string& value) {
        return ApplyOption(name, value, a);
      },
      a.help);
  if (!s.ok() || a.help) return s;
  if (a.settle_frames >= a.frames) {
    return UsageError("--settle must be below --frames");
  }
  return Status::Ok();
}

// The sample and scanner of `anchord synth` (ModeratelyDistortedScan), 30 nm
// per 256 px, with a sparse adsorbate population.
SimulatedInstrumentOptions Instrument(const StudyArgs& a) {
  SimulatedInstrumentOptions o;
  o.scan = ModeratelyDistortedScan(a.seed, a.size_px, 30.0 * a.size_px / 256.0);
  o.scan.adsorbates_per_cell = 0.01;
  o.line_time_s = a.line_time_s;
  o.frame_gap_s = 1.0;
  const double v = a.drift_nm_per_min / 60.0;
  o.drift_nm_per_s = v * Vec2(std::cos(0.52), std::sin(0.52));
  o.drift_walk_nm_per_s_per_sqrt_s = a.walk;
  o.seed = a.seed;
  o.unresolved_fraction = a.unresolved_fraction;
  return o;
}

struct RunFigures {
  InstrumentLoopResult loop;
  ResidualDrift all, settled;
  double estimate_error_nm_per_min = 0;  // last frame, vs truth
  int placed = 0;
  int unresolved = 0, aligned = 0;  // frames scanned blunt; drift from
                                    // alignment
};

Status RunOne(const StudyArgs& a,
              bool compensate,
              const DaemonConfig& config,
              const std::atomic<bool>& stop,
              RunFigures* out) {
  zmq::context_t context(1);
  zmq::socket_t drift(context, zmq::socket_type::sub);
  drift.set(zmq::sockopt::linger, 0);
  drift.set(zmq::sockopt::subscribe, std::string(kTopicDrift));
  drift.connect(config.endpoints.results);
  FramePublisher publisher;
  PublisherOptions po;
  po.endpoint = config.endpoints.frames;
  Status s = publisher.Open(po, stop);
  if (!s.ok()) return s;
  SimulatedInstrument instrument(Instrument(a));
  InstrumentLoopOptions lo;
  lo.frames = a.frames;
  lo.compensate = compensate;
  lo.session = compensate ? "closed-loop-on" : "closed-loop-off";
  lo.first_frame_id = compensate ? 100001 : 1;
  out->loop = RunInstrumentLoop(instrument, publisher, drift, lo, stop);
  if (!out->loop.status.ok()) return out->loop.status;
  if (static_cast<int>(out->loop.frames.size()) < a.frames) {
    return Status::Internal("interrupted");
  }
  out->all = MeasureResidualDrift(out->loop.frames, 0);
  out->settled = MeasureResidualDrift(out->loop.frames, a.settle_frames);
  for (const LoopFrame& f : out->loop.frames) {
    out->placed += f.drift.placed();
    out->unresolved += f.unresolved;
    out->aligned += f.drift.source() == v1::DRIFT_SOURCE_ALIGNMENT;
  }
  const LoopFrame& last = out->loop.frames.back();
  out->estimate_error_nm_per_min = (Vec2(last.drift.velocity_x_nm_per_s(),
                                         last.drift.velocity_y_nm_per_s()) -
                                    last.true_velocity_nm_per_s)
                                       .norm() *
                                   60;
  return Status::Ok();
}

void Print(const StudyArgs& a,
           const RunFigures& off,
           const RunFigures& on,
           std::ostream& out) {
  char line[256];
  out << "closed loop: simulated instrument, " << a.frames << " frames of "
      << a.size_px << " px (line " << a.line_time_s << " s), drift "
      << a.drift_nm_per_min << " nm/min + random walk " << a.walk
      << " nm/s/sqrt(s)\n";
  out << "residual drift of the sample under the scanner, from the "
         "instrument's truth (nm/min):\n";
  out << "                       net (all)   net (from frame "
      << a.settle_frames << ")   rms per frame (from " << a.settle_frames
      << ")   max\n";
  for (const auto& [name, r] : {std::pair{"compensation off", &off},
                                std::pair{"compensation on ", &on}}) {
    std::snprintf(line, sizeof line,
                  "  %s   %9.4f   %20.4f   %23.4f   %7.4f   (placed %d/%d, "
                  "blunt tip %d, drift from alignment %d, final estimate "
                  "error %.4f nm/min)\n",
                  name, r->all.net_nm_per_min, r->settled.net_nm_per_min,
                  r->settled.rms_nm_per_min, r->settled.max_nm_per_min,
                  r->placed, a.frames, r->unresolved, r->aligned,
                  r->estimate_error_nm_per_min);
    out << line;
  }
  std::snprintf(line, sizeof line,
                "reduction off/on: net (all frames) %.1fx, net (from frame "
                "%d) %.1fx, rms per frame %.1fx\n",
                off.all.net_nm_per_min / on.all.net_nm_per_min, a.settle_frames,
                off.settled.net_nm_per_min / on.settled.net_nm_per_min,
                off.settled.rms_nm_per_min / on.settled.rms_nm_per_min);
  out << line << std::flush;
}

nlohmann::json ToJson(const RunFigures& r) {
  nlohmann::json frames = nlohmann::json::array();
  for (const LoopFrame& f : r.loop.frames) {
    frames.push_back(
        {{"frame_id", f.frame_id},
         {"start_unix_s", f.start_unix_s},
         {"true_velocity_nm_per_s",
          {f.true_velocity_nm_per_s.x(), f.true_velocity_nm_per_s.y()}},
         {"compensation_nm_per_s",
          {f.compensation_nm_per_s.x(), f.compensation_nm_per_s.y()}},
         {"apparent_start_nm",
          {f.apparent_start_nm.x(), f.apparent_start_nm.y()}},
         {"apparent_end_nm", {f.apparent_end_nm.x(), f.apparent_end_nm.y()}},
         {"estimate_valid", f.drift.valid()},
         {"estimate_nm_per_s",
          {f.drift.velocity_x_nm_per_s(), f.drift.velocity_y_nm_per_s()}},
         {"placed", f.drift.placed()},
         {"unresolved", f.unresolved},
         {"placement_message", f.drift.placement_message()},
         {"drift_source", v1::DriftSource_Name(f.drift.source())}});
  }
  return {{"net_all_nm_per_min", r.all.net_nm_per_min},
          {"net_settled_nm_per_min", r.settled.net_nm_per_min},
          {"rms_settled_nm_per_min", r.settled.rms_nm_per_min},
          {"max_settled_nm_per_min", r.settled.max_nm_per_min},
          {"placed", r.placed},
          {"frames", frames}};
}

}  // namespace

void PrintClosedLoopHelp(std::ostream& out) {
  out << R"(Usage: anchord study closed-loop [options]

The closed-loop drift figure, residual drift with and without drift
compensation: a daemon in this process and the simulated instrument (a
virtual Si(111)-7x7 sample with a fixed defect population, constant drift
plus a slow random walk), run twice over the same sample and drift:
compensation off (the instrument only scans) and on (after each frame it
sets its drift compensation to the velocity the daemon published, as a
control loop would with Nanonis Piezo.DriftCompSet). Simulated time: the
loop waits for the daemon, so a 100-frame session of 90 simulated minutes
takes seconds.

Residual drift is measured from the instrument's truth: the apparent
displacement of the sample under the scanner (drift - compensation +
creep), as net displacement over the run / elapsed time, and as the RMS of
each frame's own apparent velocity.

Options:
  --frames N             frames per run (default 100; >= 3)
  --drift-nm-per-min V   constant drift speed (default 2; (0, 20])
  --walk W               drift random walk, nm/s per sqrt(s) (default 2e-5)
  --size PX              frame side, px (default 256; >= 128), 30 nm per
                         256 px
  --line-time S          line period, s (default 0.2)
  --seed S               sample and drift seed (default 7)
  --settle K             frames before the loop closes, left out of the
                         "from frame K" figures (default 2)
  --unresolved-fraction F
                         share of frames (from frame 2 on) scanned with a
                         blunt tip (1 nm blur) that leaves no resolvable
                         lattice; their drift comes from aligning them to
                         the frame before (default 0; [0, 1])
  --json OUT.json        write both runs frame by frame
  -h, --help             show this help

Exit status: 0 when both runs completed, 1 when a run failed, 2 on a
usage error.
)";
}

int RunClosedLoopStudy(const std::vector<std::string>& args) {
  StudyArgs a;
  const Status parsed = ParseArgs(args, a);
  if (const std::optional<int> exit = FinishParsing(
          {"study closed-loop", &PrintClosedLoopHelp}, parsed, a.help)) {
    return *exit;
  }
  StopSignals signals;
  RuntimeDir runtime;
  Status s = runtime.Create();
  if (!s.ok()) {
    spdlog::error("[study] {}", s.message());
    return kExitFailure;
  }
  const auto config =
      std::make_shared<const DaemonConfig>(LocalDaemonConfig(runtime, ""));
  DaemonThread daemon(config);
  zmq::context_t context(1);
  if (!WaitUntilServing(context, config->endpoints.queries, daemon,
                        signals.flag())) {
    spdlog::error("[study] the daemon did not start");
    return kExitFailure;
  }
  RunFigures off, on;
  for (auto [compensate, figures] :
       {std::pair{false, &off}, std::pair{true, &on}}) {
    s = RunOne(a, compensate, *config, signals.flag(), figures);
    if (!s.ok()) {
      spdlog::error("[study] compensation {}: {}", compensate ? "on" : "off",
                    s.message());
      return kExitFailure;
    }
  }
  daemon.Stop();
  Print(a, off, on, std::cout);
  if (!a.json.empty()) {
    std::ofstream file(a.json);
    file << nlohmann::json{{"off", ToJson(off)}, {"on", ToJson(on)}}.dump(1)
         << '\n';
    if (!file) {
      spdlog::error("[study] cannot write {}", a.json);
      return kExitFailure;
    }
  }
  return kExitOk;
}

}  // namespace anchord::daemon
