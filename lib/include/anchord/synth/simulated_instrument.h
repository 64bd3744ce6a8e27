#pragma once

// A virtual Si(111)-7×7 sample under a drifting, creeping scanner that
// scans frames one after another and takes drift compensation as a
// controller would set it in a closed drift loop. Deterministic for given
// options; no clocks of its own: time advances by the scan.
//
// Coordinates:
// - Scanner coordinates: nm, x right, y up, what the controller commands.
//   Pixel (x, y) of a frame is commanded at
//     q = scan_offset + (pixel_size · (x − cx), pixel_size · (cy − y))
//   with (cx, cy) the frame centre (scan angle 0).
// - Sample model coordinates: the generator's model plane (nm, origin at
//   a corner hole, x along a1, y up), in which vacancies and adsorbates
//   are fixed for a given scan.seed.
// - Physics: the sample point imaged at commanded position q at time t is
//     m = model_from_scanner · (q − d(t) + c(t) − lag(t))
//   where model_from_scanner is the (distorted) scanner's fixed linear map
//   (from scan.rotation_deg, scale errors, shear), d(t) the thermal drift
//   displacement, c(t) the accumulated drift compensation and lag(t) the
//   piezo creep after scan offset changes. A perfect compensation c = d
//   freezes the image. Hence a fixed sample point appears at commanded
//   position q = model_from_scanner⁻¹·m + (d − c + lag)(t): the image
//   moves with d − c + lag, by diag(1, −1) · that / pixel_size in pixels.
// - Time: frame k starts at start_unix_s + k · (height_px · line_time_s +
//   frame_gap_s); row y is scanned from start + y · line_time_s, and is
//   rendered as seen at start + (y + 1/4) · line_time_s (the middle of its
//   forward trace). d, c and lag are held constant within a row.

#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace anchord {

struct SimulatedInstrumentOptions {
  // The frames: size, field of view, scanner distortion (rotation_deg,
  // scale_error_x/y, shear; perspective must be 0), noise, blur,
  // vacancy_fraction, adsorbates_per_cell, faulted half and seed (the
  // sample's fixed defect population). offset_nm, row_shift_nm,
  // noise_seed, creep_px and adsorbates are set per frame by the
  // instrument; their values here are ignored.
  SyntheticScanOptions scan;
  // Period of one scan line (forward + backward trace), s. Default 0.2;
  // > 0.
  double line_time_s = 0.2;
  // Dead time between the end of one frame and the start of the next, s.
  // Default 1; >= 0.
  double frame_gap_s = 1.0;
  // Thermal drift velocity at the start, scanner coordinates, nm/s.
  // Default (2, 1) nm/min.
  Vec2 drift_nm_per_s = Vec2(2.0 / 60.0, 1.0 / 60.0);
  // Random walk of the drift velocity: standard deviation of its change
  // over one second, nm/s per √s. Default 2e-5; >= 0.
  double drift_walk_nm_per_s_per_sqrt_s = 2e-5;
  // After a scan offset change Δ the piezo lags by creep_fraction · Δ,
  // decaying as exp(−t / creep_tau_s). Default 0.02; in [0, 0.5].
  double creep_fraction = 0.02;
  // Decay time of that creep, s. Default 60; > 0.
  double creep_tau_s = 60.0;
  // Acquisition clock of the first frame's start, s since the Unix epoch.
  // Default 1.8e9; > 0.
  double start_unix_s = 1.8e9;
  // Seed of the drift random walk. Default 1.
  uint64_t seed = 1;
  // Share of frames scanned with a tip that does not resolve the 7×7 (a
  // blunt or changed tip): those frames are rendered with blur_nm =
  // unresolved_blur_nm. The first two frames are sharp (a session starts
  // with a good tip, and its drift is measured); from frame 2 on, frame k
  // is blunt when floor((k − 1) · f) > floor((k − 2) · f): that share,
  // evenly spread. Default 0; [0, 1].
  double unresolved_fraction = 0;
  // Tip blur of those frames (Gaussian σ), nm. Default 1.0; > 0.
  double unresolved_blur_nm = 1.0;

  // Lists every violation (scan included, its per-frame fields aside).
  Status Validate() const;
};

