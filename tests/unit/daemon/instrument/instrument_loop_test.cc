// The closed drift loop end to end: a daemon in this process on real ipc
// ZeroMQ sockets, the simulated instrument applying the drift velocity the
// daemon publishes. Acceptance (the closed-loop drift figure): at 2 nm/min
// the residual drift with compensation is at least 20 times smaller than
// without.
#include "daemon/instrument/instrument_loop.h"

#include "daemon/serve/local_daemon.h"
#include "daemon/wire/wire.h"
#include <doctest/doctest.h>

#include <cmath>
#include <string>

namespace anchord::daemon {
namespace {

SimulatedInstrumentOptions Instrument(double unresolved_fraction = 0) {
  SimulatedInstrumentOptions o;
  o.unresolved_fraction = unresolved_fraction;
  o.scan.width_px = o.scan.height_px = 256;
  o.scan.field_of_view_nm = 30;
  o.scan.rotation_deg = -23;
  o.scan.scale_error_x = 0.04;
  o.scan.scale_error_y = 0.07;
  o.scan.shear = -0.03;
  o.scan.noise = 0.1;
  o.scan.vacancy_fraction = 0.05;
  o.scan.adsorbates_per_cell = 0.01;
  o.scan.seed = 99;
  o.line_time_s = 0.2;
  o.frame_gap_s = 1.0;
  o.drift_nm_per_s = 2.0 / 60.0 * Vec2(std::cos(2.0), std::sin(2.0));
  o.drift_walk_nm_per_s_per_sqrt_s = 2e-5;
  o.seed = 99;
  return o;
}

struct LocalDaemon {
  RuntimeDir runtime;
  std::shared_ptr<const DaemonConfig> config;
  std::unique_ptr<DaemonThread> daemon;
  zmq::context_t context{1};

