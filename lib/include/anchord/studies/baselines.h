#pragma once

// Building blocks of the baseline comparison on synthetic drifting
// sequences (`anchord study baselines`): the sequence itself, the two
// conventional frame-to-frame estimators (OpenCV phase correlation, SIFT +
// RANSAC homography) and the errors against ground truth. The loop that
// runs anchord::RegisterFrame lives in the caller (pipeline is a higher
// layer than quality).
//
// Conventions: `frame_from_reference` maps pixels of the reference frame
// (frame 0) to pixels of frame k showing the same sample point. Errors are
// distances in the sample plane, nm, measured through the TRUE map of the
// frame where they are taken.

#include "anchord/model/lattice_model.h"
#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>
#include <opencv2/features2d.hpp>

#include <optional>
#include <vector>

namespace anchord {

// A sequence of scans of one synthetic sample under a constant distortion
// while the sample drifts.
struct DriftSequenceOptions {
  // Frame 0: size, distortion, noise levels and the structure seed. The
  // same `scan.seed` (structure, vacancies) is used for every frame; each
  // frame gets its own noise_seed. adsorbates must be 0: the generator
  // places them in frame pixels, so they would not move with the sample.
  SyntheticScanOptions scan;
  // Number of frames; >= 2.
  int frames = 20;
  // The sample point under the frame centre moves by this much per frame,
  // nm (frame k shows offset_nm + k · drift). Each component's magnitude
  // <= half the 7×7 lattice constant (1.344 nm), so the lattice translation
  // between consecutive frames stays unambiguous.
  Vec2 drift_nm_per_frame = Vec2(0.31, -0.19);

  Status Validate() const;
};

// The generator options of frame k (0-based): offset drifted, noise_seed
// derived from (scan.seed, k) and never 0.
SyntheticScanOptions DriftFrameOptions(const DriftSequenceOptions& options,
                                       int k);

// The rigid shift found by cv::phaseCorrelate(reference, frame, window) as a
// frame_from_reference translation. `window` is empty or a CV_32F window of
// the frames' size (e.g. cv::createHanningWindow). Both frames the same
// size, float. The frames are left untouched (cv::phaseCorrelate itself
// multiplies its inputs by the window in place; this passes copies).
Mat3 PhaseCorrelationMap(const cv::Mat1f& reference,
                         const cv::Mat1f& frame,
                         const cv::Mat& window);

// SIFT keypoints + descriptors of a reference frame, matched against later
// frames: approximate nearest neighbours (FLANN k-d trees over the
// reference descriptors, built once), Lowe's ratio test, then a RANSAC
// homography. Match() is const but not thread-safe (FLANN search state).
class SiftFrameMatcher {
 public:
  struct Options {
    // Lowe ratio: keep a match when best < ratio · second best; (0, 1).
    double ratio = 0.75;
    // RANSAC reprojection threshold, px; > 0.
    double ransac_threshold_px = 3.0;
    // Fewest ratio-test matches to attempt a homography; >= 4.
    int min_matches = 8;
  };

  // Detects and describes the reference frame once.
  SiftFrameMatcher(const cv::Mat1f& reference, const Options& options);
  // frame_from_reference, or nullopt with too few matches or a failed fit.
  std::optional<Mat3> Match(const cv::Mat1f& frame) const;
  int reference_keypoints() const {
    return static_cast<int>(reference_keypoints_.size());
  }

 private:
  Options options_;
  cv::Ptr<cv::SIFT> sift_;
  cv::Ptr<cv::FlannBasedMatcher> matcher_;
  std::vector<cv::KeyPoint> reference_keypoints_;
  cv::Mat reference_descriptors_;
};

// 8-bit version of a float frame for feature detectors: the 1 % and 99 %
// quantiles of the finite pixels map to 0 and 255 (clamped); non-finite
// pixels 0.
cv::Mat1b FrameToGrey(const cv::Mat1f& image);

// An occupied adatom visible in both frames: its true pixel position in
// the reference frame and in frame k, and the true map of frame k.
struct TrackedAdatom {
  Vec2 reference_px;
  Vec2 frame_px;
};

// The occupied adatoms of `frame` lying at least `border_px` inside both
// `frame` and `reference` (same sample; matched by model position).
std::vector<TrackedAdatom> CommonAdatoms(const SyntheticScan& reference,
                                         const SyntheticScan& frame,
                                         double border_px);

// Sample-plane length (nm) of the pixel offset `d_px` taken at pixel p of
// a frame whose true projective map is `image_from_model`.
double PixelOffsetNm(const Mat3& image_from_model,
                     const Vec2& p_px,
                     const Vec2& d_px);

// Errors (nm) of positions estimated by mapping each adatom's reference
// position through `frame_from_reference`.
std::vector<double> MappedAdatomErrorsNm(
    const std::vector<TrackedAdatom>& adatoms,
    const Mat3& frame_from_reference,
    const Mat3& true_image_from_model);

// Every point of `points` mapped through h; points that h sends to (or
// near) infinity are left out.
std::vector<Vec2> MapPoints(const Mat3& h, const std::vector<Vec2>& points);

// Errors (nm) of reported positions: each adatom's nearest reported
// position within `match_nm`; adatoms without one are counted in
// `*missed`.
std::vector<double> ReportedAdatomErrorsNm(
    const std::vector<TrackedAdatom>& adatoms,
    const std::vector<Vec2>& reported_px,
    const Mat3& true_image_from_model,
    double match_nm,
    int* missed);

// |est⁻¹(p) − true⁻¹(p)| (nm) over a grid × grid lattice of pixels p
// spanning the frame inset by `inset` of its size on every side: how far
// apart the two image_from_model maps put the sample point seen at p.
// +inf where the estimate sends p to infinity.
std::vector<double> DistortionErrorsNm(const Mat3& estimated_image_from_model,
                                       const Mat3& true_image_from_model,
                                       cv::Size frame_size,
                                       int grid = 16,
                                       double inset = 0.05);

// An image_from_model map brought to the symmetry-equivalent nearest the
// truth. A periodic lattice fixes H only up to a lattice translation and
// the rotations of the adatom pattern (multiples of 60° about a corner hole
// when only positions count; 120° keeps the faulted half). The result is
// H·S⁻¹ for the symmetry S = (rotation, then translation by i·a1 + j·a2)
// with S(H⁻¹(c)) nearest true⁻¹(c) at the frame centre c (S without
// translation when that is not finite or beyond ±2^30 cells).
struct LatticeEquivalent {
  Mat3 image_from_model = Mat3::Identity();
  int rotation_60 = 0;           // S's rotation in units of 60°, 0..5
  int shift_i = 0, shift_j = 0;  // S's translation in cells
};
LatticeEquivalent NearestLatticeEquivalent(const Mat3& estimated,
                                           const Mat3& truth,
                                           const LatticeModel& model,
                                           const Vec2& centre_px);

}  // namespace anchord
