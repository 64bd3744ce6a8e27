// The session tracker against registered frames whose metadata or
// registration carries the absurd values a careless controller or caller
// sends (0, -1, ±1e9, ±1e300, the smallest denormal, NaN, ±inf): a frame
// is either placed with finite geometry (footprint, centre, transform,
// defects) and a finite drift report, or reported unplaced with the
// reason; the state it leaves always restores.
//
// Before the fix, the first frame of a session was placed whatever its
// image_from_model: its scanner map is fitted from the corner holes'
// pixel positions, which do not involve the homography, so nothing
// checked that the homography maps the frame to finite model positions. A
// NaN translation (as sequence_fuzz found it: image_from_model(0, 2) +=
// NaN) gave a placed frame with a NaN centre and a NaN footprint; a
// translation of ±1e300 px did the same (the inverse's last row is then
// about 1e-300: every pixel maps to the line at infinity). And a later
// frame with a NaN scan offset or drift compensation was refused only
// while placing it, with a drift report built from its view: a NaN next
// scan offset and apparent velocity (so, with a compensation of 1e300
// nm/s, was its centre correction: infinite).
#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/simulated_instrument.h"
#include "anchord/track/session_tracker.h"
#include "anchord/track/session_tracker_state.h"

#include "support/legacy_tracker_state.h"
#include "support/track_checks.h"
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace anchord {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kDenormal = 5e-324;
constexpr double kAbsurd[] = {0.0,    -1.0,      1e9,  -1e9, 1e300,
                              -1e300, kDenormal, kNaN, kInf, -kInf};

struct Registered {
  Frame frame;
  FrameResult result;
};

// A few registered frames of one drifting session (96 px, 12 nm), made
// once.
const std::vector<Registered>& Frames() {
  static const std::vector<Registered> frames = [] {
    std::vector<Registered> out;
    SimulatedInstrument instrument(testing::LegacyStateSequence());
    PipelineOptions popt;
    popt.make_corrected = false;
    for (int k = 0; k < 6; ++k) {
      SimulatedFrame s = instrument.ScanNextFrame();
      FrameResult r = RegisterFrame(s.scan.frame, MakeSi7x7Model(), popt);
      REQUIRE_MESSAGE(r.status.ok(), r.status.message());
      out.push_back({s.scan.frame, std::move(r)});
    }
    return out;
  }();
  return frames;
}

// Everything a caller reads from a TrackResult is finite, and a frame is
// either placed or says why not.
void CheckSane(const TrackResult& r) {
  const Placement& p = r.placement;
  CHECK(p.placed == p.message.empty());
  CHECK(std::isfinite(p.confidence));
  CHECK(p.centre_session_nm.allFinite());
  CHECK(p.session_from_model.allFinite());
  for (const Vec2& v : r.footprint_session_nm) CHECK(v.allFinite());
  for (const Vec2& v : r.undecided_session_nm) CHECK(v.allFinite());
  for (const TrackedDefect& t : r.defects) CHECK(t.session_nm.allFinite());
  if (p.placed) CHECK(r.footprint_session_nm.size() == 4);
  testing::CheckDriftFinite(r.drift);
}

// Tracks frame k of Frames() after `edit` changed its copy; the result is
// sane and the state afterwards one RestoreState accepts.
template <typename Edit>
TrackResult Track(SessionTracker& tracker, int k, Edit edit) {
  Frame f = Frames()[k].frame;
  FrameResult r = Frames()[k].result;
  edit(f, r);
  TrackResult tr = tracker.Track(f, r);
  CheckSane(tr);
  const Status exported = CheckSessionTrackerState(tracker.ExportState());
  CHECK_MESSAGE(exported.ok(), exported.message());
  return tr;
}
TrackResult Track(SessionTracker& tracker, int k) {
  return Track(tracker, k, [](Frame&, FrameResult&) {});
}

TEST_CASE(
    "a first frame whose homography has a NaN translation is refused, as "
    "sequence_fuzz found it") {
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  // The session's frames so far did not register.
  for (int k = 0; k < 2; ++k) {
    const TrackResult none = Track(tracker, 1, [](Frame&, FrameResult& r) {
      r.status = Status::NoLattice("no lattice");
    });
    CHECK_FALSE(none.placement.placed);
  }
  const SessionTrackerState before = tracker.ExportState();
  const TrackResult bad = Track(tracker, 2, [](Frame& f, FrameResult& r) {
    r.image_from_model(0, 2) += kNaN;
    r.image_from_model(1, 2) += -43.333333333333336;
    f.acquired_unix_s = kDenormal;
  });
  MESSAGE("NaN translation: " << bad.placement.message);
  CHECK_FALSE(bad.placement.placed);
  CHECK(bad.placement.message.find("image_from_model") != std::string::npos);
  CHECK(bad.footprint_session_nm.empty());
  CHECK(bad.defects.empty());
  // Nothing but the frame counter changed; the frame as registered starts
  // the session.
  SessionTrackerState after = tracker.ExportState();
  CHECK(after.frames_seen == before.frames_seen + 1);
  after.frames_seen = before.frames_seen;
  CHECK(after == before);
  const TrackResult good = Track(tracker, 2);
  CHECK(good.placement.placed);
  CHECK(good.placement.method == PlacementMethod::kFirst);
}

TEST_CASE(
    "a non-finite scan offset, angle, pixel size or compensation is "
    "refused; the drift report stays the latest placed frame's") {
  struct Case {
    const char* field;
    void (*edit)(Frame&);
  };
  const Case cases[] = {
      {"scan_offset_x_nm", [](Frame& f) { f.scan_offset_x_nm = kNaN; }},
      {"scan_offset_y_nm", [](Frame& f) { f.scan_offset_y_nm = -kInf; }},
      {"scan_angle_deg", [](Frame& f) { f.scan_angle_deg = kInf; }},
      {"pixel_size_x_nm", [](Frame& f) { f.pixel_size_x_nm = kNaN; }},
      {"pixel_size_y_nm", [](Frame& f) { f.pixel_size_y_nm = 0; }},
      {"pixel_size_y_nm", [](Frame& f) { f.pixel_size_y_nm = -0.125; }},
      {"drift_compensation_nm_per_s.x",
       [](Frame& f) { f.drift_compensation_nm_per_s.x() = kInf; }},
      {"drift_compensation_nm_per_s.y",
       [](Frame& f) { f.drift_compensation_nm_per_s.y() = kNaN; }},
      // Finite, but times a frame period beyond double: the drift report's
      // centre correction was infinite.
      {"drift_compensation_nm_per_s.y",
       [](Frame& f) { f.drift_compensation_nm_per_s.y() = -1e300; }},
      {"drift_compensation_offset_nm.x",
       [](Frame& f) { f.drift_compensation_offset_nm.x() = -kInf; }},
  };
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  for (int k = 0; k < 2; ++k) REQUIRE(Track(tracker, k).placement.placed);
  const SessionTrackerState before = tracker.ExportState();
  const DriftReport latest = Track(tracker, 2, [](Frame& f, FrameResult& r) {
                               r.status = Status::NoLattice("no lattice");
                               (void)f;
                             }).drift;
  REQUIRE(latest.valid);
  for (const Case& c : cases) {
    const std::string field = c.field;
    CAPTURE(field);
    const TrackResult bad =
        Track(tracker, 2, [&](Frame& f, FrameResult&) { c.edit(f); });
    MESSAGE(field << ": " << bad.placement.message);
    CHECK_FALSE(bad.placement.placed);
    CHECK(bad.placement.message.find("frame scan geometry out of range: " +
                                     field) != std::string::npos);
    CHECK(bad.drift.valid);
    CHECK(bad.drift.next_scan_offset_nm == latest.next_scan_offset_nm);
    CHECK(bad.drift.apparent_velocity_nm_per_s ==
          latest.apparent_velocity_nm_per_s);
  }
  SessionTrackerState after = tracker.ExportState();
  after.frames_seen = before.frames_seen;
  CHECK(after == before);
  CHECK(Track(tracker, 2).placement.placed);
}

TEST_CASE(
    "frames acquired decades apart, out of order, keep a finite drift "
    "sigma") {
  // Session times spanning 1.7e9 s with a creep term: the cluster-robust
  // variance of the velocity came out -2e-42 nm²/s² in round-off, and its
  // square root NaN in a valid drift report.
  struct Step {
    int frame;
    double acquired_unix_s;
  };
  const Step steps[] = {{4, 1800000348.214498},
                        {2, 1800003245.8061945},
                        {3, 196106434.81071594},
                        {0, 94118639.375803053},
                        {4, 110690716.66870689}};
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  for (size_t k = 0; k < std::size(steps); ++k) {
    CAPTURE(k);
    const Step& s = steps[k];
    const TrackResult r = Track(tracker, s.frame, [&](Frame& f, FrameResult&) {
      f.acquired_unix_s = s.acquired_unix_s;
      if (k == 3) {  // a scan offset change: the creep clock restarts
        f.scan_offset_x_nm = 355.48270402256117;
        f.scan_offset_y_nm = -480.23068164264834;
      }
      if (k == 4) {  // a line period, no per-line times
        f.line_time_s = 0.03917473844110865;
        f.line_times_s.clear();
      }
    });
    CHECK_MESSAGE(r.placement.placed, r.placement.message);
    CHECK(r.drift.valid == (k >= 2));
    CHECK(r.drift.velocity_sigma_nm_per_s.allFinite());
    if (r.drift.valid) CHECK(r.drift.velocity_sigma_nm_per_s.minCoeff() > 0);
  }
}

TEST_CASE("a homography that maps the frame nowhere finite is refused") {
  struct Case {
    const char* what;
    void (*edit)(Mat3&);
  };
  const Case cases[] = {
      {"NaN x translation", [](Mat3& h) { h(0, 2) = kNaN; }},
      {"infinite y translation", [](Mat3& h) { h(1, 2) = -kInf; }},
      {"NaN linear part", [](Mat3& h) { h(1, 0) = kNaN; }},
      {"singular", [](Mat3& h) { h.row(1) = h.row(0); }},
      {"zero", [](Mat3& h) { h.setZero(); }},
  };
  for (const bool first : {true, false}) {
    for (const Case& c : cases) {
      const std::string what = c.what;
      CAPTURE(first);
      CAPTURE(what);
      SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
      if (!first) REQUIRE(Track(tracker, 0).placement.placed);
      const TrackResult bad = Track(tracker, 1, [&](Frame&, FrameResult& r) {
        c.edit(r.image_from_model);
      });
      MESSAGE(what << ": " << bad.placement.message);
      CHECK_FALSE(bad.placement.placed);
      CHECK(bad.placement.message.find("image_from_model") !=
            std::string::npos);
      CHECK(tracker.frames_placed() == (first ? 0 : 1));
    }
  }
}

TEST_CASE(
    "absurd metadata and homography translations: placed with finite "
    "geometry, or refused with the reason and the session unchanged") {
  struct Field {
    const char* what;
    void (*edit)(Frame&, FrameResult&, double);
  };
  const Field fields[] = {
      {"image_from_model(0, 2) +=",
       [](Frame&, FrameResult& r, double v) { r.image_from_model(0, 2) += v; }},
      {"image_from_model(1, 2) +=",
       [](Frame&, FrameResult& r, double v) { r.image_from_model(1, 2) += v; }},
      {"line_time_s (no line times) =",
       [](Frame& f, FrameResult&, double v) {
         f.line_time_s = v;
         f.line_times_s.clear();
       }},
      {"line_times_s *=",
       [](Frame& f, FrameResult&, double v) {
         for (double& t : f.line_times_s) t *= v;
       }},
      {"pixel_size_x_nm *=",
       [](Frame& f, FrameResult&, double v) { f.pixel_size_x_nm *= v; }},
      {"pixel_size_y_nm =",
       [](Frame& f, FrameResult&, double v) { f.pixel_size_y_nm = v; }},
      {"scan_offset_x_nm =",
       [](Frame& f, FrameResult&, double v) { f.scan_offset_x_nm = v; }},
      {"scan_angle_deg =",
       [](Frame& f, FrameResult&, double v) { f.scan_angle_deg = v; }},
      {"drift_compensation_nm_per_s.x =",
       [](Frame& f, FrameResult&, double v) {
         f.drift_compensation_nm_per_s.x() = v;
       }},
      {"drift_compensation_offset_nm.y =",
       [](Frame& f, FrameResult&, double v) {
         f.drift_compensation_offset_nm.y() = v;
       }},
      {"acquired_unix_s =",
       [](Frame& f, FrameResult&, double v) { f.acquired_unix_s = v; }},
  };
  // Sessions with 0, 1 and 2 frames placed before (two: the drift fit is
  // valid), cloned from their exported states.
  std::vector<SessionTrackerState> sessions;
  {
    SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
    sessions.push_back(tracker.ExportState());
    for (int k = 0; k < 2; ++k) {
      REQUIRE(Track(tracker, k).placement.placed);
      sessions.push_back(tracker.ExportState());
    }
  }
  int placed = 0, refused = 0;
  for (size_t before = 0; before < sessions.size(); ++before) {
    for (const Field& field : fields) {
      for (const double v : kAbsurd) {
        const std::string what = field.what;
        CAPTURE(before);
        CAPTURE(what);
        CAPTURE(v);
        SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
        REQUIRE(tracker.RestoreState(sessions[before]).ok());
        const TrackResult r =
            Track(tracker, static_cast<int>(before),
                  [&](Frame& f, FrameResult& res) { field.edit(f, res, v); });
        if (r.placement.placed) {
          ++placed;
          continue;
        }
        ++refused;
        // A refused frame leaves the session as it was (the first timed
        // frame sets the session clock even when refused), and the
        // session goes on with an ordinary frame.
        SessionTrackerState after = tracker.ExportState();
        CHECK(after.frames_seen == sessions[before].frames_seen + 1);
        after.frames_seen = sessions[before].frames_seen;
        if (before == 0) after.t0_unix_s = sessions[before].t0_unix_s;
        CHECK(after == sessions[before]);
        const TrackResult next = Track(tracker, 3);
        CHECK_MESSAGE(next.placement.placed, next.placement.message);
      }
    }
  }
  MESSAGE(placed << " placed, " << refused << " refused");
}

}  // namespace
}  // namespace anchord
