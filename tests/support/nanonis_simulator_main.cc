// anchord_nanonis_simulator: the Nanonis protocol simulator
// (support/nanonis_simulator.h) as a program, for trying `anchord bridge
// nanonis` by hand. Scans until SIGINT/SIGTERM or --frames N, then prints
// the residual drift from the instrument's truth.
//
//   build/tests/anchord_nanonis_simulator --port 6501 &
//   build/daemon/anchord serve &
//   build/daemon/anchord bridge nanonis --controller 127.0.0.1:6501
//       --apply-drift --min-interval-s 0

#include "anchord/synth/synthetic_scan.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/stop_signals.h"
#include "daemon/instrument/instrument_loop.h"
#include "support/nanonis_simulator.h"

#include <cmath>
#include <cstdio>
#include <iostream>
#include <thread>

namespace {

using anchord::Status;

struct Args {
  int port = 6501;
  double time_scale = 1;
  double drift_nm_per_min = 2;
  double line_time_s = 0.02;
  int size_px = 256;
  int64_t frames = 0;
  bool constant_height = false;
  bool help = false;
};

Status Parse(const std::vector<std::string>& argv, Args& a) {
  using anchord::daemon::ParseNumber;
  using anchord::daemon::UsageError;
  return anchord::daemon::ApplyOptions(
      argv, {"--constant-height"},
      {"--port", "--time-scale", "--drift-nm-per-min", "--line-time", "--size",
       "--frames"},
      [&a](const std::string& name, const std::string& value) {
        bool ok = true;
        if (name == "--constant-height") a.constant_height = true;
        if (name == "--port") {
          ok = ParseNumber(value, a.port) && a.port >= 0 && a.port <= 65535;
        }
        if (name == "--time-scale") {
          ok = ParseNumber(value, a.time_scale) && a.time_scale > 0 &&
               a.time_scale <= 10000;
        }
        if (name == "--drift-nm-per-min") {
          ok = ParseNumber(value, a.drift_nm_per_min) &&
               a.drift_nm_per_min >= 0 && a.drift_nm_per_min <= 20;
        }
        if (name == "--line-time") {
          ok = ParseNumber(value, a.line_time_s) && a.line_time_s > 0 &&
               a.line_time_s <= 10;
        }
        if (name == "--size") {
          ok = ParseNumber(value, a.size_px) && a.size_px >= 64 &&
               a.size_px <= 2048;
        }
        if (name == "--frames") {
          ok = ParseNumber(value, a.frames) && a.frames >= 0;
        }
        return ok ? Status::Ok()
                  : UsageError(name + " = '" + value + "': out of range");
      },
      a.help);
}

void Help(std::ostream& out) {
  out << R"(Usage: anchord_nanonis_simulator [options]

A Nanonis controller on 127.0.0.1 (the TCP programming interface's
framing; Scan.WaitEndOfScan, FrameGet, FrameSet, FrameDataGrab, BufferGet,
SpeedGet, ZCtrl.OnOffGet, Piezo.DriftCompGet/Set) scanning a simulated
Si(111)-7x7 sample that drifts, and applying the drift compensation it is
sent. At the end (SIGINT/SIGTERM or --frames) it prints the residual drift
from its truth.

  --port P              TCP port (default 6501; 0 = any)
  --time-scale S        instrument seconds per wall second (default 1)
  --drift-nm-per-min V  thermal drift (default 2)
  --line-time S         line period, instrument s (default 0.02: 5 s frames)
  --size PX             frame side (default 256, over 30 nm per 256 px)
  --constant-height     Z controller off: the image in Current
  --frames N            stop after N frames (default: never)
)";
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const Status parsed = Parse({argv + 1, argv + argc}, a);
  if (!parsed.ok()) {
    std::cerr << "anchord_nanonis_simulator: " << parsed.message() << "\n";
    return 2;
  }
  if (a.help) {
    Help(std::cout);
    return 0;
  }
  anchord::testing::NanonisSimulatorOptions o;
  o.instrument.scan =
      anchord::ModeratelyDistortedScan(7, a.size_px, 30.0 * a.size_px / 256.0);
  o.instrument.scan.adsorbates_per_cell = 0.01;
  o.instrument.line_time_s = a.line_time_s;
  o.instrument.drift_nm_per_s =
      (a.drift_nm_per_min / 60) * anchord::Vec2(std::cos(0.52), std::sin(0.52));
  o.time_scale = a.time_scale;
  o.port = a.port;
  o.constant_height = a.constant_height;
  const Status valid = o.instrument.Validate();
  if (!valid.ok()) {
    std::cerr << valid.message() << "\n";
    return 2;
  }
  anchord::daemon::StopSignals signals;
  anchord::testing::NanonisSimulator sim(o);
  const Status started = sim.Start();
  if (!started.ok()) {
    std::cerr << started.message() << "\n";
    return 1;
  }
  std::printf("nanonis simulator on 127.0.0.1:%d, %g x real time\n", sim.port(),
              a.time_scale);
  std::fflush(stdout);
  int64_t reported = 0;
  while (!signals.stop_requested() &&
         (a.frames == 0 || sim.frames_scanned() < a.frames)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const std::vector<anchord::daemon::LoopFrame> frames = sim.frames();
    for (; reported < static_cast<int64_t>(frames.size()); ++reported) {
      const anchord::daemon::LoopFrame& f = frames[reported];
      const anchord::Vec2 apparent =
          (f.apparent_end_nm - f.apparent_start_nm) / f.duration_s * 60;
      std::printf(
          "frame %lld: compensation (%.3f, %.3f), apparent drift "
          "(%.3f, %.3f) nm/min\n",
          static_cast<long long>(reported + 1),
          f.compensation_nm_per_s.x() * 60, f.compensation_nm_per_s.y() * 60,
          apparent.x(), apparent.y());
    }
    std::fflush(stdout);
  }
  sim.Stop();
  const std::vector<anchord::daemon::LoopFrame> frames = sim.frames();
  const int from = std::min<int>(10, static_cast<int>(frames.size()) - 1);
  const anchord::daemon::ResidualDrift r =
      anchord::daemon::MeasureResidualDrift(frames, std::max(from, 0));
  std::printf(
      "%zu frames, %d connections, %d compensation settings; residual "
      "drift from frame %d: net %.4f, rms %.4f nm/min\n",
      frames.size(), sim.connections(), sim.drift_sets(), from + 1,
      r.net_nm_per_min, r.rms_nm_per_min);
  return 0;
}
