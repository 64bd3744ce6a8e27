#pragma once

// The whole state of a SessionTracker as plain data, for storing a
// session and resuming it (SessionTracker::ExportState / RestoreState).
// The library defines no storage format for it; the daemon stores it as
// the protobuf message anchord.v1.TrackerState.
//
// A tracker restored from a state continues the same session frame: the
// same placements, drift fit and defect ids as the tracker it was
// exported from. RestoreState accepts only states within the limits
// below; Track never builds a state outside them (a frame that would is
// refused), so an exported state always restores.

#include "anchord/track/drift_estimator.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace anchord {

// Basis sites per cell the tracker's site map holds.
inline constexpr int kTrackerSitesPerCell = 12;

// Limits of a valid state (and of what Track accepts from a frame).
struct TrackerStateLimits {
  // Session cell indices, |i|, |j| (a lattice translation of 2^24 cells
  // is 45 mm on Si(111)-7×7, far beyond any scan range).
  static constexpr int kMaxCellIndex = 1 << 24;
  // Acquisition times, s since the Unix epoch (year 2286; the wire's
  // int64 nanoseconds end in 2262).
  static constexpr double kMaxUnixS = 1e10;
  // Duration of one frame (line times and the line period), s.
  static constexpr double kMaxFrameDurationS = 1e7;
  // Times relative to the session's reference time, |t|, s: any two
  // acquisition times within kMaxUnixS plus a frame.
  static constexpr double kMaxSessionTimeS = 2e10;
  // Scanner positions and offsets, |x|, |y|, nm (1 m).
  static constexpr double kMaxScannerNm = 1e9;
  // The scanner-from-session linear map (nm per nm): Frobenius norm at
  // most this, |determinant| at least kMinScannerMapDet.
  static constexpr double kMaxScannerMapNorm = 1e3;
  static constexpr double kMinScannerMapDet = 1e-6;
  // Sizes.
  static constexpr int kMaxFrameStarts = 8;
  static constexpr int kMaxPoints = 1000000;
  static constexpr int kMaxCells = 10000000;
};

// One cell of the session's site map: how often each basis site was seen
// vacant and present (saturating at 65535).
struct SessionTrackerCell {
  int i = 0, j = 0;    // session cell, |i|, |j| <= kMaxCellIndex
  int last_frame = 0;  // placed-frame index that last saw it, in
                       // [0, frames_placed)
  std::array<uint16_t, kTrackerSitesPerCell> vacant{};
  std::array<uint16_t, kTrackerSitesPerCell> present{};

  bool operator==(const SessionTrackerCell&) const = default;
};

// One corner hole of one placed frame in the drift fit's window.
struct SessionTrackerPoint {
  int i = 0, j = 0;  // session cell of the corner hole, as cells
  int frame = 0;     // placed-frame index, in [0, frames_placed)
  double t_s = 0;    // acquisition time, s after t0_unix_s
  // Scanner position without compensation, nm (DriftPoint::scanner_nm).
  Vec2 scanner_nm = Vec2::Zero();

  bool operator==(const SessionTrackerPoint&) const = default;
};

struct SessionTrackerState {
  // Frames tracked; frames placed (0 <= frames_placed <= frames_seen).
  int frames_seen = 0;
  int frames_placed = 0;
  // True once the first frame is placed (= frames_placed > 0): the
  // session frame is defined.
  bool started = false;
  // Session reference time, s since the Unix epoch: the first timed
  // frame's start; 0 until then. In [0, kMaxUnixS].
  double t0_unix_s = 0;
  // Whether the first frame's faulted-half contrast was decisive.
  bool faulted_decisive = false;
  // The fixed scanner map: scanner = L · session + b + D(t) (nm).
  // Identity and zero until the first frame.
  Mat2 scanner_from_session = Mat2::Identity();
  Vec2 scanner_offset_nm = Vec2::Zero();
  // Latest scan offset change, s after t0_unix_s; NaN for none.
  double offset_change_s = std::numeric_limits<double>::quiet_NaN();
  // The scan offset of the latest placed frame, nm (when have_offset).
  bool have_offset = false;
  Vec2 last_offset_nm = Vec2::Zero();
  // Centre time of the latest placed timed frame, s after t0_unix_s.
  double last_centre_s = 0;
  // Starts of the latest placed timed frames (oldest first, at most
  // kMaxFrameStarts), s after t0_unix_s; and the latest one's duration,
  // s, in [0, 2 · kMaxFrameDurationS].
  std::vector<double> frame_starts_s;
  double last_duration_s = 0;
  // Sites classified vacant and present so far (the vacancy rate of the
  // code likelihood).
  uint64_t vacant_observations = 0;
  uint64_t present_observations = 0;
  // The drift fit's points (the fit itself is recomputed on restore).
  std::vector<SessionTrackerPoint> points;
  // The session's site map, sorted by (i, j), no cell twice.
  std::vector<SessionTrackerCell> cells;

  // Equality of every field (NaN equals NaN for offset_change_s).
  bool operator==(const SessionTrackerState& other) const;
};

// kOk when every field is finite (offset_change_s may be NaN) and within
// TrackerStateLimits, counters and frame indices are consistent and the
// scanner map is invertible; else kInvalidInput naming the first field
// that is not ("tracker state: last_centre_s = 1.28e+11 ...").
Status CheckSessionTrackerState(const SessionTrackerState& state);

// Reads the text format the tracker stored before the state became a
// protobuf message ("anchord-track-state 1", then the fields in order,
// doubles in C99 hex, "end"), so that sessions stored by older versions
// resume. kInvalidInput for text that is not a whole version 1 state or
// holds an integer out of its field's range; `out` is then unchanged.
// The result still has to pass CheckSessionTrackerState (RestoreState
// checks it).
Status ParseLegacyTrackerState(const std::string& text,
                               SessionTrackerState* out);

}  // namespace anchord
