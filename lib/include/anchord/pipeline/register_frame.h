#pragma once

#include "anchord/correct/warp.h"
#include "anchord/detect/corner_hole_detector.h"
#include "anchord/lattice/lattice_estimate.h"
#include "anchord/model/lattice_model.h"
#include "anchord/preprocess/level.h"
#include "anchord/quality/image_quality.h"
#include "anchord/register/lattice_registration.h"
#include "anchord/sites/adatom_sites.h"
#include "anchord/sites/off_lattice.h"
#include "anchord/util/frame.h"
#include "anchord/util/status.h"

#include <string>
#include <utility>
#include <vector>

namespace anchord {

// Every stage's options for one frame.
struct PipelineOptions {
  LevelOptions level;
  DetectOptions detect;
  LatticeOptions lattice;
  // Pairing lattice points with candidates and the robust homography fit
  // (the register step; RegisterLattice()).
  RegisterOptions homography;
  SitesOptions sites;
  // Off-lattice features (adsorbates, clusters) into sites.off_lattice,
  // after the sites; timed as stage "features" when enabled.
  OffLatticeOptions off_lattice;
  CorrectOptions correct;
  // SSIM against the model, per cell, EMD of the maxima (FrameQuality);
  // timed as stage "quality" when enabled.
  QualityOptions quality;
  // Produce the corrected frame (the warp costs about a frame copy).
  // Default true.
  bool make_corrected = true;
  // Frames whose prior cell length is below this many pixels cannot show
  // a 7×7 lattice and end as no_lattice at once. Default 6; >= 3.
  double min_cell_px = 6.0;
  // When, after a first registration, a row of corner holes (along a1,
  // a2 or a2 − a1) lies within this angle of the fast scan axis, or a √3
  // row (a1 + a2, ...) within half of it, the per-line levelling is
  // redone against the frame's own mean unit cell (Level's
  // lattice_signal, anchord/correct/unit_cell.h) and the lattice located
  // again: near the axis a plain row mean holds the lattice's row profile
  // and moves the holes (by up to 1.2 px at 1°, RMS 0.7 px; 0.17 px RMS
  // at 3°, none left at 4°: bench/level_bias_probe.cc). Costs a fold, a
  // render, a second level → detect → lattice → register, timed as stage
  // "relevel". Needs level.level_lines; 0 = never. Degrees; default 4;
  // in [0, 30].
  double relevel_axis_angle_deg = 4.0;

  Status Validate() const;
};

// Everything one frame yields (README.md, Method (per frame)). On a status
// other than kOk the geometry fields are empty and `status.message()` says
// why.
struct FrameResult {
  Status status;
  int width = 0, height = 0;
  Mat3 image_from_model = Mat3::Identity();
  LatticeEstimate lattice;
  // Candidates before and after the vote filter.
  int candidates = 0, voted_candidates = 0;
  RegisterResult registration;
  SitesResult sites;
  CorrectedFrame corrected;
  // Image quality; computed when options.quality.enabled (otherwise left
  // default-constructed: every figure 0).
  FrameQuality quality;
  // The levelled frame, full size (rows outside the scanned part NaN).
  cv::Mat1f levelled;
  // The scanned part: rows [scanned_row_begin, scanned_row_end), from the
  // first to the last row with at least half its pixels finite (a scan
  // stopped early leaves the rest NaN), and its share of the frame's rows.
  int scanned_row_begin = 0, scanned_row_end = 0;
  double scanned_fraction = 1.0;
  // Wall time per stage in pipeline order, then "total", ms.
  std::vector<std::pair<std::string, double>> timing_ms;
};

// The vote filter and the registration, guarded against the √3 finer
// lattice of corner holes plus half centres: when the first registration
// locked onto it (DetectRootThreeSublattice), the candidates paired in the
// two lighter cosets are dropped and the rest registered again on the
// coarser lattice, so the translation can only land on the corner holes.
struct CornerHoleRegistration {
  LatticeEstimate lattice;  // the lattice finally registered
  int voted_candidates = 0;
  RegisterResult registration;
};
CornerHoleRegistration RegisterCornerHoles(
    const std::vector<Candidate>& candidates,
    const LatticeEstimate& lattice,
    const LatticeModel& model,
    cv::Size frame_size,
    const PipelineOptions& options);

// Runs level → detect → lattice → vote → register → sites → features →
// correct on one frame. Never throws: OpenCV failures become kInternal results.
// Partial frames (issue 13, item 5): rows outside ScannedRows
// (anchord/util/frame.h) are not scanned; the
// stages run on the scanned rows only (with their line times) and every
// pixel position and H are reported in the full frame's pixels. A scanned
// part of fewer than 16 rows or of less than two cells' height ends as
// no_lattice.
// Non-finite pixels: a frame without a finite pixel is invalid input; the
// level stage fills the others within the scanned part (rows with fewer
// than half finite pixels are masked, and a frame with too many masked
// rows is invalid input).
// Bounding their share is the caller's, where the frame enters: the daemon
// refuses frames above its limits.max_nonfinite_fraction within the
// scanned rows at decode, so a frame is not counted twice.
FrameResult RegisterFrame(const Frame& frame,
                          const LatticeModel& model,
                          const PipelineOptions& options);

}  // namespace anchord
