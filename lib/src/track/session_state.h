#pragma once

// Internal: the session tracker's state and the lattice bookkeeping its
// steps share (cell keys, the 60° symmetries of lattice and basis).

#include "anchord/model/lattice_model.h"
#include "anchord/track/drift_estimator.h"
#include "anchord/track/session_tracker_state.h"
#include "anchord/util/geometry.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <limits>
#include <unordered_map>
#include <vector>

namespace anchord::internal {

inline constexpr int kSitesPerCell = kTrackerSitesPerCell;

// A session cell packed into one key: (i << 32) ^ uint32(j).
inline int64_t CellKey(int i, int j) {
  return (static_cast<int64_t>(i) << 32) ^
         static_cast<int64_t>(static_cast<uint32_t>(j));
}
inline int CellI(int64_t key) { return static_cast<int>(key >> 32); }
inline int CellJ(int64_t key) {
  return static_cast<int>(static_cast<int32_t>(key & 0xffffffffLL));
}

// Keys of aligned sample points: below every cell key (cells are within
// ±TrackerStateLimits::kMaxCellIndex, far less than 2^31).
inline constexpr int64_t kFirstAlignedKey =
    std::numeric_limits<int64_t>::min() / 2;

// One-sigma error of an aligned sample point's position, px: the median
// target error of AlignFrames on the synthetic pairs at the generator's
// hardest noise levels (0.21–0.27 px; tests/unit/align).
inline constexpr double kAlignedPositionSigmaPx = 0.25;

// Counter-clockwise rotation by steps × 60°.
Mat2 Rotation(int steps);

// A site of the session lattice: cell and basis index.
struct SiteKey {
  int i = 0, j = 0, site = 0;
};

// How a rotation by a multiple of 60° acts on lattice and basis: cell
// (i, j) goes to cell_map·(i, j) and basis site k of it to basis site
// site_map[k] of that cell plus cell_shift[k].
struct LatticeSymmetry {
  Eigen::Matrix2i cell_map = Eigen::Matrix2i::Identity();
  std::vector<Eigen::Vector2i> cell_shift;
  std::vector<int> site_map;
};

// The symmetry of a rotation by steps × 60°. Requires a model whose basis
// is symmetric under 60° turns (checked).
LatticeSymmetry MakeSymmetry(const LatticeModel& model, int steps);

// Basis site `site` of frame cell (i, j) under symmetry s, then
// translated by (n1, n2) cells.
inline SiteKey MapSite(
    const LatticeSymmetry& s, int i, int j, int site, int n1, int n2) {
  const Eigen::Vector2i c = s.cell_map * Eigen::Vector2i(i, j) +
                            s.cell_shift[site] + Eigen::Vector2i(n1, n2);
  return {c.x(), c.y(), s.site_map[site]};
}

// One cell of the session's site map: sightings per basis site.
struct CellState {
  std::array<uint16_t, kSitesPerCell> vacant{};
  std::array<uint16_t, kSitesPerCell> present{};
  int last_frame = 0;
  // Bit k set when site k was seen vacant (present) more often than not.
  uint16_t VacantMask() const;
  uint16_t PresentMask() const;
};

// The tracker's state (SessionTrackerState documents the fields), with
// the drift fit of `points` and the six symmetries of the model.
struct SessionState {
  bool started = false;
  int frames_seen = 0;
  int frames_placed = 0;
  double t0_unix_s = 0;  // session reference time
  bool faulted_decisive = false;
  // scanner = L · session + b + D(t), the fixed scanner map.
  Mat2 scanner_from_session = Mat2::Identity();
  Vec2 scanner_offset = Vec2::Zero();
  double offset_change_s = std::numeric_limits<double>::quiet_NaN();
  bool have_offset = false;
  Vec2 last_offset_nm = Vec2::Zero();
  double last_centre_s = 0;           // centre time of the last placed frame
  std::deque<double> frame_starts_s;  // recent placed frame starts
  double last_duration_s = 0;
  std::vector<DriftPoint> points;
  // Sightings from frame-to-frame alignment (SessionTracker::TrackAligned):
  // keys from kFirstAlignedKey on, frame ids −(frames_seen) of the frame
  // sighted; in the fit with `points`. Not part of the exported state.
  std::vector<DriftPoint> aligned_points;
  int64_t next_aligned_key = kFirstAlignedKey;
  // One-sigma position error of an aligned sighting, nm (the largest of
  // the pairs so far; 0 before the first).
  double aligned_sigma_nm = 0;
  DriftFit fit;
  std::unordered_map<int64_t, CellState> cells;
  uint64_t vacant_observations = 0, present_observations = 0;
  std::vector<LatticeSymmetry> symmetries;
};

// The aligned sightings of `aligned` within window_s of `newest`.
inline std::vector<DriftPoint> AlignedInWindow(
    const std::vector<DriftPoint>& aligned,
    double newest,
    const DriftOptions& drift) {
  std::vector<DriftPoint> kept;
  for (const DriftPoint& p : aligned) {
    if (newest - p.t_s <= drift.window_s) kept.push_back(p);
  }
  return kept;
}

// The drift options for a fit that includes the aligned sightings
// `aligned`: the position floor raised to st.aligned_sigma_nm while there
// are any.
inline DriftOptions FitOptions(const SessionState& st,
                               const std::vector<DriftPoint>& aligned,
                               DriftOptions o) {
  if (!aligned.empty()) {
    o.position_sigma_nm = std::max(o.position_sigma_nm, st.aligned_sigma_nm);
  }
  return o;
}

}  // namespace anchord::internal
