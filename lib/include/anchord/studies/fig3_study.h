#pragma once

// The accuracy study of Diao et al., Sci. Rep. 15, 13486 (2025), Fig. 3:
// how well a homography estimated from noisy anchor points reconstructs
// the model.
//
// Protocol (one sample of one cell (σ, N)):
//   1. Model P_m: an n×n grid (N = n²) of unit spacing, centred on the
//      origin (AnchorGrid).
//   2. A random homography H (RandomFig3Homography; distribution in
//      Fig3Options) gives the true image points P_e = H(P_m).
//   3. The detection error: independent Gaussian noise of std σ on both
//      coordinates of every P_e (image units ≈ unit spacings, because the
//      random H keeps the scale near 1).
//   4. H_est is estimated from the pairs (P_m, noisy P_e).
//   5. The model is reconstructed as P_t = H_est⁻¹(P_e) from the TRUE
//      image points and compared with P_m in unit spacings. (Mapping the
//      noisy points back instead would make every N = 4 sample exact — a
//      4-point homography interpolates its points — while Diao et al.
//      2025 report N = 4 errors growing with σ; and H_est⁻¹(P_e) − P_m is
//      the error a registered image actually carries.)
// The error is measured at two point sets: "fitted" (the N anchors) and
// "field" (a field_grid × field_grid grid over the field of view: the
// anchors' extent plus field_margin on every side, where a frame's pixels
// lie too).
//
// Metrics per cell, pooled over all points of all samples: MAE (mean
// Euclidean distance), the median over samples of the per-sample MAE, and
// recall at OKS thresholds 0.5, 0.75, 0.95 with OKS = exp(−d²/(2κ²)), κ =
// 0.1 unit spacings (OKS ≥ 0.95 ⇔ d ≤ 0.0320). A sample whose estimate
// fails (degenerate fit, or a point mapped to infinity) counts as a miss
// for every point and is left out of both MAE figures; `failures` counts
// them.
//
// Reproducible: every sample draws from its own generator seeded by (seed,
// N, sample index) — the same homography and the same unit noise draws for
// every σ and every estimator (common random numbers), independent of the
// order in which cells are run. Same binary → same numbers.

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace anchord {

// Homography estimators compared by the study.
enum class Fig3Estimator {
  kLmeds,         // OpenCV LMedS alone (Diao et al. 2025); OpenCV
                  // polishes the LMedS model by Levenberg–Marquardt on
                  // its own inliers
  kAnchord,       // FitHomographyIterated's algorithm: LMedS start, then
                  // least-squares refits on our residual inliers until
                  // stable (guarded against degenerate refits, see .cc)
  kLeastSquares,  // DLT + Levenberg–Marquardt on all points, no rejection
  kRansac,        // OpenCV RANSAC
  kUsac,          // OpenCV USAC MAGSAC++
};
// "lmeds" | "anchord" | "lsq" | "ransac" | "usac".
const char* Fig3EstimatorName(Fig3Estimator e);
std::optional<Fig3Estimator> ParseFig3Estimator(std::string_view name);

// Where the reconstruction error is measured.
enum class Fig3Where { kFitted, kField };
const char* Fig3WhereName(Fig3Where w);  // "fitted" | "field"

struct Fig3Options {
  // Noise std σ per coordinate, unit spacings; each >= 0.
  std::vector<double> sigmas = {0, 0.01, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2};
  // Anchor counts N; each a perfect square >= 4 and <= 10000.
  std::vector<int> counts = {4, 9, 16, 25, 36, 64, 100};
  // Estimators, in report order; not empty, no repeats. Default: the
  // paper's LMedS, anchord's estimator, and least squares on all points
  // (the maximum-likelihood fit for this noise without outliers: the
  // reference the robust estimators should reach).
  std::vector<Fig3Estimator> estimators = {Fig3Estimator::kLmeds,
                                           Fig3Estimator::kAnchord,
                                           Fig3Estimator::kLeastSquares};
  // Random samples per (σ, N) cell. Default 10000 (Diao et al. 2025);
  // >= 1.
  int samples = 10000;
  // Seed of every random draw.
  uint64_t seed = 1;
  // OKS scale κ, unit spacings. Default 0.1 (Diao et al. 2025); > 0.
  double kappa = 0.1;

  // Field of view: field_grid × field_grid points spanning the anchors'
  // square extent plus field_margin unit spacings on every side. Defaults
  // 10 (>= 2) and 0.5 (>= 0: a frame reaches about half a spacing beyond
  // its outermost anchors).
  int field_grid = 10;
  double field_margin = 0.5;

  // The random homography H = T·P·R(θ)·Sh·S·F, applied to the centred
  // grid, with F = diag(1, −1): model y up, image y down, so H reverses
  // orientation as every real frame's does (README.md, Conventions);
  //   S = diag(sx, sy), sx, sy log-uniform in [1/max_scale, max_scale];
  //   Sh: x += s·y, s uniform in [−max_shear, max_shear];
  //   R(θ): θ uniform in [−max_rotation_deg, max_rotation_deg];
  //   P: projective divisor w = 1 + g·x + h·y whose relative change across
  //      the field's half-diagonal is uniform in [0, max_perspective], in a
  //      uniform direction;
  //   T: translation uniform in [−max_translation, max_translation]².
  // Defaults 1.25 (>= 1), 0.2 (in [0, 0.5]), 180 (in [0, 180]), 0.1 (in
  // [0, 0.5)), 2 (>= 0). "Moderate": local spacings stay within ~0.7–1.4.
  double max_scale = 1.25;
  double max_shear = 0.2;
  double max_rotation_deg = 180;
  double max_perspective = 0.1;
  double max_translation = 2;

  // kRansac / kUsac reprojection threshold, unit spacings. Default 0.1
  // (RegisterOptions::ransac_threshold_fraction); > 0.
  double ransac_threshold = 0.1;
  // kAnchord: FitHomographyIterated parameters, mirroring RegisterOptions
  // (inlier_sigmas 3.5; min_inlier_px 0.5 px ≈ 0.02 of a 25 px cell; the
  // pairing gate 0.3 of a cell caps the inlier radius; 8 iterations).
  // > 0, > 0, > anchord_min_inlier, >= 1.
  double anchord_inlier_sigmas = 3.5;
  double anchord_min_inlier = 0.02;
  double anchord_max_inlier = 0.3;
  int anchord_max_iterations = 8;

  Status Validate() const;
};

// The centred n×n unit grid of N = n² anchors, row by row. Requires N a
// perfect square >= 1 (checked).
std::vector<Vec2> AnchorGrid(int count);

// The field of view of an N-anchor grid: field_grid² points spanning
// [−h, h]², h = (n − 1)/2 + field_margin.
std::vector<Vec2> FieldGrid(int count, const Fig3Options& options);

// One random homography (distribution in Fig3Options) for a field of
// half-side `field_half_side` unit spacings; H(2,2) = 1.
Mat3 RandomFig3Homography(const Fig3Options& options,
                          double field_half_side,
                          std::mt19937_64& rng);

// One sample: the anchors, the true map and the noisy image points.
struct Fig3Sample {
  std::vector<Vec2> model;  // P_m
  Mat3 image_from_model;    // the true H
  std::vector<Vec2> image;  // H(P_m) + noise
};

// Sample `index` of the cell (σ, N). Deterministic in (options.seed, N,
// index); σ only scales the unit noise draws.
Fig3Sample MakeFig3Sample(const Fig3Options& options,
                          int count,
                          double sigma,
                          int64_t index);

// H_est (image_from_model, H(2,2) = 1) from the pairs, or nullopt when the
// estimator fails.
std::optional<Mat3> EstimateFig3Homography(Fig3Estimator estimator,
                                           const Fig3Options& options,
                                           const std::vector<Vec2>& model,
                                           const std::vector<Vec2>& image);

// |H_est⁻¹(H_true(q)) − q| for every q of `points`; +inf where a point
// maps to (or near) the line at infinity of either map.
std::vector<double> ReconstructionErrors(const Mat3& estimated,
                                         const Mat3& truth,
                                         const std::vector<Vec2>& points);

// Aggregated metrics of one (estimator, σ, N, where) combination.
struct Fig3Row {
  Fig3Estimator estimator = Fig3Estimator::kLmeds;
  double sigma = 0;
  int count = 0;
  Fig3Where where = Fig3Where::kFitted;
  double mae = 0;         // pooled mean distance, unit spacings
  double mae_median = 0;  // median over samples of the per-sample MAE
  double oks50 = 0, oks75 = 0, oks95 = 0;  // recall at OKS >= 0.5/0.75/0.95
  int samples = 0;
  int failures = 0;
};

// Accumulates per-sample errors into a Fig3Row.
class Fig3Accumulator {
 public:
  explicit Fig3Accumulator(double kappa);
  // The errors of one sample's points (all finite).
  void AddSample(const std::vector<double>& errors);
  // A sample whose estimate failed: `points` misses.
  void AddFailure(int points);
  // Fills the metric fields of `row` (mae, mae_median, oks*, samples,
  // failures); the MAE figures are NaN when no sample succeeded.
  void Finish(Fig3Row& row) const;

 private:
  double kappa_;
  double error_sum_ = 0;
  int64_t error_points_ = 0;
  int64_t total_points_ = 0;
  int64_t hits_[3] = {0, 0, 0};
  std::vector<double> sample_mae_;
  int failures_ = 0;
};

// Runs every estimator on `options.samples` samples of the cell (σ, N).
// Rows in order estimator × {fitted, field}.
std::vector<Fig3Row> RunFig3Cell(const Fig3Options& options,
                                 int count,
                                 double sigma);

// All cells, σ-major then N, rows of each cell as RunFig3Cell. Requires
// options.Validate().ok() (checked).
std::vector<Fig3Row> RunFig3Study(const Fig3Options& options);

}  // namespace anchord
