// End-to-end tests of `anchord serve`: the real binary (ANCHORD_BIN) as a
// child process on fresh loopback ports, fed by a ZeroMQ publisher and read
// by a subscriber and a query client (tests/support/daemon_harness.h).
// This file: results, validation, queries, status and metrics. Signals and
// overflow are in daemon_lifecycle_test.cc.

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"

#include "daemon/wire/wire.h"
#include "support/daemon_harness.h"
#include "support/loopback_http.h"
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <limits>
#include <string>
#include <thread>
#include <vector>

namespace anchord::testing {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Fails the test case (with the daemon's log) unless `d` started.
#define REQUIRE_DAEMON(d) REQUIRE_MESSAGE((d).ok, (d).error)

// The frame ids of `results`, in arrival order.
std::vector<uint64_t> FrameIds(const std::vector<v1::RegistrationResult>& rs) {
  std::vector<uint64_t> ids;
  for (const auto& r : rs) ids.push_back(r.frame_id());
  return ids;
}

// Sequence numbers strictly increase by one from the first.
void CheckConsecutiveSequences(const std::vector<v1::RegistrationResult>& rs) {
  for (size_t k = 1; k < rs.size(); ++k) {
    CHECK(rs[k].sequence() == rs[k - 1].sequence() + 1);
  }
}

// Sends `frames` at `rate_hz`.
void SendPaced(DaemonClient& client,
               const std::vector<std::string>& frames,
               double rate_hz) {
  const auto period = std::chrono::duration<double>(1.0 / rate_hz);
  auto next = std::chrono::steady_clock::now();
  for (const std::string& f : frames) {
    std::this_thread::sleep_until(next);
    REQUIRE(client.Send(f));
    next +=
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
  }
}

// The value of the first sample line "name value" in Prometheus text.
double MetricValue(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + key.size()));
}

const v1::StageStats* FindStage(const v1::Status& status,
                                const std::string& name) {
  for (const v1::StageStats& s : status.stages()) {
    if (s.name() == name) return &s;
  }
  return nullptr;
}

}  // namespace

TEST_CASE(
    "every frame gets exactly one registration result, in order, "
    "with H matching the truth" *
    doctest::timeout(60)) {
  // 512 px frames (about 11 cells across): the library's H is then within
  // 0.3 px of the truth at every hole (smaller frames extrapolate worse).
  constexpr int kFrames = 20;
  constexpr int kSize = 512;
  std::vector<SyntheticScan> truth;
  std::vector<std::string> wire;
  std::vector<uint64_t> sent_ids;
  for (int k = 0; k < kFrames; ++k) {
    truth.push_back(MakeTruthScan(100 + static_cast<uint64_t>(k), kSize));
    // Ids need not be contiguous: the daemon echoes what it got.
    sent_ids.push_back(5000 + 7 * static_cast<uint64_t>(k));
    wire.push_back(Encode(truth.back().frame, sent_ids.back()));
  }
  const LatticeModel model = MakeSi7x7Model();
  RunningDaemon d([](daemon::DaemonConfig& c) {
    c.pipeline.workers = 2;
    c.pipeline.ingest_queue = 64;  // nothing may drop at this rate
  });
  REQUIRE_DAEMON(d);

  SendPaced(d.client, wire, 15.0);
  const std::vector<v1::RegistrationResult> results =
      d.client.CollectRegistrations(kFrames, Millis(30000));
  REQUIRE(results.size() == kFrames);
  CHECK(FrameIds(results) == sent_ids);
  CheckConsecutiveSequences(results);
  for (int k = 0; k < kFrames; ++k) {
    const v1::RegistrationResult& r = results[static_cast<size_t>(k)];
    CAPTURE(r.frame_id());
    REQUIRE_MESSAGE(r.status() == v1::RESULT_STATUS_OK, r.message());
    CHECK(r.width() == kSize);
    CHECK(r.height() == kSize);
    CHECK(r.instrument() == "test-stm");
    CHECK(r.session() == "itest");
    int checked = 0;
    const double worst =
        MaxHoleErrorPx(r, truth[static_cast<size_t>(k)], 1.0, &checked);
    CHECK(checked >= 100);
    CHECK(worst < 0.3);
    CHECK(r.latency_ms() > 0);
    // The wire carries the library's answer unchanged.
    const FrameResult local = RegisterFrame(truth[static_cast<size_t>(k)].frame,
                                            model, PipelineOptions());
    REQUIRE(local.status.ok());
    for (int e = 0; e < 9; ++e) {
      CHECK(
          r.image_from_model(e) ==
          doctest::Approx(local.image_from_model(e / 3, e % 3)).epsilon(1e-9));
    }
    CHECK(r.corner_holes_size() ==
          static_cast<int>(local.sites.corner_holes.size()));
  }
  // Exactly one: nothing more arrives.
  CHECK(d.client.DrainRegistrations(Millis(300)).empty());
  // Every registered frame also gets its corrected, sites and drift.
  CHECK(d.client.topic_counts().at("sites") == kFrames);
  CHECK(d.client.topic_counts().at("drift") == kFrames);
  CHECK(d.client.topic_counts().at("corrected") == kFrames);

  const std::optional<v1::Status> health = d.client.Health();
  REQUIRE(health);
  CHECK(health->frames_received() == kFrames);
  CHECK(health->frames_published() == kFrames);
  CHECK(health->frames_dropped() == 0);
  CHECK(health->reorder_skipped() == 0);
}

