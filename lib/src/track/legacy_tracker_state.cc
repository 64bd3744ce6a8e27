// Reader of the version 1 text format of the tracker state, written by
// SessionTracker::Serialize before the state became a protobuf message:
//
//   anchord-track-state 1
//   started frames_seen frames_placed t0_unix_s faulted_decisive
//   L00 L01 L10 L11 offset_x offset_y
//   offset_change_s have_offset last_offset_x last_offset_y
//     last_centre_s last_duration_s vacant_observations present_observations
//   n_starts start...
//   n_points, then per point: key frame t_s scanner_x scanner_y
//   n_cells, then per cell: key last_frame (vacant present) × 12
//   end
//
// Doubles are C99 hex floats ("%a", "nan" for none), keys the session
// cell packed as (i << 32) ^ uint32(j).
#include "anchord/track/session_tracker_state.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace anchord {
namespace {

constexpr const char* kMagic = "anchord-track-state";
constexpr int kVersion = 1;

// Tokens of the text, with the first failure remembered.
class Reader {
 public:
  explicit Reader(const std::string& text) : is_(text) {}

  double Real() {
    std::string token;
    if (!(is_ >> token)) return Fail("truncated");
    char* end = nullptr;
    const double v = std::strtod(token.c_str(), &end);
    if (end == token.c_str() || *end != '\0') return Fail("not a number");
    return v;
  }
  int64_t Integer(int64_t lo, int64_t hi) {
    int64_t v = 0;
    if (!(is_ >> v)) return Fail("truncated or not an integer");
    if (v < lo || v > hi) return Fail("integer out of range");
    return v;
  }
  int Int() {
    return static_cast<int>(Integer(std::numeric_limits<int>::min(),
                                    std::numeric_limits<int>::max()));
  }
  bool Bool() { return Integer(0, 1) != 0; }
  uint64_t Count64() {
    // Written as uint64; a count above INT64_MAX was never stored.
    return static_cast<uint64_t>(
        Integer(0, std::numeric_limits<int64_t>::max()));
  }
  std::string Word() {
    std::string w;
    if (!(is_ >> w)) Fail("truncated");
    return w;
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  int64_t Fail(const char* why) {
    if (error_.empty()) error_ = why;
    return 0;
  }
  std::istringstream is_;
  std::string error_;
};

int KeyI(int64_t key) { return static_cast<int>(key >> 32); }
int KeyJ(int64_t key) {
  return static_cast<int>(static_cast<int32_t>(key & 0xffffffffLL));
}

}  // namespace

Status ParseLegacyTrackerState(const std::string& text,
                               SessionTrackerState* out) {
  Reader in(text);
  if (in.Word() != kMagic || in.Integer(kVersion, kVersion) != kVersion ||
      !in.ok()) {
    return Status::InvalidInput(
        "tracker state: not a version 1 anchord "
        "tracker state");
  }
  SessionTrackerState s;
  s.started = in.Bool();
  s.frames_seen = in.Int();
  s.frames_placed = in.Int();
  s.t0_unix_s = in.Real();
  s.faulted_decisive = in.Bool();
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 2; ++c) s.scanner_from_session(r, c) = in.Real();
  }
  s.scanner_offset_nm.x() = in.Real();
  s.scanner_offset_nm.y() = in.Real();
  s.offset_change_s = in.Real();
  s.have_offset = in.Bool();
  s.last_offset_nm.x() = in.Real();
  s.last_offset_nm.y() = in.Real();
  s.last_centre_s = in.Real();
  s.last_duration_s = in.Real();
  s.vacant_observations = in.Count64();
  s.present_observations = in.Count64();
  // Counts are read against the state's limits before anything is
  // reserved or looped over.
  const int64_t starts = in.Integer(0, TrackerStateLimits::kMaxFrameStarts);
  for (int64_t k = 0; k < starts && in.ok(); ++k) {
    s.frame_starts_s.push_back(in.Real());
  }
  const int64_t points = in.Integer(0, TrackerStateLimits::kMaxPoints);
  for (int64_t k = 0; k < points && in.ok(); ++k) {
    SessionTrackerPoint p;
    const int64_t key = in.Integer(std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max());
    p.i = KeyI(key);
    p.j = KeyJ(key);
    p.frame = in.Int();
    p.t_s = in.Real();
    p.scanner_nm.x() = in.Real();
    p.scanner_nm.y() = in.Real();
    s.points.push_back(p);
  }
  const int64_t cells = in.Integer(0, TrackerStateLimits::kMaxCells);
  for (int64_t k = 0; k < cells && in.ok(); ++k) {
    SessionTrackerCell c;
    const int64_t key = in.Integer(std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max());
    c.i = KeyI(key);
    c.j = KeyJ(key);
    c.last_frame = in.Int();
    for (int site = 0; site < kTrackerSitesPerCell; ++site) {
      c.vacant[site] = static_cast<uint16_t>(in.Integer(0, UINT16_MAX));
      c.present[site] = static_cast<uint16_t>(in.Integer(0, UINT16_MAX));
    }
    s.cells.push_back(c);
  }
  if (in.Word() != "end" || !in.ok()) {
    return Status::InvalidInput(
        "tracker state: truncated or malformed (" +
        (in.ok() ? std::string("no end marker") : in.error()) + ")");
  }
  // The text held the cells in hash order; the state keeps them sorted.
  std::sort(s.cells.begin(), s.cells.end(),
            [](const SessionTrackerCell& a, const SessionTrackerCell& b) {
              return std::pair(a.i, a.j) < std::pair(b.i, b.j);
            });
  *out = std::move(s);
  return Status::Ok();
}

}  // namespace anchord
