// The closed drift loop through the Nanonis TCP protocol, every piece a
// real process or socket on loopback: the Nanonis protocol simulator
// (support/nanonis_simulator.h) → `anchord bridge nanonis` → `anchord
// serve` → the bridge → Piezo.DriftCompSet on the simulator. The residual
// drift comes from the simulator's truth.
//
// The simulator runs the instrument 400 times faster than the wall clock
// (a 256-line frame of 0.2 s lines, 52 s of instrument time, in 0.13 s);
// the daemon's time constants are scaled alike. Environment variables for
// a longer measurement by hand: ANCHORD_NANONIS_FRAMES (compensated
// frames, default 100), ANCHORD_NANONIS_TIME_SCALE (default 400).

#include "anchord/synth/simulated_instrument.h"
#include "anchord/synth/synthetic_scan.h"

#include "daemon/instrument/instrument_loop.h"
#include "support/daemon_harness.h"
#include "support/nanonis_simulator.h"
#include <doctest/doctest.h>
#include <zmq.hpp>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace anchord::testing {
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : fallback;
}

// The sample and drift of `anchord study closed-loop`: 256 px over 30 nm,
// 2 nm/min plus a slow random walk.
SimulatedInstrumentOptions Instrument() {
  SimulatedInstrumentOptions o;
  o.scan = ModeratelyDistortedScan(7, 256, 30.0);
  o.scan.adsorbates_per_cell = 0.01;
  o.line_time_s = 0.2;
  o.frame_gap_s = 1.0;
  o.drift_nm_per_s = (2.0 / 60.0) * Vec2(std::cos(0.52), std::sin(0.52));
  o.drift_walk_nm_per_s_per_sqrt_s = 2e-5;
  o.seed = 7;
  return o;
}

// A daemon whose time constants are those of the default configuration in
// instrument time.
daemon::DaemonConfig ScaledConfig(const std::string& frames_endpoint,
                                  double scale) {
  daemon::DaemonConfig c = MakeTestConfig(frames_endpoint);
  c.track.prior_velocity_sigma_nm_per_s *= scale;
  c.track.drift.creep_tau_s /= scale;
  c.track.drift.window_s /= scale;
  return c;
}

// Waits until the daemon publishes its periodic status.
bool WaitDaemonUp(const daemon::DaemonConfig& c, Millis timeout) {
  zmq::context_t context(1);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "status");
  sub.connect(c.endpoints.results);
  zmq::pollitem_t item{static_cast<void*>(sub), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, timeout);
  return (item.revents & ZMQ_POLLIN) != 0;
}

// Waits until the simulator has scanned `count` frames; false on timeout.
bool WaitFrames(const NanonisSimulator& sim, int64_t count, Millis timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (sim.frames_scanned() < count) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(Millis(5));
  }
  return true;
}

struct LoopRun {
  daemon::ResidualDrift residual;
  int connections = 0;
  int drift_sets = 0;
  int drift_sets_after_restart = 0;
  std::string bridge_log;
};

// One run: simulator, daemon and bridge; `frames` frames scanned. With
// `restarts`, the controller closes its port for 0.5 s at one third of
// the run and the daemon is restarted at two thirds.
void RunLoop(bool apply_drift, int frames, bool restarts, LoopRun* out) {
  const double scale = EnvInt("ANCHORD_NANONIS_TIME_SCALE", 400);
  NanonisSimulatorOptions so;
  so.instrument = Instrument();
  so.time_scale = scale;
  NanonisSimulator sim(so);
  REQUIRE(sim.Start().ok());

  const std::string frames_endpoint = LoopbackEndpoint(FreeLoopbackPort());
  const daemon::DaemonConfig config = ScaledConfig(frames_endpoint, scale);
  auto daemon_process = std::make_unique<DaemonProcess>(config);
  std::string error;
  REQUIRE_MESSAGE(daemon_process->Start(&error), error);
  REQUIRE_MESSAGE(WaitDaemonUp(config, Millis(15000)), daemon_process->Log());

  TempDir dir;
  const std::string log = dir.path() / "bridge.log";
  // Instrument nm/min → the wall-clock nm/min the bridge sees.
  char clamp[32], sigma[32];
  std::snprintf(clamp, sizeof clamp, "%g", 10.0 * scale);
  std::snprintf(sigma, sizeof sigma, "%g", 0.5 * scale);
  std::vector<std::string> argv = {AnchordBinary(),
                                   "bridge",
                                   "nanonis",
                                   "--controller",
                                   "127.0.0.1:" + std::to_string(sim.port()),
                                   "--frames-endpoint",
                                   frames_endpoint,
                                   "--results-endpoint",
                                   config.endpoints.results,
                                   "--session",
                                   apply_drift ? "nanonis-on" : "nanonis-off",
                                   "--max-drift-nm-per-min",
                                   clamp,
                                   "--max-sigma-nm-per-min",
                                   sigma,
                                   "--min-interval-s",
                                   "0",
                                   "--wait-slice-ms",
                                   "10"};
  if (apply_drift) argv.push_back("--apply-drift");
  const pid_t bridge = SpawnLogged(argv, log, &error);
  REQUIRE_MESSAGE(bridge > 0, error);

  const Millis per_frame(
      static_cast<int64_t>(1000 * (256 * 0.2 + 1.0) / scale + 1));
  const Millis budget = per_frame * frames * 3 + Millis(20000);
  if (restarts) {
    REQUIRE(WaitFrames(sim, frames / 3, budget));
    sim.StopListening();
    std::this_thread::sleep_for(Millis(500));
    const Status resumed = sim.ResumeListening();
    REQUIRE_MESSAGE(resumed.ok(), resumed.message());
    const int sets_before = sim.drift_sets();
    REQUIRE(WaitFrames(sim, 2 * frames / 3, budget));
    out->drift_sets_after_restart = sim.drift_sets() - sets_before;
    // The daemon goes away and comes back on the same endpoints (its
    // session starts over: the catalog is in memory).
    daemon_process->Signal(SIGTERM);
    REQUIRE(daemon_process->WaitExit(Millis(10000)).has_value());
    daemon_process = std::make_unique<DaemonProcess>(config);
    REQUIRE_MESSAGE(daemon_process->Start(&error), error);
    REQUIRE(WaitDaemonUp(config, Millis(15000)));
  }
  REQUIRE(WaitFrames(sim, frames, budget));
  kill(bridge, SIGTERM);
  const std::optional<ExitInfo> exit = WaitChild(bridge, Millis(10000));
  out->bridge_log = ReadWholeFile(log);
  REQUIRE_MESSAGE(exit.has_value(), out->bridge_log);
  CHECK_MESSAGE((exit->exited && exit->code == 0), out->bridge_log);
  sim.Stop();

  // From frame 10: the bridge has connected and the estimate settled.
  out->residual = daemon::MeasureResidualDrift(sim.frames(), 10);
  out->connections = sim.connections();
  out->drift_sets = sim.drift_sets();
}

