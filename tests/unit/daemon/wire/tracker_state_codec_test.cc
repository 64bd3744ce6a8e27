// The stored tracker state: SessionTrackerState ↔ anchord.v1.TrackerState
// bytes, the legacy text fallback, refusal of corrupted bytes, and the
// bytes through the catalog's BLOB column.
#include "daemon/wire/tracker_state_codec.h"

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/simulated_instrument.h"
#include "anchord/track/session_tracker.h"
#include "anchord/v1/tracker_state.pb.h"

#include "daemon/catalog/catalog.h"
#include "support/legacy_tracker_state.h"
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>

namespace anchord::daemon {
namespace {

// The state of a tracker after `frames` frames of the legacy sequence.
SessionTrackerState StateAfter(int frames) {
  SimulatedInstrument instrument(testing::LegacyStateSequence());
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions popt;
  popt.make_corrected = false;
  for (int k = 0; k < frames; ++k) {
    const SimulatedFrame sf = instrument.ScanNextFrame();
    const FrameResult r = RegisterFrame(sf.scan.frame, model, popt);
    REQUIRE(r.status.ok());
    tracker.Track(sf.scan.frame, r);
  }
  return tracker.ExportState();
}

TEST_CASE("struct → TrackerState bytes → struct is the same state") {
  SessionTrackerState s = StateAfter(4);
  REQUIRE_FALSE(s.points.empty());
  REQUIRE_FALSE(s.cells.empty());
  for (const double change : {std::numeric_limits<double>::quiet_NaN(), 12.5}) {
    CAPTURE(change);
    s.offset_change_s = change;
    const std::string bytes = EncodeTrackerState(s);
    SessionTrackerState back;
    REQUIRE(DecodeTrackerState(bytes, &back).ok());
    CHECK(back == s);
    CHECK(std::isnan(back.offset_change_s) == std::isnan(change));
    SessionTrackerState read;
    REQUIRE(ReadStoredTrackerState(bytes, &read).ok());
    CHECK(read == s);
  }
  // A fresh tracker's state too (no points, no cells, identity map).
  const SessionTrackerState empty =
      SessionTracker(TrackOptions{}, MakeSi7x7Model()).ExportState();
  SessionTrackerState back;
  REQUIRE(DecodeTrackerState(EncodeTrackerState(empty), &back).ok());
  CHECK(back == empty);
}

TEST_CASE("legacy text is read when the bytes are not a TrackerState") {
  SessionTrackerState legacy;
  REQUIRE(ParseLegacyTrackerState(testing::kLegacyTrackerState, &legacy).ok());
  SessionTrackerState read;
  REQUIRE(ReadStoredTrackerState(testing::kLegacyTrackerState, &read).ok());
  CHECK(read == legacy);
  CHECK(read == StateAfter(testing::kLegacyStateFrames));
  // Only ReadStoredTrackerState falls back.
  CHECK(DecodeTrackerState(testing::kLegacyTrackerState, &read).code() ==
        StatusCode::kInvalidInput);
  // A broken legacy text says why.
  const std::string text = testing::kLegacyTrackerState;
  const Status broken =
      ReadStoredTrackerState(text.substr(0, text.size() / 2), &read);
  CHECK(broken.code() == StatusCode::kInvalidInput);
  CHECK(broken.message().find("truncated or malformed") != std::string::npos);
}

TEST_CASE("corrupted bytes are refused with a clear status") {
  const SessionTrackerState good = StateAfter(3);
  const std::string bytes = EncodeTrackerState(good);
  v1::TrackerState m;
  REQUIRE(m.ParseFromString(bytes));
  auto with = [&](auto edit) {
    v1::TrackerState copy = m;
    edit(copy);
    return copy.SerializeAsString();
  };
  struct Case {
    const char* what;
    std::string bytes;
    const char* reason;
  };
  std::mt19937 rng(5);
  std::string noise(400, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  const Case cases[] = {
      {"truncated", bytes.substr(0, bytes.size() / 2), "not a TrackerState"},
      {"random bytes", noise, "neither a TrackerState"},
      {"version 3", with([](v1::TrackerState& t) { t.set_version(3); }),
       "version 3"},
      {"no version", with([](v1::TrackerState& t) { t.clear_version(); }),
       "version 0"},
      {"scanner map of 3", with([](v1::TrackerState& t) {
         t.mutable_scanner_from_session()->RemoveLast();
       }),
       "scanner_from_session holds 3"},
      {"11 site counts", with([](v1::TrackerState& t) {
         t.mutable_cells(0)->mutable_vacant()->RemoveLast();
       }),
       "cells[0]"},
      {"a count of 70000", with([](v1::TrackerState& t) {
         t.mutable_cells(1)->set_present(3, 70000);
       }),
       "cells[1]"},
  };
  for (const Case& c : cases) {
    const std::string what = c.what;
    CAPTURE(what);
    SessionTrackerState out = good;
    out.frames_seen = -5;  // unchanged on failure
    const Status s = ReadStoredTrackerState(c.bytes, &out);
    MESSAGE(what << ": " << s.message());
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(s.message().find("stored tracker state") != std::string::npos);
    CHECK(s.message().find(c.reason) != std::string::npos);
    CHECK(out.frames_seen == -5);
  }
  // Decoded but outside the limits: the tracker's RestoreState refuses.
  const std::string poisoned =
      with([](v1::TrackerState& t) { t.set_last_centre_s(1.28e11); });
  SessionTrackerState decoded;
  REQUIRE(DecodeTrackerState(poisoned, &decoded).ok());
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  const Status refused = tracker.RestoreState(decoded);
  CHECK(refused.code() == StatusCode::kInvalidInput);
  CHECK(refused.message().find("last_centre_s") != std::string::npos);
}

TEST_CASE("the catalog keeps the bytes exactly (a BLOB, NULs included)") {
  const std::string bytes = EncodeTrackerState(StateAfter(3));
  REQUIRE(bytes.find('\0') != std::string::npos);
  CatalogOptions options;
  options.path = ":memory:";
  Status status;
  const auto catalog = DefectCatalog::Open(options, &status);
  REQUIRE_MESSAGE(catalog != nullptr, status.message());
  CatalogUpdate update;
  update.session = "s";
  update.frame_id = 1;
  update.time_unix_ns = 1'800'000'000'000'000'000;
  update.tracker_state = bytes;
  std::vector<DefectRecord> records;
  REQUIRE(catalog->Commit(update, &records).ok());
  std::string stored;
  REQUIRE(catalog->LoadTrackerState("s", &stored).ok());
  CHECK(stored == bytes);
}

}  // namespace
}  // namespace anchord::daemon
