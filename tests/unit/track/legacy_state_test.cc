// The reader of the legacy text tracker state: a state stored by an older
// version (support/legacy_tracker_state.h) parses into the state this
// version holds after the same frames, restores, and the restored tracker
// continues the session exactly as one that never stopped; truncated,
// malformed and poisoned text is refused.
#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/simulated_instrument.h"
#include "anchord/track/session_tracker.h"
#include "anchord/track/session_tracker_state.h"

#include "support/legacy_tracker_state.h"
#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace anchord {
namespace {

using testing::kLegacyStateFrames;
using testing::kLegacyTrackerState;
using testing::LegacyStateSequence;

// Registers the instrument's next frames and tracks them with each of
// `trackers` (the same frames for all).
std::vector<std::vector<TrackResult>> Run(
    SimulatedInstrument& instrument,
    const std::vector<SessionTracker*>& trackers,
    int frames) {
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions popt;
  popt.make_corrected = false;
  std::vector<std::vector<TrackResult>> out(trackers.size());
  for (int k = 0; k < frames; ++k) {
    const SimulatedFrame sf = instrument.ScanNextFrame();
    const FrameResult r = RegisterFrame(sf.scan.frame, model, popt);
    REQUIRE(r.status.ok());
    for (size_t t = 0; t < trackers.size(); ++t) {
      out[t].push_back(trackers[t]->Track(sf.scan.frame, r));
    }
  }
  return out;
}

// The legacy text with the whitespace-separated token `index` of line
// `line` (0 = the magic) replaced.
std::string WithToken(int line, int index, const std::string& token) {
  std::string text = kLegacyTrackerState;
  size_t pos = 0;
  for (int l = 0; l < line; ++l) pos = text.find('\n', pos) + 1;
  for (int t = 0; t < index; ++t) pos = text.find(' ', pos) + 1;
  const size_t end = text.find_first_of(" \n", pos);
  return text.replace(pos, end - pos, token);
}

TEST_CASE("a legacy text state is the state this version holds") {
  SimulatedInstrument instrument(LegacyStateSequence());
  SessionTracker straight(TrackOptions{}, MakeSi7x7Model());
  Run(instrument, {&straight}, kLegacyStateFrames);
  SessionTrackerState parsed;
  REQUIRE(ParseLegacyTrackerState(kLegacyTrackerState, &parsed).ok());
  CHECK(parsed.frames_placed == kLegacyStateFrames);
  CHECK(parsed == straight.ExportState());
}

TEST_CASE("a tracker restored from a legacy state continues identically") {
  SimulatedInstrument a(LegacyStateSequence());
  SimulatedInstrument b(LegacyStateSequence());
  SessionTracker straight(TrackOptions{}, MakeSi7x7Model());
  Run(a, {&straight}, kLegacyStateFrames);
  for (int k = 0; k < kLegacyStateFrames; ++k) b.ScanNextFrame();
  SessionTrackerState parsed;
  REQUIRE(ParseLegacyTrackerState(kLegacyTrackerState, &parsed).ok());
  SessionTracker restored(TrackOptions{}, MakeSi7x7Model());
  REQUIRE(restored.RestoreState(parsed).ok());
  const auto x = Run(a, {&straight}, 4)[0];
  const auto y = Run(b, {&restored}, 4)[0];
  for (size_t k = 0; k < x.size(); ++k) {
    CAPTURE(k);
    CHECK(x[k].placement.placed);
    CHECK(y[k].placement.placed == x[k].placement.placed);
    CHECK(y[k].placement.n1 == x[k].placement.n1);
    CHECK(y[k].placement.n2 == x[k].placement.n2);
    CHECK(y[k].placement.confidence == x[k].placement.confidence);
    CHECK(y[k].drift.velocity_nm_per_s == x[k].drift.velocity_nm_per_s);
    CHECK(y[k].drift.next_scan_offset_nm == x[k].drift.next_scan_offset_nm);
    REQUIRE(y[k].defects.size() == x[k].defects.size());
    for (size_t d = 0; d < x[k].defects.size(); ++d) {
      CHECK(y[k].defects[d].site == x[k].defects[d].site);
      CHECK(y[k].defects[d].session_nm == x[k].defects[d].session_nm);
    }
  }
  CHECK(restored.ExportState() == straight.ExportState());
}

TEST_CASE("truncated or malformed legacy text is refused") {
  SessionTrackerState untouched;
  untouched.frames_seen = 7;
  const std::string text = kLegacyTrackerState;
  const std::string cases[] = {
      "",
      "not a state",
      text.substr(0, text.size() / 2),
      text.substr(0, text.size() - 4),  // no "end"
      "anchord-track-state 2" + text.substr(text.find('\n')),
      WithToken(1, 1, "2147483648"),  // frames_seen beyond int
      WithToken(1, 4, "2"),           // faulted_decisive not 0/1
      WithToken(3, 0, "zero"),        // offset_change_s not a number
      WithToken(4, 0, "9"),           // more than 8 frame starts
      WithToken(6, 2, "1e3x"),        // a point's time
      text + "trailing",              // (read up to "end": accepted)
  };
  for (size_t k = 0; k + 1 < std::size(cases); ++k) {
    CAPTURE(k);
    SessionTrackerState s = untouched;
    const Status st = ParseLegacyTrackerState(cases[k], &s);
    CHECK(st.code() == StatusCode::kInvalidInput);
    CHECK(st.message().find("tracker state") != std::string::npos);
    CHECK(s.frames_seen == 7);
  }
  SessionTrackerState s;
  CHECK(ParseLegacyTrackerState(cases[std::size(cases) - 1], &s).ok());
  // A site count beyond uint16 (the last cell's last count).
  std::string big = text;
  const size_t end = big.rfind("\nend");
  const size_t last = big.rfind(' ', end);
  big.replace(last + 1, end - last - 1, "65536");
  CHECK(ParseLegacyTrackerState(big, &s).code() == StatusCode::kInvalidInput);
}

TEST_CASE("a poisoned legacy state parses but does not restore") {
  // last_centre_s (line 3, token 4) as a placed frame with a line time of
  // 1e9 s used to store it.
  SessionTrackerState s;
  REQUIRE(ParseLegacyTrackerState(WithToken(3, 4, "0x1.dcd65p+36"), &s).ok());
  CHECK(s.last_centre_s == 1.28e11);
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  const Status st = tracker.RestoreState(s);
  CHECK(st.code() == StatusCode::kInvalidInput);
  CHECK(st.message().find("last_centre_s") != std::string::npos);
  CHECK(tracker.frames_placed() == 0);
}

}  // namespace
}  // namespace anchord
