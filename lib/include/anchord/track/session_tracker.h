#pragma once

// Across frames (README.md, "Across frames"): one session frame for a
// sequence of registered frames, the drift of the sample under the
// scanner, and the defects of each frame placed in the session frame.
//
// A periodic lattice fixes a frame's H only up to a lattice translation
// and a rotation by a multiple of 60° (120° keeps the halves, 60° swaps
// them). The tracker places each frame in the session frame (the model
// frame of the session's first frame) by
//  - the rotation whose scanner-from-session linear map agrees with the
//    session's (the scanner does not rotate between frames; the
//    faulted-half contrast restricts the choice to multiples of 120° when
//    it is decisive in both frames);
//  - the lattice translation with the largest posterior probability: a
//    Gaussian prior around the position the drift prediction gives
//    (decisive when the prediction is good to well under half a cell),
//    times the likelihood of the frame's unit-cell occupancy codes given
//    the session's map of sites seen before (Diao et al., Sci. Rep. 15,
//    13486 (2025), Fig. 6: the codes as features that identify cells;
//    decisive when the drift between frames is larger). When no
//    translation reaches min_confidence the frame is reported unplaced
//    instead of guessed.
//
// Not thread-safe; one tracker per session, fed frames in acquisition
// order.

#include "anchord/align/align_frames.h"
#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/track/drift_estimator.h"
#include "anchord/track/session_tracker_state.h"
#include "anchord/util/frame.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace anchord {
namespace internal {
struct SessionState;  // lib/src/track/session_state.h
}  // namespace internal

struct TrackOptions {
  DriftOptions drift;
  // Spread of the drift velocity before it has been measured, nm/s: sets
  // the prediction's uncertainty for the second frame of a session (and
  // after a gap). Default 0.05 (3 nm/min); > 0.
  double prior_velocity_sigma_nm_per_s = 0.05;
  // Floor of the prediction's one-sigma uncertainty, nm. Default 0.25;
  // > 0.
  double min_prediction_sigma_nm = 0.25;
  // Lattice translations within this many cells of the prediction are
  // candidates: at most (2 · max_search_cells + 1)² are scored. The
  // search reaches 4 prediction sigmas (+ 1 cell) when that is less. A
  // prediction sigma wider than the search leaves a flat prior over it:
  // the frame is placed by its codes alone within the search (as a frame
  // without acquisition time), or reported unplaced when they do not
  // decide. Default 8; in [1, 64].
  int max_search_cells = 8;
  // A frame whose per-line times (and its line period) span more than
  // this is not placed, s: its times are not believable, and they would
  // widen every later prediction. Default 86400 (one day); in (0, 1e7].
  double max_frame_duration_s = 86400.0;
  // A frame is placed when the best translation's posterior probability
  // is at least this. Default 0.999; in (0.5, 1).
  double min_confidence = 0.999;
  // Probability that one site's occupancy is misclassified, for the code
  // likelihood. Default 0.02; in (0, 0.5).
  double site_error_rate = 0.02;
  // Sites whose classification confidence is below this are neither
  // matched nor catalogued. Default 0.75; in [0.5, 1].
  double min_site_confidence = 0.75;
  // Faulted-half contrast (relative) above which a frame's 60° choice is
  // trusted. Default 0.03; >= 0.
  double min_faulted_contrast = 0.03;
  // Sites and features closer than this to the frame border are not
  // reported as defects (nor used as codes), px. Default 8; >= 0.
  double border_px = 8.0;
  // Bound of the session's site map, cells; the cells seen longest ago go
  // first. Default 100000; in [16, 1e7].
  int max_session_cells = 100000;
  // One-sigma position uncertainty reported for an off-lattice feature at
  // least, nm. Default 0.05; > 0.
  double feature_sigma_nm = 0.05;

  Status Validate() const;
};