TEST_CASE(
    "each malformed frame class is answered invalid_input and the "
    "daemon keeps serving" *
    doctest::timeout(60)) {
  const SyntheticScan good = MakeTruthScan(7);
  struct Bad {
    const char* what;
    std::string bytes;
    uint64_t frame_id;    // echoed (0 when not parseable)
    const char* mention;  // expected in the message
  };
  std::vector<Bad> bad;
  {
    v1::Frame m = ToMessage(good.frame, 1);
    m.mutable_pixels()->resize(m.pixels().size() / 2);
    bad.push_back(
        {"truncated pixel bytes", m.SerializeAsString(), 1, "frame.pixels"});
  }
  {
    v1::Frame m = ToMessage(good.frame, 2);
    m.set_width(300);
    bad.push_back({"width does not match the bytes", m.SerializeAsString(), 2,
                   "frame.pixels"});
  }
  {
    v1::Frame m = ToMessage(good.frame, 3);
    m.set_height(128);
    bad.push_back({"height does not match the bytes", m.SerializeAsString(), 3,
                   "frame.pixels"});
  }
  {
    Frame nan = good.frame;
    nan.image = good.frame.image.clone();
    for (int r = 0; r < nan.image.rows; ++r) {
      for (int c = 0; c < nan.image.cols; ++c) {
        if ((r * 31 + c * 17) % 10 < 7) nan.image(r, c) = kNaN;  // 70 %
      }
    }
    bad.push_back(
        {"NaN-heavy frame", Encode(nan, 4), 4, "frame.nonfinite_fraction"});
  }
  bad.push_back({"garbage bytes", std::string("\xff\xff\xff\xff garbage", 12),
                 0, "not a valid anchord.v1.Frame"});
  {
    v1::Frame m = ToMessage(good.frame, 6);
    m.set_width(0);
    m.set_height(0);
    m.clear_pixels();
    bad.push_back({"zero size", m.SerializeAsString(), 6, "frame.width"});
  }
  {
    v1::Frame m = ToMessage(good.frame, 7);
    m.set_pixel_size_x_nm(1e6);
    m.set_pixel_size_y_nm(1e6);
    bad.push_back({"absurd pixel size", m.SerializeAsString(), 7,
                   "frame.pixel_size_x_nm"});
  }
  {
    v1::Frame m = ToMessage(good.frame, 8);
    m.set_pixel_size_x_nm(-0.05);
    m.set_pixel_size_y_nm(std::numeric_limits<double>::quiet_NaN());
    bad.push_back({"negative and NaN pixel size", m.SerializeAsString(), 8,
                   "frame.pixel_size_y_nm"});
  }
  {
    v1::Frame m = ToMessage(good.frame, 9);
    m.set_pixel_type(v1::PIXEL_TYPE_UNSPECIFIED);
    bad.push_back(
        {"pixel type unset", m.SerializeAsString(), 9, "frame.pixel_type"});
  }
  bad.push_back({"empty message", std::string(), 0, "frame.width"});

  // The frames go out as one burst: the queue must hold them all.
  RunningDaemon d(
      [](daemon::DaemonConfig& c) { c.pipeline.ingest_queue = 64; });
  REQUIRE_DAEMON(d);
  for (const Bad& b : bad) REQUIRE(d.client.Send(b.bytes));
  REQUIRE(d.client.Send(Encode(good.frame, 99)));

  const std::vector<v1::RegistrationResult> results =
      d.client.CollectRegistrations(bad.size() + 1, Millis(20000));
  REQUIRE(results.size() == bad.size() + 1);
  CheckConsecutiveSequences(results);
  for (size_t k = 0; k < bad.size(); ++k) {
    const v1::RegistrationResult& r = results[k];
    INFO(bad[k].what, ": ", r.message());
    CHECK(r.status() == v1::RESULT_STATUS_INVALID_INPUT);
    CHECK(r.frame_id() == bad[k].frame_id);
    CHECK(r.message().find(bad[k].mention) != std::string::npos);
    CHECK(r.image_from_model().empty());
    CHECK(r.width() == 0);
  }
  const v1::RegistrationResult& last = results.back();
  CHECK(last.frame_id() == 99);
  CHECK_MESSAGE(last.status() == v1::RESULT_STATUS_OK, last.message());
  int checked = 0;
  CHECK(MaxHoleErrorPx(last, good, 1.0, &checked) < 0.3);

  CHECK(d.process->Running());
  const std::optional<v1::Status> health = d.client.Health();
  REQUIRE(health);
  CHECK(health->frames_received() == bad.size() + 1);
  CHECK(health->frames_invalid() == bad.size());
  CHECK(health->frames_published() == bad.size() + 1);
  CHECK(health->frames_internal_error() == 0);
  // Sites (and corrected frames) are published for registered frames only.
  CHECK(d.client.DrainRegistrations(Millis(300)).empty());
  CHECK(d.client.topic_counts().at("sites") == 1);
  CHECK(d.client.topic_counts().at("corrected") == 1);
}

