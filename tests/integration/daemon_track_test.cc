// Across frames, end to end: the real `anchord serve` fed by the simulated
// instrument over loopback ZeroMQ. Defects are published with persistent
// ids after the catalog stored them; a kill -9 loses none and leaves an
// intact database; a restarted daemon resumes the session frame and the
// ids; catalog queries return exactly the ground-truth sets.

#include "anchord/model/lattice_model.h"
#include "anchord/synth/simulated_instrument.h"

#include "daemon/catalog/catalog.h"
#include "daemon/instrument/sequence.h"
#include "daemon/wire/wire.h"
#include "support/daemon_harness.h"
#include "support/lattice_isometry.h"
#include "support/temp_dir.h"
#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace anchord::testing {
namespace {

#define REQUIRE_DAEMON(d) REQUIRE_MESSAGE((d).ok, (d).error)

constexpr char kSession[] = "track-it";

SimulatedInstrumentOptions InstrumentOptions() {
  SimulatedInstrumentOptions o;
  o.scan.width_px = 256;
  o.scan.height_px = 256;
  o.scan.field_of_view_nm = 30;
  o.scan.rotation_deg = 17;
  o.scan.scale_error_x = 0.05;
  o.scan.scale_error_y = -0.03;
  o.scan.shear = 0.03;
  o.scan.noise = 0.08;
  o.scan.vacancy_fraction = 0.08;
  o.scan.adsorbates_per_cell = 0.03;
  o.scan.seed = 404;
  o.line_time_s = 0.05;
  o.frame_gap_s = 4 * 256 * 0.05;
  // 0.15 cells between frames (about 0.4 nm/min): every frame still sees
  // the middle 12 nm × 12 nm of the region the sequence covers.
  const double period_s = 256 * 0.05 + o.frame_gap_s;
  o.drift_nm_per_s = 0.15 * kSi7x7LatticeNm / period_s * Vec2(0.8, -0.6);
  o.drift_walk_nm_per_s_per_sqrt_s = 0;
  o.creep_fraction = 0;
  return o;
}

struct FrameOutcome {
  v1::RegistrationResult registration;
  v1::DriftEstimate drift;
  std::optional<v1::Defects> defects;
};

// Sends one frame and receives its registration, drift and (placed
// frames) defects messages. With `until_registration` it returns as soon
// as the registration arrived (to kill the daemon mid-frame).
std::optional<FrameOutcome> SendAndWait(DaemonClient& client,
                                        const SimulatedFrame& sf,
                                        uint64_t frame_id,
                                        bool until_registration = false) {
  if (!client.Send(daemon::EncodeFrame(
          daemon::SimulatedInbound(sf, "simulated", kSession, frame_id)))) {
    return std::nullopt;
  }
  FrameOutcome out;
  bool have_registration = false, have_drift = false;
  const auto deadline = std::chrono::steady_clock::now() + Millis(30000);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::optional<Published> m = client.Receive(Millis(200));
    if (!m) continue;
    if (m->topic == daemon::kTopicRegistration) {
      v1::RegistrationResult r;
      if (r.ParseFromString(m->payload) && r.frame_id() == frame_id) {
        out.registration = r;
        have_registration = true;
        if (until_registration) return out;
      }
    } else if (m->topic == daemon::kTopicDrift) {
      v1::DriftEstimate d;
      if (d.ParseFromString(m->payload) && d.frame_id() == frame_id) {
        out.drift = d;
        have_drift = true;
        if (!d.placed()) return out;
      }
    } else if (m->topic == daemon::kTopicDefects) {
      v1::Defects d;
      if (d.ParseFromString(m->payload) && d.frame_id() == frame_id) {
        out.defects = d;
        if (have_registration && have_drift) return out;
      }
    }
  }
  return std::nullopt;
}

using Isometry = LatticeIsometry;

// session = rotation · sample + translation, measured on the session's
// first frame (whose model frame is the session frame) from its
// registration and the truth corner holes.
Isometry SessionFromSample(const SimulatedFrame& sf,
                           const v1::RegistrationResult& r) {
  Mat3 h;
  for (int k = 0; k < 9; ++k) h(k / 3, k % 3) = r.image_from_model(k);
  const Mat3 model_from_image = h.inverse();
  std::vector<std::pair<Vec2, Vec2>> pairs;
  for (const TruthCornerHole& c : sf.scan.corner_holes) {
    pairs.emplace_back(c.model_nm, Apply(model_from_image, c.p_px));
  }
  return FitLatticeIsometry(pairs);
}

