#pragma once

// Unsupervised segmentation of an atomic-resolution frame by symmetry
// descriptors (Wang, Freysoldt and Liebscher, "Semi-automated segmentation
// of atomic-resolution microscopy images with unsupervised machine
// learning"): per pixel, Pearson correlations of the local patch with its
// translated copies (Sec. II A 1) and with its rotated and reflected
// copies, max-pooled for translation invariance (Sec. II A 2); PCA
// (Sec. II B); k-means (Sec. II C); computed on a strided grid and brought
// back to every pixel (Sec. II D).

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <vector>

namespace anchord {

struct SegmentOptions {
  // Nominal pixel size, nm; sets every length below in pixels. > 0.
  double pixel_size_nm = 0.0586;
  // Side of the square patch of the translation scores and radius of the
  // circular patch of the rotation / reflection scores, nm. Default 1.5
  // (about half a 7×7 cell on each side); in [0.2, 20].
  double patch_radius_nm = 1.5;
  // Translation shifts: a grid of shifts_per_axis × shifts_per_axis within
  // ±shift_window_nm along x and y (the shift (0, 0) left out; Sec. II A 1:
  // |m| ≤ wx, |n| ≤ wy). Defaults 3.5 nm (beyond a 7×7 cell of a scanner
  // off by +30 %) and 7; window in [0.1, 50], shifts in [2, 15].
  double shift_window_nm = 3.5;
  int shifts_per_axis = 7;
  // Rotations by 60, 90, 120 and 180° and reflections about six axes 30°
  // apart, scored on the circular patch; on by default.
  bool rotations = true;
  bool reflections = true;
  // Score rotations and reflections in the sample plane rather than in
  // raw pixels: when the frame shows a 7×7 lattice (corner-hole
  // candidates, EstimateLattice), the circular patch becomes the ellipse
  // the scanner's distortion makes of it (area kept), so a 120° turn of a
  // lattice imaged at ~100° between its directions still maps it onto
  // itself, and the lengths above (patch, shifts, pooling) follow the
  // measured cell size rather than the nominal one (real scanners are off
  // by tens of percent). The distortion is the scanner's, common to all
  // domains. Default true.
  bool undistort_from_lattice = true;
  // Max-pooling radius of the rotation / reflection scores, nm. Default
  // 2.0 (a 7×7 cell's reach); in [0, 50].
  double pool_radius_nm = 2.0;
  // Descriptors are computed every `stride_px` pixels along both axes and
  // brought back to every pixel (Sec. II D). Default 4; in [1, 64].
  int stride_px = 4;
  // Principal components kept (Sec. II B). Default 4; in [1, 32].
  int pca_components = 4;
  // Number of classes. 0: chosen from 1…max_classes as the largest k
  // reached by adding classes while each k-means run leaves at most
  // max_inertia_ratio of the within-class sum of squares of the run with
  // one class fewer (the paper leaves k to the user). On the synthetic
  // two-region frames of the tests the second class leaves 0.30–0.41, a
  // third 0.70–0.79; one domain split in two leaves 0.68. Defaults 0, 4,
  // 0.55; classes in [0, 16], max_classes in [1, 16], ratio in (0, 1).
  int classes = 0;
  int max_classes = 4;
  double max_inertia_ratio = 0.55;
  // k-means: restarts (best inertia wins) and Lloyd iterations per start;
  // seed of the k-means++ initialisation. Defaults 4, 50, 1.
  int kmeans_attempts = 4;
  int kmeans_iterations = 50;
  uint64_t seed = 1;

  Status Validate() const;
};

// One class of the segmentation.
struct SegmentClass {
  int label = 0;
  double area_fraction = 0;  // of the finite pixels
  // Mean max-pooled rotation scores of the class at 120° and 90°. A class
  // looks like 7×7 when it is 3-fold symmetric (120° score ≥ 0.6) and more
  // 3-fold than 4-fold (120° score above the 90° score): on synthetic 7×7
  // the 120° score is 0.72–0.80 and the 90° score 0.10–0.19 lower; on a
  // disordered surface of the same bumps both are ~0.4 (the pooled
  // maximum of chance correlations).
  double rotation_120_score = 0;
  double rotation_90_score = 0;
  bool looks_7x7 = false;
};

struct SegmentResult {
  Status status;
  // H × W labels 0…classes − 1; −1 where the frame is not finite.
  cv::Mat1i labels;
  std::vector<SegmentClass> classes;
  // The map from the sample-plane patch to image pixels used for the
  // rotation / reflection scores (identity: none found or not asked).
  Mat2 image_from_sample = Mat2::Identity();
  // Measured over nominal cell length (1: none found or not asked).
  double cell_scale = 1.0;
  // Descriptor length and the PCA's explained variance fraction.
  int descriptor_length = 0;
  double explained_variance = 0;
};

// Segments `image` (non-finite pixels are their own label −1). Never
// throws; kInvalidInput for bad options or a frame smaller than the patch.
SegmentResult SegmentFrame(const cv::Mat1f& image,
                           const SegmentOptions& options);

}  // namespace anchord