TEST_CASE("a frame without a lattice is answered no_lattice" *
          doctest::timeout(60)) {
  RunningDaemon d;
  REQUIRE_DAEMON(d);
  REQUIRE(d.client.Send(Encode(MakeNoiseFrame(3), 11)));
  REQUIRE(d.client.Send(Encode(MakeTruthScan(12).frame, 12)));
  const std::vector<v1::RegistrationResult> results =
      d.client.CollectRegistrations(2, Millis(20000));
  REQUIRE(results.size() == 2);
  CHECK(results[0].frame_id() == 11);
  CHECK(results[0].status() == v1::RESULT_STATUS_NO_LATTICE);
  CHECK(!results[0].message().empty());
  CHECK(results[0].image_from_model().empty());
  CHECK(results[0].width() == 256);  // a valid frame: its size is echoed
  CHECK(results[1].status() == v1::RESULT_STATUS_OK);
  const std::optional<v1::Status> health = d.client.Health();
  REQUIRE(health);
  CHECK(health->frames_no_lattice() == 1);
}

TEST_CASE(
    "a scan stopped early (40-70 % of the rows NaN) is registered on its "
    "scanned rows and says which they were" *
    doctest::timeout(60)) {
  // 512 px: the decode limit (limits.max_nonfinite_fraction = 0.5) counts
  // NaN within the scanned rows only, so 60 % NaN rows are not refused.
  constexpr int kSize = 512;
  struct Case {
    uint64_t id, seed;  // seeds whose lattice is >= 13 deg from a scan
                        // axis: within ~2 deg of one, per-line levelling
                        // biases the holes by up to 1 px on complete
                        // frames as well (a separate defect)
    int begin, end;     // the scanned rows
  };
  const std::vector<Case> cases = {
      {21, 224, 307, kSize},  // 60 % NaN at the top (an up scan stopped early)
      {22, 222, 0, 282},      // 45 % at the bottom
      {23, 223, 0, 154},      // 70 % at the bottom
  };
  std::vector<SyntheticScan> truth;
  RunningDaemon d;
  REQUIRE_DAEMON(d);
  for (const Case& c : cases) {
    truth.push_back(MakeTruthScan(c.seed, kSize));
    Frame f = truth.back().frame;
    f.image = f.image.clone();
    for (int y = 0; y < kSize; ++y) {
      if (y < c.begin || y >= c.end) f.image.row(y).setTo(kNaN);
    }
    REQUIRE(d.client.Send(Encode(f, c.id)));
  }
  const std::vector<v1::RegistrationResult> results =
      d.client.CollectRegistrations(cases.size(), Millis(30000));
  REQUIRE(results.size() == cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const v1::RegistrationResult& r = results[k];
    const Case& c = cases[k];
    CAPTURE(r.frame_id());
    REQUIRE_MESSAGE(r.status() == v1::RESULT_STATUS_OK, r.message());
    CHECK(r.height() == kSize);
    CHECK(r.scanned_row_begin() == static_cast<uint32_t>(c.begin));
    CHECK(r.scanned_row_end() == static_cast<uint32_t>(c.end));
    CHECK(r.scanned_fraction() ==
          doctest::Approx(double(c.end - c.begin) / kSize));
    // H in the full frame's pixels: the holes reported lie in the scanned
    // rows and, 16 px inside them (past the last cell row at their edge),
    // on the true holes.
    REQUIRE(r.image_from_model_size() == 9);
    for (const Vec2& p : CornerHolesPx(r)) {
      CHECK(p.y() >= c.begin - 1.0);
      CHECK(p.y() <= c.end);
    }
    int checked = 0;
    CHECK(MaxHoleErrorPx(r, truth[k], 16.0, &checked, c.begin, c.end) < 0.3);
    CHECK(checked >= 15);
  }
  CHECK(d.client.DrainRegistrations(Millis(300)).empty());
  CHECK(d.client.topic_counts().at("sites") == cases.size());
  const std::optional<v1::Status> health = d.client.Health();
  REQUIRE(health);
  CHECK(health->frames_invalid() == 0);
}

