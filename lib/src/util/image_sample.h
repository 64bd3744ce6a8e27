#pragma once

// Internal: sampling an image between pixel centres.

#include "anchord/util/geometry.h"

#include <opencv2/core.hpp>

#include <algorithm>
#include <cmath>

namespace anchord::internal {

// Bilinear interpolation of `img` at p (x = column, y = row), clamped to
// the image so that a point outside reads the nearest border value (a NaN
// coordinate reads as 0). Requires an image of at least 2 × 2 px.
inline double Bilinear(const cv::Mat1f& img, const Vec2& p) {
  const auto clamped = [](double v, double hi) {
    return std::isnan(v) ? 0.0 : std::clamp(v, 0.0, hi);
  };
  const double x = clamped(p.x(), img.cols - 1.001);
  const double y = clamped(p.y(), img.rows - 1.001);
  // In [0, side - 1.001]: the truncations index the image.
  const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
  const double fx = x - x0, fy = y - y0;
  return (1 - fy) * ((1 - fx) * img(y0, x0) + fx * img(y0, x0 + 1)) +
         fy * ((1 - fx) * img(y0 + 1, x0) + fx * img(y0 + 1, x0 + 1));
}

}  // namespace anchord::internal
