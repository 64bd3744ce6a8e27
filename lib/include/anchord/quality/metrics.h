#pragma once

#include "anchord/model/lattice_model.h"
#include "anchord/util/geometry.h"

#include <vector>

namespace anchord {

// Per-point Object Keypoint Similarity with scale `kappa` (same unit as
// the distance): exp(−d² / (2 κ²)). Diao et al., Sci. Rep. 15, 13486
// (2025), evaluate with κ = 0.1 unit spacing, so OKS ≥ 0.95 ⇔ d ≤ 0.032.
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

// The local lattice vectors at the frame centre, in raw pixels: the
// Jacobian of image_from_model at the model point under the centre,
// applied to the model's a1 and a2.
struct LocalLattice {
  Vec2 centre_px = Vec2::Zero();
  Vec2 a1_px = Vec2::Zero();
  Vec2 a2_px = Vec2::Zero();
};
// Requires H to be invertible and the frame centre not to lie on its line
// at infinity; a registered frame guarantees both.
LocalLattice LocalLatticeAtCentre(const Mat3& image_from_model,
                                  const LatticeModel& model,
                                  int width,
                                  int height);

}  // namespace anchord
