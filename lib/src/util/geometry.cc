#include "anchord/util/geometry.h"

#include "anchord/util/check.h"

#include <cmath>
#include <limits>

namespace anchord {

Vec2 Apply(const Mat3& h, const Vec2& p) {
  const Eigen::Vector3d q = h * Eigen::Vector3d(p.x(), p.y(), 1.0);
  if (!(std::abs(q.z()) > 1e-12)) {
    return Vec2::Constant(std::numeric_limits<double>::quiet_NaN());
  }
  return q.head<2>() / q.z();
}

Mat2 Jacobian(const Mat3& h, const Vec2& p) {
  const Eigen::Vector3d q = h * Eigen::Vector3d(p.x(), p.y(), 1.0);
  const double w = q.z();
  if (!(std::abs(w) > 1e-12)) {
    return Mat2::Constant(std::numeric_limits<double>::quiet_NaN());
  }
  Mat2 j;
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 2; ++c) {
      j(r, c) = (h(r, c) * w - q(r) * h(2, c)) / (w * w);
    }
  }
  return j;
}

Mat3 AffineTransform(const Mat2& linear, const Vec2& t) {
  Mat3 m = Mat3::Identity();
  m.topLeftCorner<2, 2>() = linear;
  m.topRightCorner<2, 1>() = t;
  return m;
}

}  // namespace anchord
