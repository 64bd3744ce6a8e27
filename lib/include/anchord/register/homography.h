#pragma once

#include "anchord/util/geometry.h"

#include <optional>
#include <vector>

namespace anchord {

// Robust estimator of the homography (the homography step of the
// registration pipeline, anchord/pipeline/register_frame.h).
enum class HomographyMethod {
  kLmeds,   // least median of squares, as in Diao et al. 2025
  kRansac,  // OpenCV RANSAC
  kUsac,    // OpenCV USAC MAGSAC++
};
const char* HomographyMethodName(HomographyMethod m);

// Homography image_from_model from point correspondences, H(2,2) = 1.
// With `robust` set, OpenCV's robust estimator (threshold_px is the RANSAC
// / USAC reprojection threshold; LMedS ignores it); without, least squares
// (DLT + Levenberg–Marquardt). False when degenerate or under-determined
// (< 4 points), or when the fit sends any of the model points to or across
// the line at infinity. Handles orientation-reversing maps (model y up, image y
// down), which USAC would otherwise reject.
bool EstimateHomography(const std::vector<Vec2>& model,
                        const std::vector<Vec2>& image,
                        std::optional<HomographyMethod> robust,
                        double threshold_px,
                        Mat3& image_from_model);

// The inlier rule: residual norm ≤ max(k_sigma · σ, floor_px), capped at
// cap_px, where σ = median norm / 1.1774 (the median of a 2-D Gaussian
// residual's norm is 1.1774 σ). Residuals are ours, never a library mask.
std::vector<bool> ResidualInliers(const std::vector<Vec2>& residuals,
                                  double k_sigma,
                                  double floor_px,
                                  double cap_px);

// A homography fitted to fixed correspondences with its inliers.
struct HomographyFit {
  bool ok = false;
  Mat3 image_from_model = Mat3::Identity();
  std::vector<bool> inlier;
  int iterations = 0;
};

// anchord's estimator for fixed correspondences: a robust start, then
// least-squares refits on the inliers (ResidualInliers with k_sigma,
// floor_px, cap_px) until the inlier set is stable (at most
// max_iterations refits).
HomographyFit FitHomographyIterated(const std::vector<Vec2>& model,
                                    const std::vector<Vec2>& image,
                                    HomographyMethod method,
                                    double threshold_px,
                                    double k_sigma,
                                    double floor_px,
                                    double cap_px,
                                    int max_iterations);

}  // namespace anchord
