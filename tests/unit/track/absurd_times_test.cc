// The session tracker against frames with absurd but finite times (a line
// time of 1e9 s, as a frame with slow_scan set that passes the wire's
// "finite and >= 0" check carries) and against poisoned stored states:
// the tracker answers promptly, its outputs are finite, a frame it cannot
// place is reported unplaced with the reason, the state it exports always
// restores, and a stored state outside the limits is refused.
//
// Before the fix, a placed first frame with a line time of 1e9 s left a
// centre time of 1.28e11 s in the state; the next frame's prediction
// sigma (0.05 nm/s × 1.28e11 s) overflowed static_cast<int> in the
// search reach, which became negative, and with the rounded prediction at
// -2 cells the translation loop's bound wrapped to INT_MAX: the loop
// never ended. A scan offset move of -6 nm puts the prediction there.
#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/simulated_instrument.h"
#include "anchord/track/session_tracker.h"
#include "anchord/track/session_tracker_state.h"

#include "support/track_checks.h"
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

namespace anchord {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
// The scan offset move (nm) that rounds the next prediction to -2 cells.
const Vec2 kHangOffset(-6.0, 0.0);

SimulatedInstrumentOptions SequenceOptions(uint64_t seed) {
  SimulatedInstrumentOptions o;
  o.scan.width_px = 256;
  o.scan.height_px = 256;
  o.scan.field_of_view_nm = 30;
  o.scan.rotation_deg = 17;
  o.scan.noise = 0.1;
  o.scan.vacancy_fraction = 0.05;
  o.scan.adsorbates_per_cell = 0.01;
  o.scan.seed = seed;
  o.line_time_s = 0.05;
  o.frame_gap_s = 4 * 256 * 0.05;
  o.drift_nm_per_s = Vec2(0.01, 0.004);
  o.drift_walk_nm_per_s_per_sqrt_s = 0;
  o.creep_fraction = 0;
  o.seed = seed;
  return o;
}

// The per-line times the wire derives for a downward slow scan with a
// forward trace: row r starts at r · line_time_s.
void SetLineTime(Frame& frame, double line_time_s) {
  frame.line_time_s = line_time_s;
  for (size_t r = 0; r < frame.line_times_s.size(); ++r) {
    frame.line_times_s[r] = static_cast<double>(r) * line_time_s;
  }
}

// Everything a caller reads from a TrackResult is finite, and a frame is
// either placed or says why not.
void CheckSane(const TrackResult& r) {
  const Placement& p = r.placement;
  CHECK(std::isfinite(p.confidence));
  CHECK(p.confidence >= 0);
  CHECK(p.confidence <= 1);
  CHECK(p.centre_session_nm.allFinite());
  CHECK(p.session_from_model.allFinite());
  CHECK(p.placed == p.message.empty());
  CHECK(p.candidates >= 0);
  CHECK(p.candidates <= (2 * 64 + 1) * (2 * 64 + 1));
  testing::CheckDriftFinite(r.drift);
  for (const TrackedDefect& t : r.defects) CHECK(t.session_nm.allFinite());
}

class Sequence {
 public:
  explicit Sequence(uint64_t seed) : instrument_(SequenceOptions(seed)) {
    popt_.make_corrected = false;
  }
  SimulatedInstrument& instrument() { return instrument_; }

  // Scans, registers and tracks the next frame after `edit` changed its
  // metadata. The result is sane and the state the tracker holds
  // afterwards is one RestoreState accepts.
  template <typename Edit>
  TrackResult Next(SessionTracker& tracker, Edit edit) {
    SimulatedFrame sf = instrument_.ScanNextFrame();
    const FrameResult r = RegisterFrame(sf.scan.frame, model_, popt_);
    REQUIRE_MESSAGE(r.status.ok(), r.status.message());
    edit(sf.scan.frame);
    TrackResult tr = tracker.Track(sf.scan.frame, r);
    CheckSane(tr);
    const Status exported = CheckSessionTrackerState(tracker.ExportState());
    CHECK_MESSAGE(exported.ok(), exported.message());
    return tr;
  }
  TrackResult Next(SessionTracker& tracker) {
    return Next(tracker, [](Frame&) {});
  }
  TrackResult NextWithLineTime(SessionTracker& tracker, double line_time_s) {
    return Next(tracker, [&](Frame& f) { SetLineTime(f, line_time_s); });
  }

