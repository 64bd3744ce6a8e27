#pragma once

#include "anchord/align/isolation_forest.h"
#include "anchord/align/local_consistency.h"
#include "anchord/align/smooth_field.h"
#include "anchord/preprocess/level.h"
#include "anchord/util/frame.h"
#include "anchord/util/geometry.h"

#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace anchord {

// Frame-to-frame deformable alignment after Zhang et al., "A Hybrid Deep
// Feature-Based Deformable Image Registration Method for Pathological
// Images" (Sec. 2): dense matches, outliers rejected for global
// consistency (isolation forest on the displacements) and local
// consistency (affine of the Delaunay neighbours), then a dense
// displacement field (DVF). The learned matchers of the paper are
// replaced by patch correlation and ORB keypoints; no lattice is needed.
//
// Convention: a feature at pixel p of the fixed frame is at pixel
// p + displacement of the moving frame; the translation, the affine and
// the field all say where fixed pixels are in the moving frame.

struct AlignOptions {
  // Levelling of both frames before matching (plane, lines, glitch rows).
  LevelOptions level;
  // Gaussian σ applied to both levelled frames before matching, px: it
  // suppresses white noise and brings frames scanned with different tips
  // (resolutions) to a common one. 0 = none. Default 0; [0, 16].
  double smoothing_px = 0;
  // The coarse shift is found by phase correlation (Hann window) on copies
  // halved until neither side exceeds this, px. Default 256; [32, 65536].
  int coarse_max_side_px = 256;
  // Side of the square patches of the fixed frame matched by normalised
  // cross-correlation, px. Default 32; [8, 256].
  int patch_px = 32;
  // Distance between neighbouring patch origins, px. Default 32; [4, 256].
  int patch_stride_px = 32;
  // Each patch is searched within ± this many px of the coarse shift; keep
  // it below half the lattice period of resolved lattices so a patch
  // cannot jump a cell. Default 6; [1, 7] (2 r + 1 shifts per row fit the
  // correlator's 16 lanes).
  int search_radius_px = 6;
  // A patch match counts only with a correlation peak at least this high.
  // Default 0.3; [-1, 1].
  double min_correlation = 0.3;
  // ORB keypoint matches (Lowe's ratio test) added to the patch matches.
  // Default false: on the synthetic pairs and the real 028 → 032 pair they
  // add ~15 % more matches, no accuracy, and double the time.
  bool keypoints = false;
  // Most ORB keypoints detected per frame. Default 500; [10, 100000].
  int max_keypoints = 500;
  // Lowe's ratio: best / second-best descriptor distance. Default 0.8;
  // (0, 1].
  double ratio_test = 0.8;
  // Global consistency: the isolation forest on the displacements.
  IsolationForestOptions isolation_forest;
  // A match whose anomaly score exceeds this is dropped. Default 0.6
  // (a compact cluster of 300 scores below 0.45; points 25 σ out score
  // above 0.6); (0.5, 1].
  double max_anomaly_score = 0.6;
  // Local consistency of the surviving matches.
  LocalConsistencyOptions local;
  // The dense field from the inliers.
  SmoothFieldOptions field;
  // Compute the dense field (H × W × 2); off, only the affine and the
  // translation are reported. Default true.
  bool compute_field = true;
  // Fewer inliers than this, or a smaller overlap of the two frames under
  // the coarse shift: no_overlap. Defaults 8 and 0.2; >= 3 and in [0, 1].
  int min_inliers = 8;
  double min_overlap_fraction = 0.2;
  // Fewer inlier patch matches than this share of the patches tried (those
  // whose search window lies in the moving frame): no_overlap. Unrelated
  // frames match a few patches by chance; overlapping ones most. Default
  // 0.25; [0, 1].
  double min_matched_fraction = 0.25;
  // Largest relative difference of the two frames' pixel sizes (each
  // axis, when both are known) still aligned. Default 0.01; [0, 1].
  double max_pixel_size_mismatch = 0.01;

  Status Validate() const;
};

enum class AlignStatus { kOk, kNoOverlap, kInvalidInput };
// "ok", "no_overlap", "invalid_input".
const char* AlignStatusName(AlignStatus status);