enum class PlacementMethod {
  kFirst,       // the session's first frame: defines the session frame
  kPrediction,  // the drift prediction alone decided
  kCodes,       // the unit-cell codes decided (or overruled the prior)
};
const char* PlacementMethodName(PlacementMethod m);  // "first" | ...

struct Placement {
  bool placed = false;
  std::string message;  // why not placed; empty when placed
  PlacementMethod method = PlacementMethod::kFirst;
  // Posterior probability of the chosen translation, [0, 1].
  double confidence = 0;
  // session_nm = rotation · model_nm + translation: rotation by
  // rotation_steps × 60° (counter-clockwise), translation = n1·a1 + n2·a2.
  int rotation_steps = 0;
  int n1 = 0, n2 = 0;
  Mat3 session_from_model = Mat3::Identity();
  // The frame centre in the session frame, nm (the frame's offset).
  Vec2 centre_session_nm = Vec2::Zero();
  // Lattice translations scored.
  int candidates = 0;
  // Sites of this frame that overlapped known sites of the session map.
  int code_sites_compared = 0;
};

// What this frame added to the drift fit.
enum class DriftSource {
  kNone,       // nothing: the report is the fit of earlier frames
  kLattice,    // its corner holes (the frame was placed)
  kAlignment,  // sample points aligned to an earlier frame
};
const char* DriftSourceName(DriftSource s);  // "none" | "lattice" | ...

// Drift report for one frame (scanner coordinates: nm, x right, y up).
struct DriftReport {
  bool valid = false;
  std::string message;  // why not valid
  DriftSource source = DriftSource::kNone;
  // Drift of the sample relative to the scanner without compensation:
  // the velocity a controller sets as its drift compensation (Nanonis
  // Piezo.DriftCompSet takes m/s: × 1e-9). It is the mean over the fit
  // window (DriftOptions); its sigma is that mean's statistical
  // uncertainty: a wandering drift moves the current velocity away from
  // the window's mean by more.
  Vec2 velocity_nm_per_s = Vec2::Zero();
  Vec2 velocity_sigma_nm_per_s = Vec2::Zero();
  // Creep after the latest offset change: rate now (nm/s, included in
  // the apparent velocity) and the displacement still to come (nm).
  Vec2 creep_rate_nm_per_s = Vec2::Zero();
  Vec2 creep_remaining_nm = Vec2::Zero();
  // What the images show with the compensation this frame had:
  // velocity + creep rate − compensation.
  Vec2 apparent_velocity_nm_per_s = Vec2::Zero();
  // Start of the next frame as predicted from the frame period, s since
  // the Unix epoch; the scan offset that puts this frame's centre sample
  // point at the centre of the next frame with the compensation kept as
  // it is; and that offset minus this frame's.
  double next_frame_unix_s = 0;
  Vec2 next_scan_offset_nm = Vec2::Zero();
  Vec2 centre_correction_nm = Vec2::Zero();
  int frames = 0;  // frames in the fit
  double residual_rms_nm = 0;
};

enum class TrackedDefectKind { kVacancy, kOffLattice };

// A defect of this frame placed in the session frame.
struct TrackedDefect {
  TrackedDefectKind kind = TrackedDefectKind::kVacancy;
  // Vacancies: the session cell and basis site index (the identity).
  int i = 0, j = 0, site = -1;
  Vec2 session_nm = Vec2::Zero();
  double sigma_nm = 0;
  Vec2 p_px = Vec2::Zero();  // in this frame
};

struct TrackResult {
  Placement placement;
  DriftReport drift;
  // Empty when the frame was not placed.
  std::vector<TrackedDefect> defects;
  // Where this frame classified sites, as a convex polygon in session nm
  // (the frame inset by border_px); empty when not placed.
  std::vector<Vec2> footprint_session_nm;
  // Sites inside that polygon left undecided (classification confidence
  // below min_site_confidence), session nm.
  std::vector<Vec2> undecided_session_nm;
};

