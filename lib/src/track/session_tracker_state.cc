#include "anchord/track/session_tracker_state.h"

#include "track/state_limits.h"

#include <cmath>
#include <cstdio>
#include <string>

namespace anchord {
namespace {

using Limits = TrackerStateLimits;

// "tracker state: <field> = <value>, <constraint>".
Status Refuse(const std::string& field, double value, const char* constraint) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.17g", value);
  return Status::InvalidInput("tracker state: " + field + " = " + buf + ", " +
                              constraint);
}

bool Within(double v, double bound) { return std::abs(v) <= bound; }

}  // namespace

namespace internal {

Status CheckTime(const std::string& field, double t) {
  if (Within(t, Limits::kMaxSessionTimeS)) return Status::Ok();
  return Refuse(field, t, "not a finite time within ±2e10 s");
}

Status CheckScanner(const std::string& field, const Vec2& p) {
  for (int axis = 0; axis < 2; ++axis) {
    if (!Within(p[axis], Limits::kMaxScannerNm)) {
      return Refuse(field + (axis == 0 ? ".x" : ".y"), p[axis],
                    "not a finite position within ±1e9 nm");
    }
  }
  return Status::Ok();
}

Status CheckCell(const std::string& field, int64_t i, int64_t j) {
  if (std::abs(i) > Limits::kMaxCellIndex) {
    return Refuse(field + ".i", static_cast<double>(i), "beyond ±2^24 cells");
  }
  if (std::abs(j) > Limits::kMaxCellIndex) {
    return Refuse(field + ".j", static_cast<double>(j), "beyond ±2^24 cells");
  }
  return Status::Ok();
}

Status CheckScannerMap(const Mat2& l, const Vec2& offset_nm) {
  if (!l.allFinite() || !(l.norm() <= Limits::kMaxScannerMapNorm)) {
    return Refuse("scanner_from_session (norm)", l.norm(),
                  "not a finite map of norm <= 1e3");
  }
  if (!(std::abs(l.determinant()) >= Limits::kMinScannerMapDet)) {
    return Refuse("scanner_from_session (determinant)", l.determinant(),
                  "not invertible (|det| < 1e-6)");
  }
  return CheckScanner("scanner_offset_nm", offset_nm);
}

}  // namespace internal

namespace {

using internal::CheckCell;
using internal::CheckScanner;
using internal::CheckTime;

Status CheckFrameIndex(const std::string& field, int frame, int placed) {
  if (frame >= 0 && frame < placed) return Status::Ok();
  return Refuse(field, frame, "not in [0, frames_placed)");
}

Status CheckHeader(const SessionTrackerState& s) {
  if (s.frames_placed < 0) {
    return Refuse("frames_placed", s.frames_placed, "negative");
  }
  if (s.frames_seen < s.frames_placed) {
    return Refuse("frames_placed", s.frames_placed, "more than frames_seen");
  }
  if (s.started != (s.frames_placed > 0)) {
    return Refuse("started", s.started, "while frames_placed is not > 0");
  }
  if (!(s.t0_unix_s >= 0 && s.t0_unix_s <= Limits::kMaxUnixS)) {
    return Refuse("t0_unix_s", s.t0_unix_s, "not in [0, 1e10] s");
  }
  return Status::Ok();
}

Status CheckScannerMap(const SessionTrackerState& s) {
  return internal::CheckScannerMap(s.scanner_from_session, s.scanner_offset_nm);
}

Status CheckTimes(const SessionTrackerState& s) {
  if (!std::isnan(s.offset_change_s)) {
    Status st = CheckTime("offset_change_s", s.offset_change_s);
    if (!st.ok()) return st;
  }
  if (Status st = CheckScanner("last_offset_nm", s.last_offset_nm); !st.ok()) {
    return st;
  }
  if (Status st = CheckTime("last_centre_s", s.last_centre_s); !st.ok()) {
    return st;
  }
  if (s.frame_starts_s.size() > static_cast<size_t>(Limits::kMaxFrameStarts)) {
    return Refuse("frame_starts_s (count)",
                  static_cast<double>(s.frame_starts_s.size()), "more than 8");
  }
  for (size_t k = 0; k < s.frame_starts_s.size(); ++k) {
    Status st = CheckTime("frame_starts_s[" + std::to_string(k) + "]",
                          s.frame_starts_s[k]);
    if (!st.ok()) return st;
  }
  if (!(s.last_duration_s >= 0 &&
        s.last_duration_s <= Limits::kMaxFrameDurationS)) {
    return Refuse("last_duration_s", s.last_duration_s, "not in [0, 1e7] s");
  }
  return Status::Ok();
}

Status CheckPoints(const SessionTrackerState& s) {
  if (s.points.size() > static_cast<size_t>(Limits::kMaxPoints)) {
    return Refuse("points (count)", static_cast<double>(s.points.size()),
                  "more than 1e6");
  }
  for (size_t k = 0; k < s.points.size(); ++k) {
    const SessionTrackerPoint& p = s.points[k];
    const std::string field = "points[" + std::to_string(k) + "]";
    Status st = CheckCell(field, p.i, p.j);
    if (st.ok())
      st = CheckFrameIndex(field + ".frame", p.frame, s.frames_placed);
    if (st.ok()) st = CheckTime(field + ".t_s", p.t_s);
    if (st.ok()) st = CheckScanner(field + ".scanner_nm", p.scanner_nm);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status CheckCells(const SessionTrackerState& s) {
  if (s.cells.size() > static_cast<size_t>(Limits::kMaxCells)) {
    return Refuse("cells (count)", static_cast<double>(s.cells.size()),
                  "more than 1e7");
  }
  for (size_t k = 0; k < s.cells.size(); ++k) {
    const SessionTrackerCell& c = s.cells[k];
    const std::string field = "cells[" + std::to_string(k) + "]";
    Status st = CheckCell(field, c.i, c.j);
    if (st.ok()) {
      st =
          CheckFrameIndex(field + ".last_frame", c.last_frame, s.frames_placed);
    }
    if (!st.ok()) return st;
    if (k > 0) {
      const SessionTrackerCell& prev = s.cells[k - 1];
      if (!(std::pair(prev.i, prev.j) < std::pair(c.i, c.j))) {
        return Status::InvalidInput(
            "tracker state: " + field + " is not after cells[" +
            std::to_string(k - 1) + "] in (i, j) order (or repeats it)");
      }
    }
  }
  return Status::Ok();
}

bool SameTime(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

}  // namespace

Status CheckSessionTrackerState(const SessionTrackerState& state) {
  for (Status (*check)(const SessionTrackerState&) :
       {CheckHeader, CheckScannerMap, CheckTimes, CheckPoints, CheckCells}) {
    Status s = check(state);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

bool SessionTrackerState::operator==(const SessionTrackerState& o) const {
  return frames_seen == o.frames_seen && frames_placed == o.frames_placed &&
         started == o.started && t0_unix_s == o.t0_unix_s &&
         faulted_decisive == o.faulted_decisive &&
         scanner_from_session == o.scanner_from_session &&
         scanner_offset_nm == o.scanner_offset_nm &&
         SameTime(offset_change_s, o.offset_change_s) &&
         have_offset == o.have_offset && last_offset_nm == o.last_offset_nm &&
         last_centre_s == o.last_centre_s &&
         frame_starts_s == o.frame_starts_s &&
         last_duration_s == o.last_duration_s &&
         vacant_observations == o.vacant_observations &&
         present_observations == o.present_observations && points == o.points &&
         cells == o.cells;
}

}  // namespace anchord
