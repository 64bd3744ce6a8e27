#pragma once

// Image quality of a registered frame (issue 13, item 3; the structure-
// focused matching of Schwenker et al., seed 002): SSIM (Wang et al.,
// IEEE TIP 13, 600 (2004)) of the levelled frame against the 7×7 model
// rendered through the frame's H, per frame and per cell, and the earth
// mover's distance (Rubner et al., IJCV 40, 99 (2000)) between the
// frame's detected intensity maxima and the model's adatom sites. A
// double tip, a blunt tip or a noise burst lowers the SSIM; a tip change
// between frames of a session is a sharp drop (TipChangeMonitor).

#include "anchord/model/lattice_model.h"
#include "anchord/sites/adatom_sites.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <cstddef>
#include <deque>
#include <vector>

namespace anchord {

struct QualityOptions {
  // Compute the quality in RegisterFrame (stage "quality"). Default true.
  bool enabled = true;
  // Standard deviation of SSIM's Gaussian window, nm. Default 0.3 (about
  // an adatom's reach); in [0.05, 2].
  double ssim_window_nm = 0.3;
  // A cell whose mean SSIM is below this is counted low. Default 0.3; in
  // [-1, 1].
  double low_cell_ssim = 0.3;
  // The EMD's ground distance is saturated at this distance, nm (a
  // maximum farther from every site than this is as wrong as any).
  // Default 0.384 (half the adatom spacing); in (0, 2].
  double emd_cap_nm = 0.384;

  Status Validate() const;
};

struct FrameQuality {
  Status status;
  // Mean SSIM over the frame (2 window σ from its border), in [-1, 1]: 1
  // when the levelled frame equals the model rendered through H up to
  // offset and scale.
  double ssim = 0;
  // Per cell: the SSIM map averaged over each lattice cell inside the
  // frame; their count, median, 10th percentile, minimum, and the share
  // below QualityOptions::low_cell_ssim.
  int cells = 0;
  double cell_ssim_median = 0, cell_ssim_p10 = 0, cell_ssim_min = 0;
  double low_cell_fraction = 0;
  // Earth mover's distance between the detected maxima and the model's
  // adatom sites (occupied or not), unit masses, ground distance
  // saturated at emd_cap_nm, mean cost per unit of flow, nm; computed on
  // both sets one adatom spacing inside the frame.
  double emd_nm = 0;
  int maxima = 0, model_sites = 0;
  // Detected intensity maxima, raw px (sub-pixel).
  std::vector<Vec2> maxima_px;
  // False when a cluster of mutually close points was too large for the
  // exact assignment and was matched greedily (an upper bound).
  bool emd_exact = true;
};

// The Si(111)-7×7 model's height (adatoms as Gaussians of σ 0.17 nm,
// the faulted half T1 higher by `faulted_contrast`, corner holes 1.6 deep
// of σ 0.30 nm) rendered at every pixel of a frame of `size` through
// image_from_model. Empty when H is singular.
cv::Mat1f RenderModelTemplate(const LatticeModel& model,
                              const Mat3& image_from_model,
                              cv::Size size,
                              double pixel_nm,
                              double faulted_contrast);

// SSIM map of two images of one size (Gaussian window σ = window_px),
// each standardised to zero mean and unit spread first; constants
// C1 = (0.01 L)², C2 = (0.03 L)² with the dynamic range L = 6. With
// shrink f > 1 the local moments (of every pixel's products) are box-
// averaged over f × f and then blurred, and the map has size
// (cols / f, rows / f): the same window at 1/f² of the cost.
cv::Mat1f SsimMap(const cv::Mat1f& a,
                  const cv::Mat1f& b,
                  double window_px,
                  int shrink = 1);

// Local maxima of `smoothed` (strict maxima of a disc of radius
// min_separation_px) above the image's median, sub-pixel by a quadratic
// fit over 3 × 3, at least 2 px inside the frame.
std::vector<Vec2> DetectMaxima(const cv::Mat1f& smoothed,
                               double min_separation_px);

// Earth mover's distance between two point sets with unit masses: the
// least mean cost of moving min(|a|, |b|) units, ground distance
// min(‖p − q‖, cap). Exact: the points split into clusters linked by
// distances below cap, each solved by the Hungarian method; clusters of
// more than `max_cluster` points are matched greedily (*exact = false).
// 0 for an empty set.
double SaturatedEmd(const std::vector<Vec2>& a,
                    const std::vector<Vec2>& b,
                    double cap,
                    bool* exact = nullptr,
                    int max_cluster = 256);

// The quality of a registered frame: `levelled` (finite), its sites (H
// after the canonical turn, T1 faulted; smoothed frame) and pixel size.
FrameQuality AssessQuality(const cv::Mat1f& levelled,
                           const SitesResult& sites,
                           const LatticeModel& model,
                           double pixel_nm,
                           const QualityOptions& options);

// Options of TipChangeMonitor: a tip change in a session is a frame whose
// SSIM lies more than `drop` below the median SSIM of the session's last
// `history` registered frames.
struct TipChangeOptions {
  // SSIM drop below the recent median that flags a change. Default 0.15;
  // in (0, 2].
  double drop = 0.15;
  // Frames in the recent median. Default 8; in [1, 1000].
  int history = 8;
  // Frames needed before anything is flagged. Default 3; in [1, history].
  int min_history = 3;

  Status Validate() const;
};

class TipChangeMonitor {
 public:
  explicit TipChangeMonitor(TipChangeOptions options = {});
  // Adds one frame's SSIM; true when it is a tip change: more than
  // options.drop below the recent median while the previous frame was
  // not. Every frame enters the history (bounded), so a lasting change is
  // flagged once and the new tip becomes the reference after about
  // history / 2 frames; the change ends when a frame is back within
  // drop / 2 of the median. Non-finite values are ignored (false).
  bool Update(double ssim);
  // The recent median, 0 before the first frame.
  double reference() const;

 private:
  TipChangeOptions options_;
  std::deque<double> recent_;
  bool in_change_ = false;
};

}  // namespace anchord