// The truth defects of the sample inside a session-frame rectangle.
struct TruthDefect {
  bool vacancy = true;
  std::tuple<int, int, int> key;  // session cell and basis site
  Vec2 session_nm;
};

std::vector<TruthDefect> TruthIn(const SimulatedInstrument& instrument,
                                 const Isometry& iso,
                                 const Vec2& lo,
                                 const Vec2& hi) {
  // The rectangle's corners back in the sample frame, with a margin.
  const Mat2 inv = iso.rotation.transpose();
  Vec2 slo(1e300, 1e300), shi(-1e300, -1e300);
  for (const Vec2& c : {lo, hi, Vec2(lo.x(), hi.y()), Vec2(hi.x(), lo.y())}) {
    const Vec2 s = inv * (c - iso.translation);
    slo = slo.cwiseMin(s);
    shi = shi.cwiseMax(s);
  }
  const LatticeModel model = MakeSi7x7Model();
  std::vector<TruthDefect> out;
  for (const SampleDefect& d : instrument.DefectsIn(slo, shi)) {
    TruthDefect t;
    t.vacancy = d.kind == SampleDefect::Kind::kVacancy;
    t.session_nm = iso(d.model_nm);
    if (t.session_nm.x() < lo.x() || t.session_nm.x() > hi.x() ||
        t.session_nm.y() < lo.y() || t.session_nm.y() > hi.y()) {
      continue;
    }
    if (t.vacancy) {
      // The session key of the site: nearest basis site of the session
      // lattice.
      const Vec2 f = model.LatticeFromModel(t.session_nm);
      double best = 1e300;
      for (int i = static_cast<int>(std::floor(f.x())) - 1;
           i <= static_cast<int>(std::floor(f.x())) + 1; ++i) {
        for (int j = static_cast<int>(std::floor(f.y())) - 1;
             j <= static_cast<int>(std::floor(f.y())) + 1; ++j) {
          for (size_t k = 0; k < model.sites.size(); ++k) {
            const Vec2 p = model.ModelFromLattice(i + model.sites[k].frac.x(),
                                                  j + model.sites[k].frac.y());
            const double d2 = (p - t.session_nm).squaredNorm();
            if (d2 < best) {
              best = d2;
              t.key = {i, j, static_cast<int>(k)};
            }
          }
        }
      }
    }
    out.push_back(t);
  }
  return out;
}

v1::QueryReply FindDefects(DaemonClient& client,
                           const v1::QueryRequest::FindDefects& q) {
  v1::QueryRequest request;
  *request.mutable_find_defects() = q;
  const std::optional<v1::QueryReply> reply = client.Query(request);
  REQUIRE(reply.has_value());
  REQUIRE_MESSAGE(reply->ok(), reply->message());
  return *reply;
}

std::set<std::tuple<int, int, int>> VacancyKeys(const v1::Defects& d) {
  std::set<std::tuple<int, int, int>> keys;
  for (const v1::Defect& x : d.defects()) {
    if (x.kind() == v1::DEFECT_KIND_VACANCY)
      keys.insert({x.i(), x.j(), x.site()});
  }
  return keys;
}

// Off-lattice features of `got` and `truth` pair one to one within 0.3 nm,
// ignoring those within 0.3 nm of the rectangle's edge (where the
// position's uncertainty decides inside or outside).
void CheckFeaturesMatch(const v1::Defects& got,
                        const std::vector<TruthDefect>& truth,
                        const Vec2& lo,
                        const Vec2& hi) {
  auto interior = [&](const Vec2& p) {
    return p.x() > lo.x() + 0.3 && p.x() < hi.x() - 0.3 &&
           p.y() > lo.y() + 0.3 && p.y() < hi.y() - 0.3;
  };
  std::vector<Vec2> found, expected;
  for (const v1::Defect& x : got.defects()) {
    const Vec2 p(x.x_nm(), x.y_nm());
    if (x.kind() == v1::DEFECT_KIND_OFF_LATTICE && interior(p)) {
      found.push_back(p);
    }
  }
  for (const TruthDefect& t : truth) {
    if (!t.vacancy && interior(t.session_nm)) expected.push_back(t.session_nm);
  }
  CHECK(found.size() == expected.size());
  for (const Vec2& e : expected) {
    int matches = 0;
    for (const Vec2& f : found) matches += (f - e).norm() < 0.3 ? 1 : 0;
    CHECK_MESSAGE(matches == 1, "adsorbate at " << e.transpose());
  }
}

