// Quality metrics on hand-computed values, and scanner calibration from a
// synthetic image_from_model whose distortion is known.

#include "anchord/quality/metrics.h"

#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace anchord {
namespace {

constexpr double kDeg = 180.0 / 3.14159265358979323846;

TEST_CASE("Oks: exp(-d^2 / (2 kappa^2))") {
  // d = 0.032, κ = 0.1: exp(−0.001024 / 0.02) = exp(−0.0512) = 0.95009.
  CHECK(Oks(0.032, 0.1) == doctest::Approx(std::exp(-0.0512)).epsilon(1e-12));
  CHECK(Oks(0.032, 0.1) == doctest::Approx(0.95009).epsilon(1e-4));
  CHECK(Oks(0.0, 0.1) == 1.0);
  // d = κ: exp(−1/2).
  CHECK(Oks(0.3, 0.3) == doctest::Approx(0.60653066).epsilon(1e-7));
  // Monotone decreasing in d, increasing in κ.
  CHECK(Oks(0.05, 0.1) < Oks(0.03, 0.1));
  CHECK(Oks(0.05, 0.2) > Oks(0.05, 0.1));
}

TEST_CASE("MeanAbsoluteError is the mean Euclidean distance") {
  const std::vector<Vec2> est = {Vec2(3, 4), Vec2(1, 1), Vec2(-2, 0)};
  const std::vector<Vec2> truth = {Vec2(0, 0), Vec2(1, 2), Vec2(0, 0)};
  // Distances 5, 1, 2 → mean 8/3 (not the mean of |dx| + |dy|).
  CHECK(MeanAbsoluteError(est, truth) == doctest::Approx(8.0 / 3.0));
  CHECK(MeanAbsoluteError(truth, truth) == 0.0);
  CHECK(MeanAbsoluteError({}, {}) == 0.0);
}

TEST_CASE("OksRecall counts points with OKS >= threshold") {
  const std::vector<Vec2> truth(4, Vec2(10, 10));
  // Distances 0.02, 0.031, 0.034, 0.2 with κ = 0.1 and threshold 0.95:
  // OKS ≥ 0.95 ⇔ d ≤ 0.1·sqrt(−2 ln 0.95) = 0.03203 → 2 of 4.
  const std::vector<Vec2> est = {Vec2(10.02, 10), Vec2(10, 10.031),
                                 Vec2(9.966, 10), Vec2(10.2, 10)};
  CHECK(OksRecall(est, truth, 0.1, 0.95) == doctest::Approx(0.5));
  // A laxer threshold takes the third (OKS(0.034) = 0.944) too.
  CHECK(OksRecall(est, truth, 0.1, 0.94) == doctest::Approx(0.75));
  CHECK(OksRecall(truth, truth, 0.1, 0.95) == 1.0);
  CHECK(OksRecall({}, {}, 0.1, 0.95) == 0.0);
}

TEST_CASE("Rms of vector lengths") {
  // Lengths 5 and 0 → sqrt(25 / 2).
  CHECK(Rms({Vec2(3, 4), Vec2(0, 0)}) == doctest::Approx(std::sqrt(12.5)));
  CHECK(Rms({Vec2(1, 1)}) == doctest::Approx(std::sqrt(2.0)));
  CHECK(Rms({}) == 0.0);
}

// Derivation for the synthetic generator (synthetic_scan.cc): the linear
// part of image_from_model is J = S⁻¹·Sh·F(θ)/p with S = diag(1 + ex,
// 1 + ey), Sh = [[1, σ], [0, 1]] (x += σ·y in the image), F(θ) the flip to
// y-down followed by a rotation by θ, p the nominal pixel size. With
// N = diag(p, −p) the scanner's report in nominal nm (y up),
// K = N·J = diag(1/(1+ex), −1/(1+ey))·Sh·F and true_from_nominal = K⁻¹
// = F·Sh⁻¹·diag(1 + ex, −(1 + ey)) whose columns are F·(1+ex, 0) and
// F·(σ(1+ey), −(1+ey)). F is orthogonal, so:
//   scale_x = 1 + ex,   scale_y = (1 + ey)·sqrt(1 + σ²),
//   cos(angle between the axes) = σ / sqrt(1 + σ²)
//   ⇒ nonorthogonality = (90° − atan(σ)) − 90° = −atan(σ).
// The model x axis as scanned is K·(1, 0) = (cos θ/(1+ex), −sin θ/(1+ey)),
// so rotation_deg = atan2(−sin θ/(1+ey), cos θ/(1+ex)): the generator's
// rotation_deg turns clockwise on screen (it rotates in y-down pixel
// coordinates) while Calibration reports counter-clockwise in y-up nm.
SyntheticScan ScanWith(double ex, double ey, double shear, double rot) {
  SyntheticScanOptions o;
  o.width_px = 32;  // only the mapping is used; keep the render cheap
  o.height_px = 32;
  o.field_of_view_nm = 4;
  o.scale_error_x = ex;
  o.scale_error_y = ey;
  o.shear = shear;
  o.rotation_deg = rot;
  o.noise = 0;
  return MakeSyntheticScan(o);
}

TEST_CASE("CalibrationFromHomography: scale errors, no shear") {
  struct Case {
    double ex, ey, rot;
  };
  for (const Case& c : {Case{0.1, -0.15, 0}, Case{0.25, 0.05, 30},
                        Case{-0.2, 0.2, -75}, Case{0, 0, 140}}) {
    CAPTURE(c.ex);
    CAPTURE(c.ey);
    CAPTURE(c.rot);
    const SyntheticScan s = ScanWith(c.ex, c.ey, 0, c.rot);
    const double p = s.frame.pixel_size_x_nm;
    for (const Vec2& at : {Vec2(16, 16), Vec2(0, 31)}) {
      const Calibration cal =
          CalibrationFromHomography(s.image_from_model, at, p, p);
      CHECK(cal.scale_x == doctest::Approx(1 + c.ex).epsilon(1e-9));
      CHECK(cal.scale_y == doctest::Approx(1 + c.ey).epsilon(1e-9));
      CHECK(std::abs(cal.nonorthogonality_deg) < 1e-7);
      const double th = c.rot / kDeg;
      const double expect_rot =
          std::atan2(-std::sin(th) / (1 + c.ey), std::cos(th) / (1 + c.ex)) *
          kDeg;
      CHECK(cal.rotation_deg == doctest::Approx(expect_rot).epsilon(1e-9));
    }
  }
}

TEST_CASE(
    "CalibrationFromHomography: shear gives nonorthogonality -atan(shear)") {
  for (double shear : {0.2, -0.1, 0.35}) {
    CAPTURE(shear);
    const double ex = 0.1, ey = -0.05;
    const SyntheticScan s = ScanWith(ex, ey, shear, 20);
    const double p = s.frame.pixel_size_x_nm;
    const Calibration cal =
        CalibrationFromHomography(s.image_from_model, Vec2(16, 16), p, p);
    CHECK(cal.nonorthogonality_deg ==
          doctest::Approx(-std::atan(shear) * kDeg).epsilon(1e-9));
    // Sign: positive shear closes the angle between +x and +y (up).
    CHECK((cal.nonorthogonality_deg < 0) == (shear > 0));
    CHECK(cal.scale_x == doctest::Approx(1 + ex).epsilon(1e-9));
    CHECK(
        cal.scale_y ==
        doctest::Approx((1 + ey) * std::sqrt(1 + shear * shear)).epsilon(1e-9));
  }
}

TEST_CASE("CalibrationFromHomography uses the nominal pixel sizes") {
  // An image_from_model that is exactly the nominal mapping for pixel
  // sizes (0.1, 0.2) nm: x_px = x/0.1, y_px = −y/0.2. Calibration with
  // those sizes is the identity. Claiming 0.1 nm per row while a row
  // really spans 0.2 nm gives scale_y = 2 (true/nominal: the scanner moves
  // twice as far in y as it reports).
  Mat3 h = Mat3::Identity();
  h(0, 0) = 1 / 0.1;
  h(1, 1) = -1 / 0.2;
  const Calibration id = CalibrationFromHomography(h, Vec2(5, 5), 0.1, 0.2);
  CHECK(id.scale_x == doctest::Approx(1.0));
  CHECK(id.scale_y == doctest::Approx(1.0));
  CHECK(std::abs(id.nonorthogonality_deg) < 1e-9);
  CHECK(std::abs(id.rotation_deg) < 1e-9);
  const Calibration half = CalibrationFromHomography(h, Vec2(5, 5), 0.1, 0.1);
  CHECK(half.scale_x == doctest::Approx(1.0));
  CHECK(half.scale_y == doctest::Approx(2.0));
}

}  // namespace
}  // namespace anchord
