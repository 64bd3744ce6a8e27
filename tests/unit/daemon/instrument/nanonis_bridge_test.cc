#include "daemon/instrument/nanonis_bridge.h"

#include "daemon/instrument/bridge_command.h"
#include "daemon/instrument/drift_policy.h"
#include <doctest/doctest.h>

#include <cmath>

namespace anchord::daemon {
namespace {

// A valid, placed, certain estimate of (v_x, v_y) nm/min.
v1::DriftEstimate Estimate(double vx_nm_per_min, double vy_nm_per_min) {
  v1::DriftEstimate e;
  e.set_frame_id(7);
  e.set_valid(true);
  e.set_placed(true);
  e.set_velocity_x_nm_per_s(vx_nm_per_min / 60);
  e.set_velocity_y_nm_per_s(vy_nm_per_min / 60);
  e.set_velocity_x_sigma_nm_per_s(0.01 / 60);
  e.set_velocity_y_sigma_nm_per_s(0.01 / 60);
  return e;
}

TEST_CASE("drift policy: applies a valid, placed, certain estimate") {
  const DriftPolicyOptions o;
  REQUIRE(o.Validate().ok());
  const DriftDecision d = DecideDrift(Estimate(2, -1), o, 1e9, {});
  CHECK(d.action == DriftAction::kApply);
  CHECK(!d.clamped);
  CHECK(d.velocity_nm_per_s.x() * 60 == doctest::Approx(2));
  CHECK(d.velocity_nm_per_s.y() * 60 == doctest::Approx(-1));
}

TEST_CASE("drift policy: never when invalid, unplaced, NaN or uncertain") {
  const DriftPolicyOptions o;
  v1::DriftEstimate e = Estimate(2, 1);
  e.set_valid(false);
  CHECK(DecideDrift(e, o, 1e9, {}).action == DriftAction::kNotValid);
  e = Estimate(2, 1);
  e.set_placed(false);
  CHECK(DecideDrift(e, o, 1e9, {}).action == DriftAction::kNotPlaced);
  e = Estimate(2, 1);
  e.set_velocity_x_nm_per_s(std::nan(""));
  CHECK(DecideDrift(e, o, 1e9, {}).action == DriftAction::kNotFinite);
  e = Estimate(2, 1);
  e.set_velocity_y_sigma_nm_per_s(1.0 / 60);  // 1 nm/min > 0.5
  const DriftDecision d = DecideDrift(e, o, 1e9, {});
  CHECK(d.action == DriftAction::kUncertain);
  CHECK(d.reason.find("sigma") != std::string::npos);
}

TEST_CASE("drift policy: clamped, rate-limited, saturation respected") {
  DriftPolicyOptions o;
  o.max_drift_nm_per_min = 5;
  o.min_interval_s = 10;
  const DriftDecision clamped = DecideDrift(Estimate(30, 40), o, 1e9, {});
  CHECK(clamped.action == DriftAction::kApply);
  CHECK(clamped.clamped);
  CHECK(clamped.velocity_nm_per_s.norm() * 60 == doctest::Approx(5));
  CHECK(clamped.velocity_nm_per_s.x() / clamped.velocity_nm_per_s.y() ==
        doctest::Approx(0.75));  // the direction is kept

  CHECK(DecideDrift(Estimate(1, 1), o, 9.9, {}).action ==
        DriftAction::kRateLimited);
  CompensationState saturated;
  saturated.y_saturated = true;
  const DriftDecision s = DecideDrift(Estimate(1, 1), o, 1e9, saturated);
  CHECK(s.action == DriftAction::kSaturated);
  CHECK(s.reason.find("Y drift correction saturated") != std::string::npos);

  o.min_change_nm_per_min = 0.1;
  CompensationState same;
  same.velocity_nm_per_s = Vec2(1, 1) / 60;
  CHECK(DecideDrift(Estimate(1.05, 1), o, 1e9, same).action ==
        DriftAction::kUnchanged);
}

TEST_CASE("drift policy: every violation is listed") {
  DriftPolicyOptions o;
  o.max_drift_nm_per_min = 0;
  o.min_interval_s = -1;
  const Status s = o.Validate();
  CHECK(s.message().find("bridge.max_drift_nm_per_min = 0") !=
        std::string::npos);
  CHECK(s.message().find("bridge.min_interval_s = -1") != std::string::npos);
}

TEST_CASE("compensation track integrates the velocities set") {
  CompensationTrack t;
  CHECK(t.OffsetAt(5).isZero());
  t.Set(100, Vec2(1, 0));
  t.Set(110, Vec2(0, 2));
  CHECK(t.VelocityAt(105).x() == 1);
  CHECK(t.VelocityAt(115).y() == 2);
  CHECK(t.OffsetAt(105).x() == doctest::Approx(5));
  CHECK(t.OffsetAt(120).x() == doctest::Approx(10));
  CHECK(t.OffsetAt(120).y() == doctest::Approx(20));
  t.Set(50, Vec2(0, 0));  // before the latest change: taken at it
  CHECK(t.OffsetAt(120).y() == doctest::Approx(0));
  for (int k = 0; k < 1000; ++k) t.Set(200 + k, Vec2(k % 2, 0));  // bounded
  CHECK(std::isfinite(t.OffsetAt(2000).x()));
}

TEST_CASE("bridge command line") {
  BridgeArgs a;
  REQUIRE(ParseBridgeArgs(
              {"nanonis", "--controller", "10.0.0.5:6502", "--apply-drift",
               "--max-drift-nm-per-min", "8", "--session", "run-1",
               "--direction", "backward", "--connect", "--frames", "3"},
              a)
              .ok());
  CHECK(a.options.controller.host == "10.0.0.5");
  CHECK(a.options.controller.port == 6502);
  CHECK(a.options.apply_drift);
  CHECK(a.options.drift.max_drift_nm_per_min == 8);
  CHECK(a.options.session == "run-1");
  CHECK(a.options.trace == SxmTrace::kBackward);
  CHECK(!a.options.publisher.bind);
  CHECK(a.options.max_frames == 3);
  CHECK(a.options.Validate().ok());

  BridgeArgs b;
  REQUIRE(ParseBridgeArgs({"nanonis", "--controller", "[::1]:6501"}, b).ok());
  CHECK(b.options.controller.host == "::1");

  BridgeArgs c;
  CHECK(!ParseBridgeArgs({"nanonis"}, c).ok());  // no --controller
  CHECK(!ParseBridgeArgs({"rhk", "--controller", "h:1"}, c).ok());
  CHECK(!ParseBridgeArgs({"nanonis", "--controller", "host"}, c).ok());
  CHECK(!ParseBridgeArgs({"nanonis", "--controller", "h:1", "--daemon-config",
                          "f.toml", "--frames-endpoint", "tcp://x:1"},
                         c)
             .ok());
  CHECK(
      !ParseBridgeArgs(
           {"nanonis", "--controller", "h:1", "--max-drift-nm-per-min", "0"}, c)
           .ok());
  BridgeArgs d;
  REQUIRE(ParseBridgeArgs(
              {"nanonis", "--controller", "h:1", "--session", "bad name"}, d)
              .ok());
  CHECK(d.options.Validate().message().find("bridge.session") !=
        std::string::npos);
}

}  // namespace
}  // namespace anchord::daemon