TEST_CASE("defects survive kill -9, the session resumes, queries are exact") {
  TempDir dir("anchord_track_it");
  const std::string catalog_path = dir / "catalog.sqlite";
  auto customize = [&](daemon::DaemonConfig& c) {
    c.catalog.options.path = catalog_path;
    c.pipeline.workers = 2;
  };
  const std::vector<std::string> topics = {"registration", "drift", "defects",
                                           "status"};
  SimulatedInstrument instrument(InstrumentOptions());
  std::vector<SimulatedFrame> truth;
  std::vector<FrameOutcome> outcomes;
  // id → (kind, vacancy key) of every published defect.
  std::map<int64_t, std::tuple<int, int, int, int>> published;
  auto record = [&](const FrameOutcome& o) {
    if (!o.defects) return;
    for (const v1::Defect& d : o.defects->defects()) {
      published[d.id()] = {d.kind(), d.i(), d.j(), d.site()};
    }
  };

  constexpr int kBeforeKill = 8, kAfterKill = 8;
  uint64_t frame_id = 1;
  {
    RunningDaemon d(customize, topics);
    REQUIRE_DAEMON(d);
    for (int k = 0; k < kBeforeKill; ++k) {
      truth.push_back(instrument.ScanNextFrame());
      const auto o = SendAndWait(d.client, truth.back(), frame_id++);
      REQUIRE(o.has_value());
      CHECK(o->drift.placed());
      record(*o);
      outcomes.push_back(*o);
    }
    // One more frame; the daemon dies right after publishing its
    // registration, while it tracks and commits the frame.
    truth.push_back(instrument.ScanNextFrame());
    const auto o = SendAndWait(d.client, truth.back(), frame_id++, true);
    REQUIRE(o.has_value());
    REQUIRE(d.process->Signal(SIGKILL));
    const auto exit = d.process->WaitExit(Millis(5000));
    REQUIRE(exit.has_value());
    CHECK(exit->signal == SIGKILL);
    // Anything that still arrives was published before the kill.
    while (const auto m = d.client.Receive(Millis(300))) {
      v1::Defects late;
      if (m->topic == daemon::kTopicDefects &&
          late.ParseFromString(m->payload)) {
        for (const v1::Defect& x : late.defects()) {
          published[x.id()] = {x.kind(), x.i(), x.j(), x.site()};
        }
      }
    }
  }
  REQUIRE(published.size() > 50);

  // The database is intact and holds every published defect.
  {
    daemon::CatalogOptions options;
    options.path = catalog_path;
    options.read_only = true;
    Status status;
    auto catalog = daemon::DefectCatalog::Open(options, &status);
    REQUIRE_MESSAGE(catalog != nullptr, status.message());
    CHECK(catalog->CheckIntegrity().ok());
    daemon::DefectQuery all;
    all.session = kSession;
    all.include_inactive = true;
    all.limit = 1000000;
    std::vector<daemon::DefectRecord> records;
    REQUIRE(catalog->Find(all, &records).ok());
    std::set<int64_t> stored;
    for (const auto& r : records) stored.insert(r.id);
    int missing = 0;
    for (const auto& [id, what] : published)
      missing += stored.count(id) ? 0 : 1;
    MESSAGE("published before the kill: "
            << published.size() << " defects; missing after it: " << missing);
    CHECK(missing == 0);
  }

  // A new daemon on the same catalog resumes the session.
  RunningDaemon d(customize, topics);
  REQUIRE_DAEMON(d);
  for (int k = 0; k < kAfterKill; ++k) {
    truth.push_back(instrument.ScanNextFrame());
    const auto o = SendAndWait(d.client, truth.back(), frame_id++);
    REQUIRE(o.has_value());
    CHECK(o->drift.placed());
    CHECK(o->drift.placement_method() != v1::PLACEMENT_METHOD_FIRST);
    record(*o);
    outcomes.push_back(*o);
  }
  const v1::DriftEstimate& last = outcomes.back().drift;
  CHECK(last.valid());

  // Ids are stable: one vacancy key, one id, before and after the restart;
  // and every truth vacancy seen in two or more frames kept its id.
  const Isometry iso = SessionFromSample(truth[0], outcomes[0].registration);
  std::map<std::tuple<int, int, int>, std::set<int64_t>> ids_of_key;
  for (const auto& [id, what] : published) {
    if (std::get<0>(what) == v1::DEFECT_KIND_VACANCY) {
      ids_of_key[{std::get<1>(what), std::get<2>(what), std::get<3>(what)}]
          .insert(id);
    }
  }
  int reobserved = 0, stable = 0;
  std::map<std::tuple<int, int, int>, int> sightings;
  for (const FrameOutcome& o : outcomes) {
    if (!o.defects) continue;
    for (const v1::Defect& x : o.defects->defects()) {
      if (x.kind() == v1::DEFECT_KIND_VACANCY)
        ++sightings[{x.i(), x.j(), x.site()}];
    }
  }
  for (const auto& [key, n] : sightings) {
    if (n < 2) continue;
    ++reobserved;
    stable += ids_of_key[key].size() == 1 ? 1 : 0;
  }
  MESSAGE("re-observed vacancies " << reobserved << ", with one id " << stable);
  REQUIRE(reobserved > 50);
  CHECK(stable >= 0.99 * reobserved);

  // Queries against the ground truth, in a rectangle every frame saw.
  const Vec2 first(outcomes.front().drift.centre_session_x_nm(),
                   outcomes.front().drift.centre_session_y_nm());
  const Vec2 final_centre(last.centre_session_x_nm(),
                          last.centre_session_y_nm());
  const Vec2 mid = 0.5 * (first + final_centre) + Vec2(0.137, -0.211);
  const Vec2 lo = mid - Vec2(6, 6), hi = mid + Vec2(6, 6);
  const std::vector<TruthDefect> expected = TruthIn(instrument, iso, lo, hi);
  std::set<std::tuple<int, int, int>> expected_vacancies;
  for (const TruthDefect& t : expected) {
    if (t.vacancy) expected_vacancies.insert(t.key);
  }
  REQUIRE(expected_vacancies.size() > 12);

  v1::QueryRequest::FindDefects q;
  q.mutable_rect()->set_x0_nm(hi.x());  // corners in any order
  q.mutable_rect()->set_y0_nm(lo.y());
  q.mutable_rect()->set_x1_nm(lo.x());
  q.mutable_rect()->set_y1_nm(hi.y());
  const v1::QueryReply all_kinds = FindDefects(d.client, q);
  CHECK(all_kinds.defects().session() == kSession);
  CHECK(all_kinds.defects().frame_id() == frame_id - 1);
  CHECK(VacancyKeys(all_kinds.defects()) == expected_vacancies);
  CheckFeaturesMatch(all_kinds.defects(), expected, lo, hi);
  // Pixel positions refer to the latest frame: the vacancies it saw are
  // where it saw them.
  {
    std::map<int64_t, Vec2> latest_px;
    for (const v1::Defect& x : outcomes.back().defects->defects()) {
      latest_px[x.id()] = Vec2(x.x_px(), x.y_px());
    }
    int compared = 0;
    for (const v1::Defect& x : all_kinds.defects().defects()) {
      auto it = latest_px.find(x.id());
      if (it == latest_px.end() || x.kind() != v1::DEFECT_KIND_VACANCY)
        continue;
      ++compared;
      CHECK((Vec2(x.x_px(), x.y_px()) - it->second).norm() < 1.0);
    }
    CHECK(compared > 10);
  }

  q.set_kind(v1::DEFECT_KIND_VACANCY);
  const v1::QueryReply vacancies = FindDefects(d.client, q);
  CHECK(VacancyKeys(vacancies.defects()) == expected_vacancies);
  CHECK(static_cast<size_t>(vacancies.defects().defects_size()) ==
        expected_vacancies.size());

  q.set_kind(v1::DEFECT_KIND_OFF_LATTICE);
  const v1::QueryReply features = FindDefects(d.client, q);
  CHECK(VacancyKeys(features.defects()).empty());
  CheckFeaturesMatch(features.defects(), expected, lo, hi);

  // A disc, and the nearest vacancies to a point.
  v1::QueryRequest::FindDefects disc;
  disc.set_kind(v1::DEFECT_KIND_VACANCY);
  disc.mutable_disc()->set_x_nm(mid.x());
  disc.mutable_disc()->set_y_nm(mid.y());
  disc.mutable_disc()->set_radius_nm(4.5);
  std::set<std::tuple<int, int, int>> in_disc;
  std::vector<std::pair<double, std::tuple<int, int, int>>> by_distance;
  for (const TruthDefect& t : expected) {
    if (!t.vacancy) continue;
    const double r = (t.session_nm - mid).norm();
    if (r <= 4.5) in_disc.insert(t.key);
    by_distance.emplace_back(r, t.key);
  }
  CHECK(VacancyKeys(FindDefects(d.client, disc).defects()) == in_disc);
  std::sort(by_distance.begin(), by_distance.end());
  v1::QueryRequest::FindDefects nearest;
  nearest.set_kind(v1::DEFECT_KIND_VACANCY);
  nearest.mutable_nearest_to_nm()->set_x(mid.x());
  nearest.mutable_nearest_to_nm()->set_y(mid.y());
  nearest.set_limit(5);
  const v1::QueryReply near = FindDefects(d.client, nearest);
  REQUIRE(near.defects().defects_size() == 5);
  for (int k = 0; k < 5; ++k) {
    const v1::Defect& x = near.defects().defects(k);
    CHECK(std::make_tuple(x.i(), x.j(), x.site()) == by_distance[k].second);
  }

  // Changed since: exactly the records whose last change is later.
  const int64_t since = static_cast<int64_t>(
      std::llround(truth[12].scan.frame.acquired_unix_s * 1e9));
  v1::QueryRequest::FindDefects everything;
  everything.set_include_inactive(true);
  everything.set_limit(1000);
  const v1::QueryReply dump = FindDefects(d.client, everything);
  v1::QueryRequest::FindDefects changed = everything;
  changed.set_changed_since_unix_ns(since);
  const v1::QueryReply recent = FindDefects(d.client, changed);
  std::set<int64_t> expected_recent, got_recent;
  for (const v1::Defect& x : dump.defects().defects()) {
    if (x.changed_unix_ns() > since) expected_recent.insert(x.id());
  }
  for (const v1::Defect& x : recent.defects().defects())
    got_recent.insert(x.id());
  CHECK(got_recent == expected_recent);
  CHECK(!got_recent.empty());
  CHECK(got_recent.size() < static_cast<size_t>(dump.defects().defects_size()));

  // Bad queries are answered, not fatal.
  v1::QueryRequest::FindDefects bad;
  bad.mutable_disc()->set_radius_nm(-2);
  v1::QueryRequest request;
  *request.mutable_find_defects() = bad;
  const auto reply = d.client.Query(request);
  REQUIRE(reply.has_value());
  CHECK(!reply->ok());
  CHECK(reply->message().find("radius_nm") != std::string::npos);
  v1::QueryRequest::FindDefects other;
  other.set_session("no-such-session");
  *request.mutable_find_defects() = other;
  const auto unknown = d.client.Query(request);
  REQUIRE(unknown.has_value());
  CHECK(!unknown->ok());

  // The latest drift by query equals the last published one.
  v1::QueryRequest drift_request;
  drift_request.mutable_latest_drift();
  const auto drift_reply = d.client.Query(drift_request);
  REQUIRE(drift_reply.has_value());
  REQUIRE(drift_reply->ok());
  CHECK(drift_reply->drift().frame_id() == last.frame_id());
  CHECK(drift_reply->drift().velocity_x_nm_per_s() ==
        last.velocity_x_nm_per_s());
}

}  // namespace
}  // namespace anchord::testing
