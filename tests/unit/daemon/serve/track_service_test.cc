// TrackService: sessions kept apart, idle sessions evicted from memory
// with their state stored, and resumed from the catalog.
#include "daemon/serve/track_service.h"

#include "anchord/model/lattice_model.h"
#include "anchord/synth/simulated_instrument.h"

#include "daemon/config/config.h"
#include "daemon/instrument/sequence.h"
#include "daemon/wire/tracker_state_codec.h"
#include "support/legacy_tracker_state.h"
#include "support/temp_dir.h"
#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <cmath>

namespace anchord::daemon {
namespace {

SimulatedInstrumentOptions Instrument(uint64_t seed) {
  SimulatedInstrumentOptions o;
  o.scan.width_px = o.scan.height_px = 192;
  o.scan.field_of_view_nm = 22.5;
  o.scan.rotation_deg = 11;
  o.scan.noise = 0.08;
  o.scan.vacancy_fraction = 0.06;
  o.scan.seed = seed;
  o.line_time_s = 0.1;
  o.drift_nm_per_s = Vec2(0.02, 0.01);
  o.seed = seed;
  return o;
}

TEST_CASE("idle sessions are evicted with their state and resume later") {
  testing::TempDir dir("anchord_track_service");
  DaemonConfig config;
  config.catalog.options.path = dir / "catalog.sqlite";
  config.catalog.state_interval_s = 3600;  // only eviction stores it again
  Status status;
  const auto service = TrackService::Open(config, &status);
  REQUIRE_MESSAGE(service != nullptr, status.message());
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions popt;
  popt.make_corrected = false;

  constexpr int kSessions = 20;  // more than are kept in memory
  std::vector<SimulatedInstrument> instruments;
  for (int k = 0; k < kSessions; ++k)
    instruments.emplace_back(Instrument(100 + k));
  uint64_t sequence = 0;
  auto track = [&](int k) {
    const SimulatedFrame sf = instruments[k].ScanNextFrame();
    const FrameResult r = RegisterFrame(sf.scan.frame, model, popt);
    REQUIRE(r.status.ok());
    const std::string name = "s" + std::to_string(k);
    const uint64_t seq = sequence++;
    return service->Process(SimulatedInbound(sf, "", name, seq + 1), seq, &r,
                            config.track);
  };
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < kSessions; ++k) {
      const TrackOutcome o = track(k);
      REQUIRE(o.status.ok());
      CHECK(o.drift.placed());
      CHECK(o.drift.placement_method() == (round == 0
                                               ? v1::PLACEMENT_METHOD_FIRST
                                               : v1::PLACEMENT_METHOD_CODES));
    }
  }
  // Session 0 was evicted long ago; its third frame continues its session
  // frame with its drift known (two frames placed before).
  const TrackOutcome third = track(0);
  CHECK(third.drift.placed());
  CHECK(third.drift.placement_method() == v1::PLACEMENT_METHOD_PREDICTION);
  CHECK(third.drift.valid());
  CHECK(third.drift.frames_used() == 3);
  // Its defects keep their ids: every vacancy of the third frame that the
  // catalog already knew has the id it had.
  v1::QueryRequest::FindDefects all;
  all.set_session("s0");
  all.set_include_inactive(true);
  v1::Defects stored;
  REQUIRE(service->FindDefects(all, 100000, &stored).ok());
  CHECK(stored.defects_size() >= third.defects.defects_size());
  int reseen = 0;
  for (const v1::Defect& d : third.defects.defects())
    reseen += d.times_seen() > 1;
  CHECK(reseen > 10);
}