// Why a match was dropped, or kInlier.
enum class MatchFate { kInlier, kIsolationForest, kLocalAffine };

struct AlignMatch {
  Vec2 fixed_px = Vec2::Zero();
  Vec2 moving_px = Vec2::Zero();
  double correlation = 0;  // NCC peak; 0 for keypoint matches
  bool keypoint = false;   // from ORB, else a patch match
  double anomaly_score = 0;
  MatchFate fate = MatchFate::kInlier;
};

struct AlignTimings {
  double level_ms = 0, coarse_ms = 0, match_ms = 0, outliers_ms = 0,
         field_ms = 0, total_ms = 0;
};

struct AlignResult {
  AlignStatus status = AlignStatus::kInvalidInput;
  std::string message;
  // Phase correlation: the shift and its peak response (near 1 for an
  // exact shift, near 0 for unrelated frames); with a prior used instead,
  // the prior's shift and response 0 (prior_used true).
  bool prior_used = false;
  Vec2 coarse_shift_px = Vec2::Zero();
  double coarse_response = 0;
  // Least-squares affine of the inliers: moving px = affine · (x, y, 1).
  Eigen::Matrix<double, 2, 3> affine = Eigen::Matrix<double, 2, 3>::Zero();
  // Where the fixed frame's centre is in the moving frame, minus the
  // centre: the displacement under the affine, px.
  Vec2 translation_px = Vec2::Zero();
  // Dense field, fixed frame geometry: moving px = p + field(p); CV_32FC2
  // (x, y). Empty unless ok and options.compute_field.
  cv::Mat2f field;
  std::vector<AlignMatch> matches;
  int patches_tried = 0, patch_matches = 0, keypoint_matches = 0;
  int after_isolation_forest = 0, inliers = 0;
  // Share of the fixed frame that the moving frame covers under the
  // translation.
  double overlap_fraction = 0;
  // RMS over inliers of their displacement minus the field (or, without
  // the field, the affine), px; and minus the affine alone, px.
  double residual_px = 0, affine_residual_px = 0;
  AlignTimings timings;
};

// What is known of the shift before aligning (e.g. the drift
// prediction of a session tracker): a feature at the fixed frame's centre
// is expected at its centre + shift_px ± sigma_px in the moving frame.
struct AlignPrior {
  Vec2 shift_px = Vec2::Zero();
  double sigma_px = 0;  // one sigma, px; >= 0 and finite
};

// Aligns `moving` to `fixed`. With a `prior` whose 3 σ fits in the search
// radius, the phase correlation is skipped and the patches are searched
// around the prior's shift: on a periodic lattice whose two images
// differ in resolution, phase correlation can lock on a shift one
// lattice vector off, which a good prior excludes. Never throws; frames of
// different size or pixel size, empty, constant or mostly non-finite frames and
// bad options give kInvalidInput with a reason; frames that do not overlap (too
// few consistent matches) give kNoOverlap.
AlignResult AlignFrames(const Frame& fixed,
                        const Frame& moving,
                        const AlignOptions& options,
                        const AlignPrior* prior = nullptr);

// The stages after matching — isolation forest, local affine, the affine
// and the field — on matches from elsewhere (anchor residuals, tests) in a
// width × height frame; fates and scores are recomputed. kOk or
// kNoOverlap (too few consistent matches); non-finite matches, an empty
// frame or bad options give kInvalidInput. overlap_fraction is 1.
AlignResult AlignMatches(std::vector<AlignMatch> matches,
                         int width,
                         int height,
                         const AlignOptions& options);

// Where `alignment` puts fixed pixel p in the moving frame: p plus the
// field (bilinear between pixels, clamped to the frame) when there is one,
// else the affine.
Vec2 AlignedPosition(const AlignResult& alignment, const Vec2& fixed_px);

// The field of an affine over a width × height frame (moving px − p).
cv::Mat2f AffineField(const Eigen::Matrix<double, 2, 3>& affine,
                      int width,
                      int height);

}  // namespace anchord
