#pragma once

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <vector>

namespace anchord {

// Options of the dense displacement field interpolated from matches
// (the DVF of Zhang et al., "A Hybrid Deep Feature-Based Deformable Image
// Registration Method for Pathological Images", Sec. 2.3, here a
// smoothing thin-plate spline).
struct SmoothFieldOptions {
  // Smoothing weight λ of the thin-plate spline, in units of the kernel on
  // coordinates scaled to the frame diagonal; 0 interpolates the matches
  // exactly. Default 1e-4; [0, 1].
  double smoothing = 1e-4;
  // The spline is evaluated every grid_step_px pixels and interpolated
  // bilinearly in between (the field is smooth on that scale). Default 16;
  // [1, 64].
  int grid_step_px = 16;
  // At most this many matches enter the spline (an even subset beyond);
  // the solve is cubic in it, the evaluation linear. Default 200;
  // [3, 4000].
  int max_points = 200;

  Status Validate() const;
};

// A thin-plate spline d(p) = a0 + A p + Σ w_k φ(|p − p_k|), φ(r) = r² log r,
// fitted to displacements d_k at points p_k (pixels) with smoothing.
class ThinPlateSpline {
 public:
  // Fits both components. Needs at least 3 finite points not all on one
  // line; otherwise ok() is false and At() returns the mean displacement
  // (zero when there is none).
  ThinPlateSpline(const std::vector<Vec2>& points_px,
                  const std::vector<Vec2>& displacement_px,
                  double smoothing,
                  double length_scale_px);
  bool ok() const { return ok_; }
  Vec2 At(const Vec2& p_px) const;

 private:
  bool ok_ = false;
  double scale_ = 1;           // px per normalised unit
  std::vector<Vec2> centres_;  // normalised
  Eigen::MatrixX2d weights_;   // one row per centre
  Eigen::Matrix<double, 3, 2> affine_ = Eigen::Matrix<double, 3, 2>::Zero();
  Vec2 mean_ = Vec2::Zero();
};

// The dense field over a width × height frame: CV_32FC2, channel 0 = x,
// channel 1 = y displacement at each pixel, from the spline of the
// matches. Requires options.Validate().ok() (checked), width, height > 0.
cv::Mat2f DenseField(const std::vector<Vec2>& points_px,
                     const std::vector<Vec2>& displacement_px,
                     int width,
                     int height,
                     const SmoothFieldOptions& options);

}  // namespace anchord