  LocalDaemon() {
    REQUIRE(runtime.Create().ok());
    config =
        std::make_shared<const DaemonConfig>(LocalDaemonConfig(runtime, ""));
    daemon = std::make_unique<DaemonThread>(config);
    std::atomic<bool> stop{false};
    REQUIRE(
        WaitUntilServing(context, config->endpoints.queries, *daemon, stop));
  }
};

InstrumentLoopResult Run(LocalDaemon& d,
                         bool compensate,
                         int frames,
                         double unresolved_fraction = 0) {
  zmq::socket_t drift(d.context, zmq::socket_type::sub);
  drift.set(zmq::sockopt::linger, 0);
  drift.set(zmq::sockopt::subscribe, std::string(kTopicDrift));
  drift.connect(d.config->endpoints.results);
  FramePublisher publisher;
  PublisherOptions po;
  po.endpoint = d.config->endpoints.frames;
  std::atomic<bool> stop{false};
  REQUIRE(publisher.Open(po, stop).ok());
  SimulatedInstrument instrument(Instrument(unresolved_fraction));
  InstrumentLoopOptions o;
  o.frames = frames;
  o.compensate = compensate;
  o.session = std::string(compensate ? "on" : "off") +
              (unresolved_fraction > 0 ? "-blunt" : "");
  o.first_frame_id =
      (compensate ? 1000 : 1) + (unresolved_fraction > 0 ? 5000 : 0);
  InstrumentLoopResult r =
      RunInstrumentLoop(instrument, publisher, drift, o, stop);
  REQUIRE_MESSAGE(r.status.ok(), r.status.message());
  REQUIRE(static_cast<int>(r.frames.size()) == frames);
  return r;
}

TEST_CASE("closing the loop on the published drift removes >= 20x of it") {
  LocalDaemon d;
  constexpr int kFrames = 30;
  const InstrumentLoopResult off = Run(d, false, kFrames);
  const InstrumentLoopResult on = Run(d, true, kFrames);
  for (const auto* r : {&off, &on}) {
    for (const LoopFrame& f : r->frames) CHECK(f.drift.placed());
    CHECK(r->frames.back().drift.valid());
  }
  // Compensation follows the estimate one frame late, and never before the
  // estimate exists.
  CHECK(on.frames[0].compensation_nm_per_s.norm() == 0);
  CHECK(on.frames[1].compensation_nm_per_s.norm() == 0);
  CHECK(on.frames[2].compensation_nm_per_s.norm() > 0);
  for (const LoopFrame& f : off.frames)
    CHECK(f.compensation_nm_per_s.norm() == 0);

  const ResidualDrift r_off = MeasureResidualDrift(off.frames, 0);
  const ResidualDrift r_on = MeasureResidualDrift(on.frames, 0);
  const ResidualDrift s_off = MeasureResidualDrift(off.frames, 2);
  const ResidualDrift s_on = MeasureResidualDrift(on.frames, 2);
  MESSAGE("net residual drift off "
          << r_off.net_nm_per_min << " nm/min, on " << r_on.net_nm_per_min
          << "; per-frame RMS from frame 2: off " << s_off.rms_nm_per_min
          << ", on " << s_on.rms_nm_per_min);
  CHECK(r_off.net_nm_per_min == doctest::Approx(2.0).epsilon(0.1));
  // From frame 2 on, once the loop is closed (the first two frames drift
  // freely: the estimate needs two placed frames). Over 30 frames those
  // two still weigh 1/15 of the all-frames net figure; `anchord study
  // closed-loop` reports it for the acceptance's 100 frames.
  CHECK(s_off.net_nm_per_min >= 20 * s_on.net_nm_per_min);
  CHECK(s_off.rms_nm_per_min >= 20 * s_on.rms_nm_per_min);
  CHECK(r_on.net_nm_per_min < r_off.net_nm_per_min / 10);
  // The published velocity is the sample's drift itself (compensation
  // added back), whether or not it is being compensated.
  const LoopFrame& last = on.frames.back();
  const Vec2 estimate(last.drift.velocity_x_nm_per_s(),
                      last.drift.velocity_y_nm_per_s());
  CHECK((estimate - last.true_velocity_nm_per_s).norm() * 60 <
        std::max(0.05, 0.05 * last.true_velocity_nm_per_s.norm() * 60));
  d.daemon->Stop();
}

TEST_CASE(
    "with every other frame blunt (no lattice), alignment keeps the "
    "loop at >= 20x") {
  LocalDaemon d;
  constexpr int kFrames = 30;
  const InstrumentLoopResult off = Run(d, false, kFrames, 0.5);
  const InstrumentLoopResult on = Run(d, true, kFrames, 0.5);
  int blunt = 0, aligned = 0, placed = 0;
  for (const LoopFrame& f : on.frames) {
    blunt += f.unresolved;
    placed += f.drift.placed();
    aligned += f.drift.source() == v1::DRIFT_SOURCE_ALIGNMENT;
    // A blunt frame is never placed on the lattice.
    if (f.unresolved) CHECK(!f.drift.placed());
    if (f.unresolved && f.drift.source() != v1::DRIFT_SOURCE_ALIGNMENT) {
      MESSAGE("frame " << f.frame_id << ": " << f.drift.placement_message());
    }
  }
  CHECK(blunt == 14);  // frames 3, 5, ..., 29
  CHECK(placed == kFrames - blunt);
  CHECK(aligned >= blunt - 2);
  const ResidualDrift s_off = MeasureResidualDrift(off.frames, 2);
  const ResidualDrift s_on = MeasureResidualDrift(on.frames, 2);
  MESSAGE("blunt " << blunt << ", drift from alignment " << aligned
                   << "; net from frame 2: off " << s_off.net_nm_per_min
                   << " nm/min, on " << s_on.net_nm_per_min
                   << "; per-frame RMS off " << s_off.rms_nm_per_min << ", on "
                   << s_on.rms_nm_per_min);
  CHECK(s_off.net_nm_per_min >= 20 * s_on.net_nm_per_min);
  CHECK(s_off.rms_nm_per_min >= 20 * s_on.rms_nm_per_min);
  d.daemon->Stop();
}

TEST_CASE("residual drift figures from a known apparent path") {
  std::vector<LoopFrame> frames(3);
  for (int k = 0; k < 3; ++k) {
    frames[k].start_unix_s = 100.0 * k;
    frames[k].duration_s = 60;
    frames[k].apparent_start_nm = Vec2(1.0 * k, 0);
    frames[k].apparent_end_nm = Vec2(1.0 * k + 0.5, 0);
  }
  const ResidualDrift r = MeasureResidualDrift(frames, 0);
  CHECK(r.frames == 3);
  CHECK(r.rms_nm_per_min == doctest::Approx(0.5));
  CHECK(r.max_nm_per_min == doctest::Approx(0.5));
  CHECK(r.net_nm_per_min == doctest::Approx(2.5 / 260.0 * 60));
  CHECK(MeasureResidualDrift(frames, 3).frames == 0);
}

}  // namespace
}  // namespace anchord::daemon