 private:
  SimulatedInstrument instrument_;
  LatticeModel model_ = MakeSi7x7Model();
  PipelineOptions popt_;
};

TEST_CASE(
    "a frame with a line time of 1e9 s is refused; later frames are "
    "placed promptly") {
  for (const int ordinary_before : {0, 1, 3}) {
    CAPTURE(ordinary_before);
    Sequence seq(71);
    SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
    for (int k = 0; k < ordinary_before; ++k) {
      CHECK(seq.Next(tracker).placement.placed);
    }
    const SessionTrackerState before = tracker.ExportState();
    const TrackResult bad = seq.NextWithLineTime(tracker, 1e9);
    MESSAGE("absurd frame: " << bad.placement.message);
    CHECK_FALSE(bad.placement.placed);
    CHECK(bad.placement.message.find("max_frame_duration_s") !=
          std::string::npos);
    // Nothing but the frame counter changed.
    SessionTrackerState after = tracker.ExportState();
    CHECK(after.frames_seen == before.frames_seen + 1);
    after.frames_seen = before.frames_seen;
    CHECK(after == before);
    seq.instrument().SetScanOffset(kHangOffset);
    for (int k = 0; k < 3; ++k) {
      const TrackResult next = seq.Next(tracker);
      CHECK_MESSAGE(next.placement.placed, next.placement.message);
    }
    CHECK(tracker.frames_placed() == ordinary_before + 3);
  }
}

TEST_CASE("frames with times out of range are refused with the reason") {
  Sequence seq(72);
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  CHECK(seq.Next(tracker).placement.placed);
  struct Case {
    const char* what;
    void (*edit)(Frame&);
    const char* reason;
  };
  const Case cases[] = {
      {"line time 1e6 s", [](Frame& f) { SetLineTime(f, 1e6); },
       "max_frame_duration_s"},
      {"line time 1e200 s", [](Frame& f) { SetLineTime(f, 1e200); },
       "line_time_s"},
      {"a NaN line start", [](Frame& f) { f.line_times_s[7] = kNaN; },
       "line_times_s[7]"},
      {"a negative line start", [](Frame& f) { f.line_times_s[3] = -1; },
       "line_times_s[3]"},
      {"an infinite line period", [](Frame& f) { f.line_time_s = kInf; },
       "line_time_s"},
      {"acquired in the year 33658", [](Frame& f) { f.acquired_unix_s = 1e12; },
       "acquired_unix_s"},
      {"a scan offset of 1e300 nm",
       [](Frame& f) { f.scan_offset_x_nm = 1e300; }, "lattice index range"},
      {"a compensation offset of 1e12 nm",
       [](Frame& f) { f.drift_compensation_offset_nm.y() = 1e12; },
       "lattice index range"},
  };
  for (const Case& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    const TrackResult bad = seq.Next(tracker, c.edit);
    MESSAGE(what << ": " << bad.placement.message);
    CHECK_FALSE(bad.placement.placed);
    CHECK(bad.placement.message.find(c.reason) != std::string::npos);
  }
  CHECK(tracker.frames_placed() == 1);
  CHECK(seq.Next(tracker).placement.placed);

  // A first frame has no prediction: what it would store is checked.
  SessionTracker fresh(TrackOptions{}, MakeSi7x7Model());
  const TrackResult far = seq.Next(
      fresh, [](Frame& f) { f.drift_compensation_offset_nm.x() = 2e9; });
  MESSAGE("first frame 2e9 nm away: " << far.placement.message);
  CHECK_FALSE(far.placement.placed);
  CHECK(far.placement.message.find("would store a value out of range") !=
        std::string::npos);
  CHECK(fresh.frames_placed() == 0);
  CHECK(seq.Next(fresh).placement.method == PlacementMethod::kFirst);
}

TEST_CASE(
    "a prediction sigma far wider than the search places by codes "
    "within the search") {
  Sequence seq(75);
  TrackOptions o;
  o.prior_velocity_sigma_nm_per_s = 1e300;  // σ ≈ 6.5e301 nm after 65 s
  SessionTracker tracker(o, MakeSi7x7Model());
  CHECK(seq.Next(tracker).placement.placed);
  seq.instrument().SetScanOffset(kHangOffset);
  const TrackResult r = seq.Next(tracker);
  MESSAGE("placed " << r.placement.placed << ", " << r.placement.candidates
                    << " candidates " << r.placement.message);
  CHECK(r.placement.candidates <=
        (2 * o.max_search_cells + 1) * (2 * o.max_search_cells + 1));
  CHECK(r.placement.candidates > 0);
  if (r.placement.placed) {
    CHECK(r.placement.method == PlacementMethod::kCodes);
  } else {
    CHECK(r.placement.message.find("ambiguous") != std::string::npos);
  }
}

TEST_CASE(
    "the state after an absurd first frame restores; the next frame "
    "does not hang") {
  Sequence seq(73);
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  CHECK_FALSE(seq.NextWithLineTime(tracker, 1e9).placement.placed);
  SessionTracker restored(TrackOptions{}, MakeSi7x7Model());
  REQUIRE(restored.RestoreState(tracker.ExportState()).ok());
  seq.instrument().SetScanOffset(kHangOffset);
  for (int k = 0; k < 3; ++k) CHECK(seq.Next(restored).placement.placed);
}

TEST_CASE("a stored state with non-finite or absurd values is refused") {
  Sequence seq(74);
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  for (int k = 0; k < 3; ++k) CHECK(seq.Next(tracker).placement.placed);
  const SessionTrackerState good = tracker.ExportState();
  REQUIRE(
      SessionTracker(TrackOptions{}, MakeSi7x7Model()).RestoreState(good).ok());
  REQUIRE(good.points.size() >= 2);
  REQUIRE(good.cells.size() >= 2);
  struct Poison {
    const char* field;
    void (*apply)(SessionTrackerState&);
  };
  const Poison poisons[] = {
      // What a placed frame with a line time of 1e9 s used to store.
      {"last_centre_s",
       [](SessionTrackerState& s) { s.last_centre_s = 1.28e11; }},
      {"last_duration_s",
       [](SessionTrackerState& s) { s.last_duration_s = 2.56e11; }},
      {"points[1].t_s",
       [](SessionTrackerState& s) { s.points[1].t_s = 1.28e11; }},
      {"last_centre_s", [](SessionTrackerState& s) { s.last_centre_s = kNaN; }},
      {"t0_unix_s", [](SessionTrackerState& s) { s.t0_unix_s = kInf; }},
      {"t0_unix_s", [](SessionTrackerState& s) { s.t0_unix_s = -1; }},
      {"offset_change_s",
       [](SessionTrackerState& s) { s.offset_change_s = kInf; }},
      {"frame_starts_s[0]",
       [](SessionTrackerState& s) { s.frame_starts_s[0] = kNaN; }},
      {"frame_starts_s (count)",
       [](SessionTrackerState& s) { s.frame_starts_s.resize(9, 0.0); }},
      {"scanner_from_session",
       [](SessionTrackerState& s) { s.scanner_from_session(0, 1) = kNaN; }},
      {"scanner_from_session",
       [](SessionTrackerState& s) { s.scanner_from_session.setZero(); }},
      {"scanner_offset_nm.x",
       [](SessionTrackerState& s) { s.scanner_offset_nm.x() = 1e300; }},
      {"last_offset_nm.y",
       [](SessionTrackerState& s) { s.last_offset_nm.y() = kNaN; }},
      {"points[0].scanner_nm.y",
       [](SessionTrackerState& s) { s.points[0].scanner_nm.y() = kNaN; }},
      {"points[0].i",
       [](SessionTrackerState& s) { s.points[0].i = (1 << 24) + 1; }},
      {"points[0].frame",
       [](SessionTrackerState& s) { s.points[0].frame = s.frames_placed; }},
      {"cells[1].j", [](SessionTrackerState& s) { s.cells[1].j = -(1 << 30); }},
      {"cells[1].last_frame",
       [](SessionTrackerState& s) { s.cells[1].last_frame = -1; }},
      {"cells[1]", [](SessionTrackerState& s) { s.cells[1] = s.cells[0]; }},
      {"frames_placed",
       [](SessionTrackerState& s) { s.frames_placed = s.frames_seen + 1; }},
      {"frames_placed", [](SessionTrackerState& s) { s.frames_placed = -1; }},
      {"started", [](SessionTrackerState& s) { s.started = false; }},
  };
  for (const Poison& p : poisons) {
    const std::string field = p.field;
    CAPTURE(field);
    SessionTrackerState bad = good;
    p.apply(bad);
    CHECK_FALSE(bad == good);
    SessionTracker fresh(TrackOptions{}, MakeSi7x7Model());
    const Status s = fresh.RestoreState(bad);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(s.message().find(p.field) != std::string::npos);
    CHECK(fresh.frames_placed() == 0);
  }
}

TEST_CASE("the search bound and the frame duration are validated options") {
  for (const int cells : {0, 65, -1}) {
    TrackOptions o;
    o.max_search_cells = cells;
    CHECK(o.Validate().message().find("max_search_cells") != std::string::npos);
  }
  for (const double d : {0.0, -1.0, 2e7, kNaN, kInf}) {
    TrackOptions o;
    o.max_frame_duration_s = d;
    CHECK(o.Validate().message().find("max_frame_duration_s") !=
          std::string::npos);
  }
  TrackOptions o;
  o.max_session_cells = 10000001;
  CHECK(o.Validate().message().find("max_session_cells") != std::string::npos);
  o = TrackOptions{};
  o.max_search_cells = 64;
  o.max_frame_duration_s = 1e7;
  CHECK(o.Validate().ok());
}

}  // namespace
}  // namespace anchord