TEST_CASE(
    "the query socket answers health, latest result, sites in a "
    "rectangle and the configuration" *
    doctest::timeout(60)) {
  RunningDaemon d;
  REQUIRE_DAEMON(d);

  // Before any frame: latest result and sites cannot be answered yet.
  {
    v1::QueryRequest q;
    q.mutable_latest_result();
    const std::optional<v1::QueryReply> reply = d.client.Query(q);
    REQUIRE(reply);
    CHECK(!reply->ok());
    CHECK(!reply->message().empty());
  }

  const SyntheticScan scan = MakeTruthScan(21);
  REQUIRE(d.client.Send(Encode(MakeTruthScan(20).frame, 20)));
  REQUIRE(d.client.Send(Encode(scan.frame, 21)));
  // Keep the published sites of the latest frame to check the query.
  v1::Sites published;
  std::vector<v1::RegistrationResult> results;
  const auto deadline = std::chrono::steady_clock::now() + Millis(20000);
  while (results.size() < 2 || published.frame_id() != 21) {
    const auto left = std::chrono::duration_cast<Millis>(
        deadline - std::chrono::steady_clock::now());
    REQUIRE(left.count() > 0);
    std::optional<Published> m = d.client.Receive(left);
    REQUIRE(m);
    if (m->topic == daemon::kTopicRegistration) {
      results.emplace_back().ParseFromString(m->payload);
    } else if (m->topic == daemon::kTopicSites) {
      published.ParseFromString(m->payload);
    }
  }
  REQUIRE(results.back().status() == v1::RESULT_STATUS_OK);

  {
    const std::optional<v1::Status> health = d.client.Health();
    REQUIRE(health);
    CHECK(health->frames_received() >= 2);
    CHECK(health->frames_published() == 2);
    CHECK(health->config_version() == 1);
    CHECK(health->uptime_s() > 0);
    CHECK(health->time_unix_ns() > 0);
  }
  {
    v1::QueryRequest q;
    q.mutable_latest_result();
    const std::optional<v1::QueryReply> reply = d.client.Query(q);
    REQUIRE(reply);
    REQUIRE(reply->ok());
    CHECK(reply->latest().frame_id() == 21);
    CHECK(reply->latest().sequence() == results.back().sequence());
    CHECK(reply->latest().SerializeAsString() ==
          results.back().SerializeAsString());
  }
  {
    // A rectangle in the frame, corners given in reverse order.
    const double x0 = 60, y0 = 40, x1 = 180, y1 = 150;
    v1::QueryRequest q;
    v1::QueryRequest::SitesInRect* rect = q.mutable_sites_in_rect();
    rect->set_x0_px(x1);
    rect->set_y0_px(y1);
    rect->set_x1_px(x0);
    rect->set_y1_px(y0);
    const std::optional<v1::QueryReply> reply = d.client.Query(q);
    REQUIRE(reply);
    REQUIRE_MESSAGE(reply->ok(), reply->message());
    const v1::Sites& sites = reply->sites();
    CHECK(sites.frame_id() == 21);
    size_t inside = 0;
    for (const v1::Adatom& a : published.adatoms()) {
      inside +=
          a.x_px() >= x0 && a.x_px() <= x1 && a.y_px() >= y0 && a.y_px() <= y1;
    }
    CHECK(inside > 20);
    CHECK(static_cast<size_t>(sites.adatoms_size()) == inside);
    CHECK(sites.adatoms_size() < published.adatoms_size());
    for (const v1::Adatom& a : sites.adatoms()) {
      CHECK(a.x_px() >= x0);
      CHECK(a.x_px() <= x1);
      CHECK(a.y_px() >= y0);
      CHECK(a.y_px() <= y1);
    }
    // Filters: vacancies only, centre adatoms only.
    rect->set_occupancy(v1::OCCUPANCY_VACANT);
    const std::optional<v1::QueryReply> vacant = d.client.Query(q);
    REQUIRE(vacant);
    REQUIRE(vacant->ok());
    for (const v1::Adatom& a : vacant->sites().adatoms()) {
      CHECK(!a.occupied());
    }
    rect->set_occupancy(v1::OCCUPANCY_ANY);
    rect->set_kind(v1::SITE_KIND_CENTER);
    const std::optional<v1::QueryReply> centre = d.client.Query(q);
    REQUIRE(centre);
    REQUIRE(centre->ok());
    CHECK(centre->sites().adatoms_size() > 0);
    CHECK(centre->sites().adatoms_size() < sites.adatoms_size());
    for (const v1::Adatom& a : centre->sites().adatoms()) {
      CHECK(a.kind() == v1::SITE_KIND_CENTER);
    }
    // A non-finite rectangle is refused.
    rect->set_x0_px(std::numeric_limits<double>::quiet_NaN());
    const std::optional<v1::QueryReply> nan = d.client.Query(q);
    REQUIRE(nan);
    CHECK(!nan->ok());
    CHECK(nan->message().find("x0_px") != std::string::npos);
  }
  {
    const std::shared_ptr<const daemon::DaemonConfig> current =
        d.client.CurrentConfig();
    REQUIRE(current);
    CHECK(*current == d.config);
  }
  {
    const std::optional<v1::QueryReply> garbage =
        d.client.QueryRaw(std::string("\xff\xff\xff\xff not a query", 17));
    REQUIRE(garbage);
    CHECK(!garbage->ok());
    CHECK(garbage->message().find("not a valid") != std::string::npos);
    v1::QueryRequest empty;
    const std::optional<v1::QueryReply> none = d.client.Query(empty);
    REQUIRE(none);
    CHECK(!none->ok());
    CHECK(!none->message().empty());
  }
  // The daemon still serves after the bad queries.
  CHECK(d.client.Health().has_value());
}

