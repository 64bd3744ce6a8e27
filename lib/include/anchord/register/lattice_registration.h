#pragma once

#include "anchord/detect/corner_hole_detector.h"
#include "anchord/lattice/lattice_estimate.h"
#include "anchord/model/lattice_model.h"
#include "anchord/register/homography.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <vector>

namespace anchord {

struct RegisterOptions {
  HomographyMethod method = HomographyMethod::kLmeds;
  // Pairing gate: a candidate pairs with a lattice point when it lies
  // within this fraction of the shortest lattice vector of the predicted
  // position. Default 0.3; in (0, 0.5).
  double gate_fraction = 0.3;
  // Radius of the first pairing window around the frame centre, in cells;
  // the window grows by `window_growth` per round until it covers the
  // frame. Defaults 2.5 and 1.6; > 1 and > 1.
  double initial_window_cells = 2.5;
  double window_growth = 1.6;
  // RANSAC / USAC reprojection threshold as a fraction of the shortest
  // lattice vector. Default 0.1; in (0, 0.5).
  double ransac_threshold_fraction = 0.1;
  // Inliers of the final fit are pairs whose residual is below
  // max(inlier_sigmas · robust residual sigma, min_inlier_px), capped at
  // the gate. Defaults 3.5 and 0.5 px.
  double inlier_sigmas = 3.5;
  double min_inlier_px = 0.5;
  // Pair → fit rounds over the whole frame until the inlier set is
  // stable. Default 8; >= 1.
  int max_iterations = 8;
  // Fewest inlier pairs accepted. Default 6; >= 4 (a homography needs 4).
  int min_inliers = 6;
  // Least share of the lattice points inside the frame that must have a
  // paired corner hole (H inliers plus propagated pairs); below it the
  // frame shows no registrable lattice (grainy images, wrong surface).
  // Default 0.5; in (0, 1].
  double min_paired_fraction = 0.5;
  // Pair lattice points that the homography alone misses (creep at the
  // start of a frame) by propagating neighbours' residuals. Default true.
  bool propagate_residuals = true;

  Status Validate() const;
};

// A lattice point (i, j) of the model and the candidate paired with it.
struct HolePair {
  int i = 0, j = 0;
  Vec2 model_nm;
  Vec2 detected_px;
  // Index of the paired candidate in the candidate list.
  int candidate = -1;
  // Residual detected − H·model, px, recomputed after the final fit.
  Vec2 residual_px = Vec2::Zero();
  // True when the pair is an inlier of the final homography; false for
  // pairs found only by residual propagation (non-rigid regions).
  bool inlier = false;
};

struct RegisterResult {
  Status status;
  // Model nm → raw image px, H(2,2) = 1 (README.md, Conventions).
  Mat3 image_from_model = Mat3::Identity();
  std::vector<HolePair> pairs;
  int inliers = 0;
  // RMS of the inliers' residuals, px and nm (in the model plane).
  double residual_rms_px = 0;
  double residual_rms_nm = 0;
  int iterations = 0;
};

// Rough placement A from the lattice estimate, translation search over one
// cell, k-d pairing with a gate, robust homography, then pair → refit over
// the whole frame until stable (Diao et al., Sci. Rep. 15, 13486 (2025),
// Methods; the rough placement and homography steps of the registration
// pipeline, anchord/pipeline/register_frame.h).
RegisterResult RegisterLattice(const std::vector<Candidate>& candidates,
                               const LatticeEstimate& lattice,
                               const LatticeModel& model,
                               cv::Size frame_size,
                               const RegisterOptions& options);

}  // namespace anchord