TEST_CASE("closed drift loop: simulator -> bridge -> daemon -> bridge" *
          doctest::timeout(110)) {
  if (AnchordBinary().empty()) {
    MESSAGE("ANCHORD_BIN is not set: skipped");
    return;
  }
  const int frames = EnvInt("ANCHORD_NANONIS_FRAMES", 100);

  LoopRun off;
  RunLoop(/*apply_drift=*/false, 40, /*restarts=*/false, &off);
  LoopRun on;
  RunLoop(/*apply_drift=*/true, frames, /*restarts=*/true, &on);

  const double reduction =
      off.residual.net_nm_per_min / std::max(on.residual.net_nm_per_min, 1e-9);
  MESSAGE(
      "residual drift from frame 10 (nm/min, instrument time): without "
      "--apply-drift net "
      << off.residual.net_nm_per_min << ", rms " << off.residual.rms_nm_per_min
      << "; with --apply-drift net " << on.residual.net_nm_per_min << ", rms "
      << on.residual.rms_nm_per_min << ", max " << on.residual.max_nm_per_min
      << " over " << on.residual.frames << " frames; reduction " << reduction
      << "x; " << on.drift_sets << " compensation settings ("
      << on.drift_sets_after_restart << " after the controller restart), "
      << on.connections << " connections");
  // Without --apply-drift nothing is set and the drift runs.
  CHECK(off.drift_sets == 0);
  CHECK(off.residual.net_nm_per_min > 1.8);
  // With it: at least 20x less, through a controller restart (the bridge
  // reconnected and went on setting) and a daemon restart.
  CHECK(reduction >= 20);
  CHECK(on.connections >= 2);
  CHECK(on.drift_sets_after_restart > 0);
  CHECK_MESSAGE(on.bridge_log.find("reconnected to") != std::string::npos,
                on.bridge_log);
}

TEST_CASE("constant height: the bridge publishes the signal channel" *
          doctest::timeout(60)) {
  if (AnchordBinary().empty()) {
    MESSAGE("ANCHORD_BIN is not set: skipped");
    return;
  }
  NanonisSimulatorOptions so;
  so.instrument = Instrument();
  so.time_scale = 400;
  so.constant_height = true;
  NanonisSimulator sim(so);
  REQUIRE(sim.Start().ok());
  const std::string frames_endpoint = LoopbackEndpoint(FreeLoopbackPort());
  zmq::context_t context(1);
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect(frames_endpoint);
  TempDir dir;
  const std::string log = dir.path() / "bridge.log";
  std::string error;
  const pid_t bridge =
      SpawnLogged({AnchordBinary(), "bridge", "nanonis", "--controller",
                   "127.0.0.1:" + std::to_string(sim.port()),
                   "--frames-endpoint", frames_endpoint, "--results-endpoint",
                   LoopbackEndpoint(FreeLoopbackPort()), "--frames", "4"},
                  log, &error);
  REQUIRE_MESSAGE(bridge > 0, error);
  zmq::pollitem_t item{static_cast<void*>(sub), 0, ZMQ_POLLIN, 0};
  zmq::poll(&item, 1, Millis(20000));
  zmq::message_t message;
  REQUIRE_MESSAGE(sub.recv(message, zmq::recv_flags::dontwait),
                  ReadWholeFile(log));
  v1::Frame frame;
  REQUIRE(
      frame.ParseFromArray(message.data(), static_cast<int>(message.size())));
  CHECK(frame.channel() == "Current");
  CHECK(frame.session() == "nanonis");
  CHECK(frame.width() == 256);
  const std::optional<ExitInfo> exit = WaitChild(bridge, Millis(20000));
  REQUIRE(exit.has_value());
  CHECK(exit->code == 0);
  CHECK(ReadWholeFile(log).find("constant height") != std::string::npos);
}

}  // namespace
}  // namespace anchord::testing