class SessionTracker {
 public:
  // Requires options.Validate().ok() (checked).
  SessionTracker(TrackOptions options, LatticeModel model);
  ~SessionTracker();
  SessionTracker(SessionTracker&&) noexcept;
  SessionTracker& operator=(SessionTracker&&) noexcept;

  // Places one registered frame (result.status ok) and updates the drift
  // fit and the session map. `frame` carries the metadata (times, scan
  // offset and angle, pixel sizes, compensation). A frame with a status
  // other than ok is not placed; the drift report is the prediction. A
  // frame without acquisition time (acquired_unix_s = 0) is placed by its
  // codes alone (a prior as wide as the search) and gives no drift. A
  // frame whose times or positions are out of range (line times beyond
  // max_frame_duration_s, an acquisition time or a scanner position
  // beyond TrackerStateLimits, a prediction or a session cell beyond the
  // lattice index range) is not placed, with the reason in the message;
  // the session is left as it was, apart from frames_seen. So is a frame
  // whose scan geometry is unusable (a pixel size not finite and > 0; a
  // scan angle, scan offset or drift compensation not finite, or a
  // compensation velocity beyond ±1e9 nm/s: "frame scan geometry out of
  // range") or whose result.image_from_model maps it to no model position
  // (not finite, singular, or the frame centre or a footprint corner not
  // finite or beyond half the lattice index range: "frame registration
  // out of range"), the first frame of a session included; the drift
  // report of such a frame is the latest placed frame's. A placed frame's
  // footprint, centre and defects are finite, and so is every field of a
  // drift report.
  TrackResult Track(const Frame& frame, const FrameResult& result);

  // A frame that Track did not place (no lattice, not registered, not
  // decided), aligned to the frame tracked just before it in this session:
  // `alignment` = AlignFrames(reference, frame). Nine sample points of the
  // reference frame (a 3 × 3 grid over it) whose aligned positions lie in
  // this frame are each sighted twice — at their pixel and time in the
  // reference frame and, through the alignment's field (or its affine),
  // in this frame — and enter the drift fit like corner holes seen in two
  // frames, for max_frames pairs within window_s. The frame stays
  // unplaced (no defects); the report's source is kAlignment. Without an
  // ok alignment, acquisition times on both frames or usable times and
  // scan geometry (as for Track) nothing is added and the report is the
  // fit's, with the reason in placement.message. Call it after Track
  // returned the frame unplaced; the frame is not counted again.
  // Aligned sightings are not part of ExportState (a restored tracker
  // continues from its lattice points).
  TrackResult TrackAligned(const Frame& reference,
                           const Frame& frame,
                           const AlignResult& alignment);

  // The shift of `frame` against `reference` (both of this session, timed,
  // with usable scan geometry) that the drift fit predicts, for
  // AlignFrames: where the sample point at the reference frame's centre
  // appears in `frame`, minus that centre, px, with the one-sigma error
  // of the prediction (velocity uncertainty over the time between the
  // frames, plus the fit's residual). Empty while the fit is not valid or
  // the frames lack times or geometry.
  std::optional<AlignPrior> PredictShift(const Frame& reference,
                                         const Frame& frame) const;

  // Frames tracked, frames placed.
  int frames_seen() const;
  int frames_placed() const;
  // The latest drift fit.
  const DriftFit& drift() const;

  // The whole state (session_tracker_state.h), and back: a tracker
  // restored from ExportState() continues the same session frame.
  // RestoreState returns CheckSessionTrackerState's kInvalidInput for a
  // state outside its limits (the tracker is then unchanged). Storing it
  // is the caller's (the daemon: anchord.v1.TrackerState); states stored
  // as text by older versions are read by ParseLegacyTrackerState.
  SessionTrackerState ExportState() const;
  Status RestoreState(const SessionTrackerState& state);

 private:
  TrackOptions options_;
  LatticeModel model_;
  std::unique_ptr<internal::SessionState> state_;
};

}  // namespace anchord
