#include "anchord/align/smooth_field.h"

#include <doctest/doctest.h>

#include <cmath>

namespace anchord {
namespace {

Vec2 Truth(const Vec2& p) {
  return Vec2(1.5 + 0.002 * p.y(), -0.7) +
         Vec2(2.5, 1.0) * std::exp(-(p - Vec2(120, 90)).squaredNorm() / 5000);
}

TEST_CASE("the spline of scattered matches follows a smooth field") {
  std::vector<Vec2> p, d;
  for (int y = 8; y < 256; y += 20) {
    for (int x = 8 + (y / 20) % 2 * 10; x < 256; x += 20) {
      p.emplace_back(x, y);
      d.push_back(Truth(p.back()));
    }
  }
  const cv::Mat2f field = DenseField(p, d, 256, 256, SmoothFieldOptions{});
  REQUIRE(field.rows == 256);
  REQUIRE(field.cols == 256);
  double worst = 0;
  for (int y = 10; y < 246; y += 3) {
    for (int x = 10; x < 246; x += 3) {
      const Vec2 f(field(y, x)[0], field(y, x)[1]);
      worst = std::max(worst, (f - Truth(Vec2(x, y))).norm());
    }
  }
  CHECK(worst < 0.1);
}

TEST_CASE("the spline degrades to the mean without a plane of points") {
  const ThinPlateSpline line({{0, 0}, {1, 1}, {2, 2}}, {{1, 0}, {2, 0}, {3, 0}},
                             1e-4, 10);
  CHECK(!line.ok());
  CHECK(line.At(Vec2(5, 5)).isApprox(Vec2(2, 0)));
  const ThinPlateSpline none({}, {}, 1e-4, 10);
  CHECK(none.At(Vec2(1, 1)) == Vec2::Zero());
  SmoothFieldOptions o;
  o.grid_step_px = 0;
  CHECK(!o.Validate().ok());
}

}  // namespace
}  // namespace anchord