TEST_CASE(
    "a session stored as legacy text resumes and is then stored as a "
    "TrackerState; an unreadable one is refused") {
  testing::TempDir dir("anchord_track_service_legacy");
  DaemonConfig config;
  config.catalog.options.path = dir / "catalog.sqlite";
  config.catalog.state_interval_s = 0;  // stored with every frame
  Status status;
  {
    // What an older version left: its text state, and a broken one.
    CatalogOptions options;
    options.path = config.catalog.options.path;
    const auto catalog = DefectCatalog::Open(options, &status);
    REQUIRE_MESSAGE(catalog != nullptr, status.message());
    std::vector<DefectRecord> none;
    CatalogUpdate old;
    old.session = "old";
    old.frame_id = testing::kLegacyStateFrames;
    old.time_unix_ns = 1'800'000'000'000'000'000;
    old.tracker_state = testing::kLegacyTrackerState;
    REQUIRE(catalog->Commit(old, &none).ok());
    CatalogUpdate broken = old;
    broken.session = "broken";
    broken.tracker_state = std::string("\x08\x02\x10\x00garbage", 11);
    REQUIRE(catalog->Commit(broken, &none).ok());
  }
  auto service = TrackService::Open(config, &status);
  REQUIRE_MESSAGE(service != nullptr, status.message());
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions popt;
  popt.make_corrected = false;
  SimulatedInstrument instrument(testing::LegacyStateSequence());
  SessionTracker straight(TrackOptions{}, model);
  for (int k = 0; k < testing::kLegacyStateFrames + 3; ++k) {
    CAPTURE(k);
    const SimulatedFrame sf = instrument.ScanNextFrame();
    const InboundFrame in = SimulatedInbound(sf, "", "old", k + 1);
    const FrameResult r = RegisterFrame(in.frame, model, popt);
    REQUIRE(r.status.ok());
    const TrackResult expected = straight.Track(in.frame, r);
    if (k < testing::kLegacyStateFrames) continue;
    const TrackOutcome o = service->Process(in, k, &r, config.track);
    REQUIRE(o.status.ok());
    CHECK(o.drift.placed() == expected.placement.placed);
    CHECK(o.drift.placement_method() == v1::PLACEMENT_METHOD_PREDICTION);
    CHECK(o.drift.n1() == expected.placement.n1);
    CHECK(o.drift.n2() == expected.placement.n2);
    CHECK(o.drift.velocity_x_nm_per_s() ==
          expected.drift.velocity_nm_per_s.x());
  }
  const SimulatedFrame sf = instrument.ScanNextFrame();
  const InboundFrame in = SimulatedInbound(sf, "", "broken", 1);
  const FrameResult r = RegisterFrame(in.frame, model, popt);
  const TrackOutcome refused = service->Process(in, 100, &r, config.track);
  CHECK_FALSE(refused.drift.placed());
  MESSAGE(refused.drift.placement_message());
  CHECK(refused.drift.placement_message().find("unusable") !=
        std::string::npos);
  CHECK(refused.drift.placement_message().find("stored tracker state") !=
        std::string::npos);
  service.reset();

  CatalogOptions options;
  options.path = config.catalog.options.path;
  options.read_only = true;
  const auto catalog = DefectCatalog::Open(options, &status);
  REQUIRE_MESSAGE(catalog != nullptr, status.message());
  std::string bytes;
  REQUIRE(catalog->LoadTrackerState("old", &bytes).ok());
  SessionTrackerState stored;
  REQUIRE(DecodeTrackerState(bytes, &stored).ok());
  CHECK(stored == straight.ExportState());
}

TEST_CASE("a tip change is flagged once in the session's drift estimate") {
  testing::TempDir dir("anchord_track_service_tip");
  DaemonConfig config;
  config.catalog.options.path = dir / "catalog.sqlite";
  Status status;
  const auto service = TrackService::Open(config, &status);
  REQUIRE_MESSAGE(service != nullptr, status.message());
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions popt;
  popt.make_corrected = false;
  SimulatedInstrument instrument(Instrument(31));
  constexpr int kFrames = 16, kChangeAt = 10;
  std::vector<int> flagged;
  for (int k = 0; k < kFrames; ++k) {
    const SimulatedFrame sf = instrument.ScanNextFrame();
    InboundFrame in = SimulatedInbound(sf, "", "tip", k + 1);
    if (k >= kChangeAt) {
      // A double tip from here on: a 0.6× copy shifted by (6, 3) px.
      cv::Mat1f ghost;
      const cv::Mat t = (cv::Mat_<double>(2, 3) << 1, 0, 6, 0, 1, 3);
      cv::warpAffine(in.frame.image, ghost, t, in.frame.image.size(),
                     cv::INTER_LINEAR, cv::BORDER_REFLECT);
      in.frame.image = in.frame.image + 0.6 * ghost;
    }
    const FrameResult r = RegisterFrame(in.frame, model, popt);
    REQUIRE(r.status.ok());
    const TrackOutcome o = service->Process(in, k, &r, config.track);
    REQUIRE(o.status.ok());
    if (o.drift.tip_change()) flagged.push_back(k);
    if (k == 0) CHECK(o.drift.ssim_reference() == 0.0);
    if (k > 0) CHECK(o.drift.ssim_reference() > 0.5);
  }
  REQUIRE(flagged.size() == 1);
  CHECK(flagged.front() == kChangeAt);
}

}  // namespace
}  // namespace anchord::daemon
