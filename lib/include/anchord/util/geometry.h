#pragma once

#include <Eigen/Dense>

#include <vector>

namespace anchord {

using Vec2 = Eigen::Vector2d;
using Mat2 = Eigen::Matrix2d;
using Mat3 = Eigen::Matrix3d;

// Applies a 3×3 projective transform to a 2-D point: p' = H·(x, y, 1),
// dehomogenised. A point on H's line at infinity maps to (NaN, NaN): a
// degenerate fit from a bad frame must not take the process down, and NaN
// fails every "inside the frame" or distance test downstream.
Vec2 Apply(const Mat3& h, const Vec2& p);

// The 2×2 Jacobian of Apply(h, ·) at p: the local affine part of h (NaN
// on the line at infinity).
Mat2 Jacobian(const Mat3& h, const Vec2& p);

// A 3×3 transform with linear part `linear` and translation `t`.
Mat3 AffineTransform(const Mat2& linear, const Vec2& t);

// Cross product z-component of two 2-D vectors.
inline double Cross(const Vec2& a, const Vec2& b) {
  return a.x() * b.y() - a.y() * b.x();
}

}  // namespace anchord