TEST_CASE("the status topic arrives periodically with stage counters" *
          doctest::timeout(60)) {
  RunningDaemon d(
      [](daemon::DaemonConfig& c) { c.pipeline.status_period_ms = 100; });
  REQUIRE_DAEMON(d);
  for (uint64_t id = 1; id <= 3; ++id) {
    REQUIRE(d.client.Send(Encode(MakeTruthScan(id).frame, id)));
  }
  REQUIRE(d.client.CollectRegistrations(3, Millis(20000)).size() == 3);
  const size_t before = d.client.statuses().size();
  const auto start = std::chrono::steady_clock::now();
  d.client.CollectRegistrations(1, Millis(1200));  // status only arrives
  const double waited_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  const std::vector<v1::Status>& statuses = d.client.statuses();
  const size_t got = statuses.size() - before;
  // One per 100 ms; allow for scheduling on a loaded machine.
  CHECK(got >= static_cast<size_t>(waited_s * 10 / 2));
  CHECK(got <= static_cast<size_t>(waited_s * 10 + 3));
  for (size_t k = 1; k < statuses.size(); ++k) {
    CHECK(statuses[k].time_unix_ns() > statuses[k - 1].time_unix_ns());
    CHECK(statuses[k].frames_published() >= statuses[k - 1].frames_published());
  }
  const v1::Status& last = statuses.back();
  CHECK(last.frames_received() == 3);
  CHECK(last.frames_published() == 3);
  for (const char* name :
       {"ingest", "decode", "register", "encode", "reorder"}) {
    CAPTURE(name);
    const v1::StageStats* stage = FindStage(last, name);
    REQUIRE(stage != nullptr);
    CHECK(stage->processed() == 3);
    CHECK(stage->errors() == 0);
  }
  const v1::StageStats* reg = FindStage(last, "register");
  CHECK(reg->exec_ms_p50() > 0);
  CHECK(reg->exec_ms_max() >= reg->exec_ms_p99());
  CHECK(FindStage(last, "ingest")->queue_capacity() == 8);
}

TEST_CASE("the Prometheus endpoint serves the frame counters" *
          doctest::timeout(60)) {
  RunningDaemon d;
  REQUIRE_DAEMON(d);
  REQUIRE(d.client.Send(Encode(MakeTruthScan(31).frame, 31)));
  REQUIRE(d.client.Send(std::string("garbage")));
  REQUIRE(d.client.CollectRegistrations(2, Millis(20000)).size() == 2);
  const std::string response = HttpGet(PortOf(d.config.endpoints.http_metrics));
  INFO(response);
  CHECK(response.rfind("HTTP/1.0 200", 0) == 0);
  CHECK(response.find("text/plain") != std::string::npos);
  CHECK(MetricValue(response, "anchord_frames_received_total") == 2);
  CHECK(MetricValue(response, "anchord_frames_published_total") == 2);
  CHECK(MetricValue(response, "anchord_frames_invalid_total") == 1);
  CHECK(response.find("# TYPE anchord_frames_received_total counter") !=
        std::string::npos);
}

}  // namespace anchord::testing
