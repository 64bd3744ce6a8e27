#pragma once

#include <vector>

#include "anchord/util/geometry.h"

namespace anchord {

// Per-point Object Keypoint Similarity with scale `kappa` (same unit as
// the distance): exp(−d² / (2 κ²)). Seed 000 evaluates with κ = 0.1 unit
// spacing, so OKS ≥ 0.95 ⇔ d ≤ 0.032.
double Oks(double distance, double kappa);

// Mean absolute (Euclidean) error between corresponding points.
double MeanAbsoluteError(const std::vector<Vec2>& estimated,
                         const std::vector<Vec2>& truth);

// Share of corresponding points with OKS ≥ threshold.
double OksRecall(const std::vector<Vec2>& estimated,
                 const std::vector<Vec2>& truth,
                 double kappa,
                 double threshold);

// Root mean square of vector lengths.
double Rms(const std::vector<Vec2>& residuals);

// Scanner calibration from H: how the nominal axes differ from the true
// lattice. scale_x/y: true/nominal displacement per nominal nm along the
// image axes; nonorthogonality: deviation of the angle between the scan
// axes from 90°; rotation: of the model x axis in the image.
struct Calibration {
  double scale_x = 1, scale_y = 1;
  double nonorthogonality_deg = 0;
  double rotation_deg = 0;
};
Calibration CalibrationFromHomography(const Mat3& image_from_model,
                                      const Vec2& at_px,
                                      double pixel_size_x_nm,
                                      double pixel_size_y_nm);

}  // namespace anchord
