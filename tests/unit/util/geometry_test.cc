// Apply / Jacobian / AffineTransform / Cross against first principles.

#include "anchord/util/geometry.h"

#include <doctest/doctest.h>

#include <random>

namespace anchord {
namespace {

// A random, well-conditioned homography with a noticeable projective part,
// and a point well away from its line at infinity.
Mat3 RandomHomography(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Mat3 h;
  h << 3 + u(rng), u(rng), 50 * u(rng),  //
      u(rng), 3 + u(rng), 50 * u(rng),   //
      0.01 * u(rng), 0.01 * u(rng), 1.0;
  return h;
}

TEST_CASE("Apply dehomogenises H·(x, y, 1)") {
  Mat3 h;
  h << 2, 0, 1,  //
      0, 3, -1,  //
      0.5, 0, 1;
  // q = (2·2 + 1, 3·4 − 1, 0.5·2 + 1) = (5, 11, 2) → (2.5, 5.5).
  const Vec2 p = Apply(h, Vec2(2, 4));
  CHECK(p.x() == doctest::Approx(2.5));
  CHECK(p.y() == doctest::Approx(5.5));
  // Scaling H does not change the mapping.
  const Vec2 p2 = Apply(7.0 * h, Vec2(2, 4));
  CHECK(p2.x() == doctest::Approx(2.5));
  CHECK(p2.y() == doctest::Approx(5.5));
}

TEST_CASE("Jacobian matches central finite differences of Apply") {
  std::mt19937_64 rng(12345);
  std::uniform_real_distribution<double> u(-20.0, 20.0);
  for (int trial = 0; trial < 50; ++trial) {
    const Mat3 h = RandomHomography(rng);
    const Vec2 p(u(rng), u(rng));
    const Mat2 j = Jacobian(h, p);
    const double eps = 1e-5;
    Mat2 fd;
    for (int c = 0; c < 2; ++c) {
      Vec2 d = Vec2::Zero();
      d[c] = eps;
      fd.col(c) = (Apply(h, p + d) - Apply(h, p - d)) / (2 * eps);
    }
    CAPTURE(trial);
    CHECK((j - fd).norm() <= 1e-6 * (1.0 + fd.norm()));
    // The projective part makes J depend on p: J must not simply be the
    // top-left block of H.
    if (trial == 0) {
      CHECK((j - h.topLeftCorner<2, 2>()).norm() > 1e-4);
    }
  }
}

TEST_CASE("Jacobian of an affine transform is its linear part everywhere") {
  Mat2 a;
  a << 1.5, -0.3, 0.2, 0.8;
  const Mat3 h = AffineTransform(a, Vec2(10, -4));
  CHECK(h(2, 0) == 0.0);
  CHECK(h(2, 1) == 0.0);
  CHECK(h(2, 2) == 1.0);
  for (const Vec2& p : {Vec2(0, 0), Vec2(100, -50), Vec2(-3, 7)}) {
    CHECK((Jacobian(h, p) - a).norm() < 1e-12);
    const Vec2 expect = a * p + Vec2(10, -4);
    CHECK((Apply(h, p) - expect).norm() < 1e-12);
  }
}

TEST_CASE("Apply of a composition is the composition of Apply") {
  std::mt19937_64 rng(7);
  const Mat3 g = RandomHomography(rng);
  const Mat3 h = RandomHomography(rng);
  const Vec2 p(3, -4);
  CHECK((Apply(g * h, p) - Apply(g, Apply(h, p))).norm() < 1e-9);
  CHECK((Apply(h.inverse(), Apply(h, p)) - p).norm() < 1e-9);
  // Chain rule for the Jacobian.
  const Mat2 chain = Jacobian(g, Apply(h, p)) * Jacobian(h, p);
  CHECK((Jacobian(g * h, p) - chain).norm() < 1e-9 * (1 + chain.norm()));
}

TEST_CASE("Cross is the z component, antisymmetric, positive for CCW") {
  CHECK(Cross(Vec2(1, 0), Vec2(0, 1)) == 1.0);
  CHECK(Cross(Vec2(0, 1), Vec2(1, 0)) == -1.0);
  CHECK(Cross(Vec2(2, 3), Vec2(4, 6)) == 0.0);  // parallel
  CHECK(Cross(Vec2(2, 1), Vec2(-1, 3)) == doctest::Approx(7.0));
}

TEST_CASE("a point on the line at infinity maps to NaN, never aborts") {
  Mat3 h = Mat3::Identity();
  h(2, 0) = 1.0;  // w = x + 1: zero at x = -1
  const Vec2 p = Apply(h, Vec2(-1.0, 3.0));
  CHECK(std::isnan(p.x()));
  CHECK(std::isnan(p.y()));
  CHECK(std::isnan(Jacobian(h, Vec2(-1.0, 0.0))(0, 0)));
  CHECK(std::isfinite(Apply(h, Vec2(0.0, 3.0)).x()));
}

}  // namespace
}  // namespace anchord
