#pragma once

// Internal: sampling an image between pixel centres.

#include <algorithm>
#include <opencv2/core.hpp>

#include "anchord/util/geometry.h"

namespace anchord::internal {

// Bilinear interpolation of `img` at p (x = column, y = row), clamped to
// the image so that a point outside reads the nearest border value.
inline double Bilinear(const cv::Mat1f& img, const Vec2& p) {
  const double x = std::clamp(p.x(), 0.0, img.cols - 1.001);
  const double y = std::clamp(p.y(), 0.0, img.rows - 1.001);
  const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
  const double fx = x - x0, fy = y - y0;
  return (1 - fy) * ((1 - fx) * img(y0, x0) + fx * img(y0, x0 + 1)) +
         fy * ((1 - fx) * img(y0 + 1, x0) + fx * img(y0 + 1, x0 + 1));
}

}  // namespace anchord::internal