// One lattice defect or adsorbate of the virtual sample.
struct SampleDefect {
  enum class Kind { kVacancy, kAdsorbate };
  Kind kind = Kind::kVacancy;
  Vec2 model_nm;  // position in the sample model plane
  // The cell holding it; for vacancies `site` is the index into
  // MakeSi7x7Model().sites, -1 for adsorbates.
  int i = 0, j = 0, site = -1;
};

// One scanned frame with its ground truth.
struct SimulatedFrame {
  // Frame and truth; truth model_nm are sample model coordinates. The
  // frame's metadata is set: acquired_unix_s, line_time_s, line_times_s
  // (row 0 first: a downward slow scan, forward trace), scan offsets,
  // pixel sizes, drift compensation velocity and accumulated offset.
  SyntheticScan scan;
  int64_t index = 0;  // 0 for the first frame scanned
  // Scanned with the blunt tip of unresolved_fraction.
  bool unresolved = false;
  // Thermal drift velocity at the middle of the frame (start + duration /
  // 2), scanner nm/s.
  Vec2 drift_velocity_nm_per_s = Vec2::Zero();
  // Apparent displacement d − c + lag of the sample under the scanner at
  // the start and the end of the frame, scanner nm.
  Vec2 apparent_start_nm = Vec2::Zero();
  Vec2 apparent_end_nm = Vec2::Zero();
};

// Copies share one instrument (one sample, one clock).
class SimulatedInstrument {
 public:
  // Requires options.Validate().ok() (checked). The scan offset and the
  // drift compensation start at zero.
  explicit SimulatedInstrument(SimulatedInstrumentOptions options);

  // Moves the scan frame centre (scanner nm) from the next frame on; the
  // net change Δ since the last frame starts, at the next frame's start, a
  // creep lag of creep_fraction · Δ. Requires a finite offset (checked).
  void SetScanOffset(const Vec2& offset_nm);
  // Sets the drift compensation velocity (scanner nm/s) from the next
  // frame on, like Nanonis Piezo.DriftCompSet. Requires a finite velocity
  // (checked).
  void SetDriftCompensation(const Vec2& velocity_nm_per_s);
  // Sets the drift compensation velocity from instrument time `unix_s`
  // on, within the frame the next ScanNextFrame() scans or later (a
  // controller applying a setting the moment it arrives; a frame is then
  // scanned only once the time of its last line has passed). Requires a
  // finite velocity, `unix_s` not before the end of the last scanned frame
  // nor before the latest change (checked).
  void SetDriftCompensationAt(const Vec2& velocity_nm_per_s, double unix_s);

  // Scans the next frame and advances the clock past it and the gap.
  // Requires the apparent motion d − c + lag to move the image by < 0.5 px
  // per line (checked; a sane compensation and offset changes keep it far
  // below).
  SimulatedFrame ScanNextFrame();

  // The instrument clock: when the next frame will start, s since epoch.
  double now_unix_s() const;
  // Thermal drift d(t) (0 at start_unix_s), compensation c(t), creep
  // lag(t), scanner nm; exact for t from start_unix_s to the end of the
  // last scanned frame (d: linear between knots one line_time_s apart).
  // Beyond, d is extrapolated with the last velocity and c with the
  // velocity active in the last frame (ignoring pending settings).
  Vec2 DriftAt(double unix_s) const;
  Vec2 CompensationAt(double unix_s) const;
  Vec2 LagAt(double unix_s) const;
  // The sample model point imaged at commanded scanner position q at t:
  // model_from_scanner · (q − d(t) + c(t) − lag(t)).
  Vec2 ModelFromScanner(const Vec2& scanner_nm, double unix_s) const;
  // model_from_scanner linear map (fixed):
  // ImageFromModelLinear(scan)⁻¹ · diag(1 / pixel_size, −1 / pixel_size).
  const Mat2& model_from_scanner() const;

  // Every vacancy and fixed adsorbate of the sample with model position in
  // the closed axis-aligned rectangle [lo, hi] (model nm), sorted by kind
  // (vacancies first), then cell (i, j) and site, then position. Model
  // positions are bit-identical to the frames' truth model_nm. Cost grows
  // with the rectangle's area.
  std::vector<SampleDefect> DefectsIn(const Vec2& lo_nm,
                                      const Vec2& hi_nm) const;

  const SimulatedInstrumentOptions& options() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace anchord
