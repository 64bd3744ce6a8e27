// The defect catalog: options validation; the schema survives a reopen with
// ids and tracker state; ids are never reused; vacancies keep their
// identity by key and off-lattice features by position; the seen /
// observed / active bookkeeping with footprints and what "changed" means;
// every query type; retention by count and by age; clean errors for bad
// files, bad updates and invalid session names; a read-only reader sees
// the writer's commits; every commit a killed (SIGKILL) writer reported is
// in the reopened file, while a reader in another process follows its
// commits; and the global bounds evict whole sessions, the least recently
// committed first, never the committing one, and keep the database
// bounded.

#include "daemon/catalog/catalog.h"

#include "support/temp_dir.h"
#include <doctest/doctest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace anchord::daemon {
namespace {

using testing::TempDir;

constexpr int64_t kSecondNs = 1'000'000'000;

CatalogOptions OptionsAt(const std::string& path) {
  CatalogOptions options;
  options.path = path;
  return options;
}

std::unique_ptr<DefectCatalog> OpenOk(const CatalogOptions& options) {
  Status status;
  auto catalog = DefectCatalog::Open(options, &status);
  REQUIRE_MESSAGE(status.ok(), status.message());
  REQUIRE(catalog != nullptr);
  return catalog;
}

DefectObservation Vacancy(int i, int j, int site, Vec2 p, double sigma = 0.05) {
  DefectObservation o;
  o.kind = DefectKind::kVacancy;
  o.i = i;
  o.j = j;
  o.site = site;
  o.session_nm = p;
  o.sigma_nm = sigma;
  return o;
}

DefectObservation OffLattice(Vec2 p, double sigma = 0.05) {
  DefectObservation o;
  o.kind = DefectKind::kOffLattice;
  o.session_nm = p;
  o.sigma_nm = sigma;
  return o;
}

// A counter-clockwise rectangle.
std::vector<Vec2> Box(Vec2 lo, Vec2 hi) {
  return {lo, Vec2(hi.x(), lo.y()), hi, Vec2(lo.x(), hi.y())};
}

CatalogUpdate Update(const std::string& session,
                     uint64_t frame_id,
                     double time_s,
                     std::vector<DefectObservation> observations,
                     std::vector<Vec2> footprint = {}) {
  CatalogUpdate u;
  u.session = session;
  u.frame_id = frame_id;
  u.time_unix_ns = static_cast<int64_t>(std::llround(time_s * kSecondNs));
  u.observations = std::move(observations);
  u.footprint_nm = std::move(footprint);
  u.tracker_state = "after frame " + std::to_string(frame_id);
  return u;
}

std::vector<DefectRecord> CommitOk(DefectCatalog& catalog,
                                   const CatalogUpdate& update) {
  std::vector<DefectRecord> records;
  const Status status = catalog.Commit(update, &records);
  REQUIRE_MESSAGE(status.ok(), status.message());
  REQUIRE(records.size() == update.observations.size());
  return records;
}

std::vector<DefectRecord> FindOk(const DefectCatalog& catalog,
                                 const DefectQuery& query) {
  std::vector<DefectRecord> records;
  const Status status = catalog.Find(query, &records);
  REQUIRE_MESSAGE(status.ok(), status.message());
  return records;
}

// Every defect of `session`, active or not, by id.
std::vector<DefectRecord> All(const DefectCatalog& catalog,
                              const std::string& session) {
  DefectQuery query;
  query.session = session;
  query.include_inactive = true;
  query.limit = std::numeric_limits<int64_t>::max();
  return FindOk(catalog, query);
}

std::vector<int64_t> Ids(const std::vector<DefectRecord>& records) {
  std::vector<int64_t> ids;
  for (const DefectRecord& r : records) ids.push_back(r.id);
  return ids;
}

// The record with `id` among `records` (REQUIREs that there is one).
DefectRecord ById(const std::vector<DefectRecord>& records, int64_t id) {
  for (const DefectRecord& r : records) {
    if (r.id == id) return r;
  }
  FAIL("no record with id " << id);
  return {};
}

int64_t Ns(double time_s) {
  return static_cast<int64_t>(std::llround(time_s * kSecondNs));
}

// Runs SQL on `path` through SQLite directly (to forge foreign files).
void RawSql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, message);
}

TEST_CASE("options: Validate lists every violation") {
  CatalogOptions good;
  good.path = "/tmp/x.db";
  CHECK(good.Validate().ok());

  CatalogOptions bad;
  bad.path = "";
  bad.max_defects_per_session = 0;
  bad.max_age_s = -1;
  bad.match_radius_nm = 0;
  const Status status = bad.Validate();
  CHECK(status.code() == StatusCode::kInvalidInput);
  const std::string& m = status.message();
  CHECK(m.find("catalog.path") != std::string::npos);
  CHECK(m.find("catalog.max_defects_per_session = 0") != std::string::npos);
  CHECK(m.find("catalog.max_age_s = -1") != std::string::npos);
  CHECK(m.find("catalog.match_radius_nm = 0") != std::string::npos);
  CHECK(std::count(m.begin(), m.end(), '\n') == 3);

  CatalogOptions nan = good;
  nan.max_age_s = std::numeric_limits<double>::quiet_NaN();
  nan.match_radius_nm = std::numeric_limits<double>::infinity();
  const std::string nan_message = nan.Validate().message();
  CHECK(nan_message.find("catalog.max_age_s = nan") != std::string::npos);
  CHECK(nan_message.find("catalog.match_radius_nm = inf") != std::string::npos);

  Status open_status;
  CHECK(DefectCatalog::Open(bad, &open_status) == nullptr);
  CHECK(open_status.code() == StatusCode::kInvalidInput);
}

TEST_CASE("schema: a reopened catalog keeps ids, records and tracker state") {
  TempDir dir("anchord_catalog");
  const CatalogOptions options = OptionsAt(dir / "catalog.db");
  const std::string binary_state(
      "state\0with\xff"
      "bytes",
      16);
  std::vector<DefectRecord> before;
  {
    auto catalog = OpenOk(options);
    CatalogUpdate u =
        Update("s1", 1, 1.0,
               {Vacancy(1, 2, 3, Vec2(1, 2)), Vacancy(4, 5, 6, Vec2(3, 4)),
                OffLattice(Vec2(5, 6))});
    u.tracker_state = binary_state;
    CommitOk(*catalog, u);
    CommitOk(*catalog, Update("s2", 1, 2.0, {Vacancy(1, 2, 3, Vec2(1, 2))}));
    before = All(*catalog, "s1");
    REQUIRE(before.size() == 3);
  }
  // The schema is versioned in the file header.
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open_v2(options.path.c_str(), &db, SQLITE_OPEN_READONLY,
                            nullptr) == SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, nullptr) ==
            SQLITE_OK);
    REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
    CHECK(sqlite3_column_int(stmt, 0) == 1);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
  }

  auto catalog = OpenOk(options);
  CHECK(catalog->CheckIntegrity().ok());
  const std::vector<DefectRecord> after = All(*catalog, "s1");
  REQUIRE(after.size() == before.size());
  for (size_t k = 0; k < after.size(); ++k) {
    CHECK(after[k].id == before[k].id);
    CHECK(after[k].kind == before[k].kind);
    CHECK(after[k].session_nm == before[k].session_nm);
    CHECK(after[k].times_seen == 1);
  }
  CHECK(after[2].kind == DefectKind::kOffLattice);
  CHECK(after[2].site == -1);
  std::string state;
  REQUIRE(catalog->LoadTrackerState("s1", &state).ok());
  CHECK(state == binary_state);
  REQUIRE(catalog->LoadTrackerState("unknown", &state).ok());
  CHECK(state.empty());
  std::vector<std::string> sessions;
  REQUIRE(catalog->Sessions(&sessions).ok());
  CHECK(sessions == std::vector<std::string>{"s2", "s1"});  // newest first

  // A known vacancy keeps its id; a new one gets a higher id.
  const auto records = CommitOk(
      *catalog,
      Update("s1", 2, 3.0,
             {Vacancy(1, 2, 3, Vec2(1, 2)), Vacancy(9, 9, 0, Vec2(8, 8))}));
  CHECK(records[0].id == before[0].id);
  CHECK(records[1].id > 4);
  int64_t count = 0;
  REQUIRE(catalog->Count("s1", &count).ok());
  CHECK(count == 4);
}

TEST_CASE("ids are never reused, even after the newest defect is deleted") {
  TempDir dir("anchord_catalog");
  CatalogOptions options = OptionsAt(dir / "catalog.db");
  options.max_age_s = 1.0;
  auto catalog = OpenOk(options);
  const auto a =
      CommitOk(*catalog, Update("s", 1, 0.0, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  const auto b = CommitOk(*catalog, Update("s", 2, 0.5,
                                           {Vacancy(0, 0, 0, Vec2(0, 0)),
                                            Vacancy(1, 0, 0, Vec2(1, 0))}));
  CHECK(b[1].id == a[0].id + 1);
  CommitOk(*catalog, Update("s", 3, 1.0, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  // b[1] was last seen at 0.5 s: older than 1 s at 1.6 s, deleted.
  CommitOk(*catalog, Update("s", 4, 1.6, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  CHECK(Ids(All(*catalog, "s")) == std::vector<int64_t>{a[0].id});
  const auto c =
      CommitOk(*catalog, Update("s", 5, 1.7, {Vacancy(2, 0, 0, Vec2(2, 0))}));
  CHECK(c[0].id == b[1].id + 1);
}

TEST_CASE("vacancies keep their identity by (i, j, site)") {
  TempDir dir("anchord_catalog");
  auto catalog = OpenOk(OptionsAt(dir / "catalog.db"));
  const auto f1 =
      CommitOk(*catalog, Update("s", 1, 1.0, {Vacancy(3, 4, 5, Vec2(10, 10))}));
  const auto f2 = CommitOk(*catalog, Update("s", 2, 2.0,
                                            {Vacancy(3, 4, 5, Vec2(10.1, 10)),
                                             Vacancy(3, 4, 6, Vec2(10.5, 10)),
                                             Vacancy(4, 4, 5, Vec2(13, 10))}));
  CHECK(f2[0].id == f1[0].id);
  CHECK(f2[1].id != f1[0].id);
  CHECK(f2[2].id != f1[0].id);
  CHECK(f2[1].id != f2[2].id);
  CHECK(f2[0].times_seen == 2);
  CHECK(f2[0].times_observed == 2);
  CHECK(f2[0].session_nm.x() == doctest::Approx(10.05));
  CHECK(f2[0].first_seen_unix_ns == Ns(1.0));
  CHECK(f2[0].last_seen_unix_ns == Ns(2.0));
  CHECK(f2[0].last_frame_id == 2);
  CHECK(f2[0].i == 3);
  CHECK(f2[0].j == 4);
  CHECK(f2[0].site == 5);

  // Another session has its own defects.
  const auto other =
      CommitOk(*catalog, Update("t", 1, 1.0, {Vacancy(3, 4, 5, Vec2(10, 10))}));
  CHECK(other[0].id != f1[0].id);
  CHECK(other[0].times_seen == 1);

  // Two observations of one key in one frame are one sighting at their
  // mean position.
  const auto f3 =
      CommitOk(*catalog, Update("s", 3, 3.0,
                                {Vacancy(3, 4, 5, Vec2(10, 10)),
                                 Vacancy(3, 4, 5, Vec2(10.2, 10))}));
  CHECK(f3[0].id == f1[0].id);
  CHECK(f3[1].id == f1[0].id);
  CHECK(f3[1].times_seen == 3);
  CHECK(f3[1].times_observed == 3);
  CHECK(f3[1].session_nm.x() == doctest::Approx((10 + 10.1 + 10.1) / 3));
}

TEST_CASE("off-lattice features keep their identity within match_radius_nm") {
  TempDir dir("anchord_catalog");
  CatalogOptions options = OptionsAt(dir / "catalog.db");
  REQUIRE(options.match_radius_nm == 0.4);
  auto catalog = OpenOk(options);
  const int64_t a =
      CommitOk(*catalog, Update("s", 1, 1.0, {OffLattice(Vec2(20, 20))}))[0].id;
  // 0.3 nm away: the same feature; its mean moves to 20.15.
  const auto f2 =
      CommitOk(*catalog, Update("s", 2, 2.0, {OffLattice(Vec2(20.3, 20))}));
  CHECK(f2[0].id == a);
  CHECK(f2[0].session_nm.x() == doctest::Approx(20.15));
  // 0.45 nm from the mean: a new feature.
  const int64_t b =
      CommitOk(*catalog, Update("s", 3, 3.0, {OffLattice(Vec2(20.6, 20))}))[0]
          .id;
  CHECK(b != a);
  // Within reach of both (0.35 and 0.1 nm): the nearest.
  const auto f4 =
      CommitOk(*catalog, Update("s", 4, 4.0, {OffLattice(Vec2(20.5, 20))}));
  CHECK(f4[0].id == b);
  // A vacancy at the same place is another defect; so is a feature of
  // another session.
  const auto f5 = CommitOk(
      *catalog, Update("s", 5, 5.0, {Vacancy(0, 0, 0, Vec2(20.15, 20))}));
  CHECK(f5[0].id != a);
  CHECK(f5[0].id != b);
  const auto t =
      CommitOk(*catalog, Update("t", 1, 1.0, {OffLattice(Vec2(20, 20))}));
  CHECK(t[0].id != a);
  // Two new features 0.2 nm apart in one frame are one sighting.
  const auto f6 = CommitOk(
      *catalog, Update("s", 6, 6.0,
                       {OffLattice(Vec2(30, 30)), OffLattice(Vec2(30.2, 30))}));
  CHECK(f6[0].id == f6[1].id);
  CHECK(f6[0].times_seen == 1);
  CHECK(f6[1].session_nm.x() == doctest::Approx(30.1));
  // The same two as known features: still one sighting.
  const auto f7 = CommitOk(
      *catalog, Update("s", 7, 7.0,
                       {OffLattice(Vec2(30, 30)), OffLattice(Vec2(30.2, 30))}));
  CHECK(f7[0].id == f6[0].id);
  CHECK(f7[1].id == f6[0].id);
  CHECK(f7[1].times_seen == 2);
  int64_t count = 0;
  REQUIRE(catalog->Count("s", &count).ok());
  CHECK(count == 4);
}

TEST_CASE("sigma is the standard error of the mean position") {
  TempDir dir("anchord_catalog");
  auto catalog = OpenOk(OptionsAt(dir / "catalog.db"));
  std::vector<DefectRecord> r;
  for (int k = 0; k < 3; ++k) {
    r = CommitOk(*catalog,
                 Update("s", k, k, {Vacancy(0, 0, 0, Vec2(1, 1), 0.1)}));
  }
  CHECK(r[0].sigma_nm == doctest::Approx(0.1 / std::sqrt(3.0)));
  // Sightings that scatter more than their sigma: the scatter rules.
  // x = 0 and 1: per-axis variance 1/4 (2-D squared deviation 0.5 over
  // 2 axes and n - 1 = 1), standard error sqrt(0.25 / 2).
  CommitOk(*catalog, Update("s", 10, 10, {Vacancy(1, 0, 0, Vec2(0, 0), 0.01)}));
  r = CommitOk(*catalog,
               Update("s", 11, 11, {Vacancy(1, 0, 0, Vec2(1, 0), 0.01)}));
  CHECK(r[0].sigma_nm == doctest::Approx(std::sqrt(0.25 / 2)));
}

TEST_CASE("seen, observed and active follow the frames' footprints") {
  TempDir dir("anchord_catalog");
  auto catalog = OpenOk(OptionsAt(dir / "catalog.db"));
  const auto f1 = CommitOk(
      *catalog, Update("s", 1, 1.0,
                       {Vacancy(0, 0, 0, Vec2(5, 5)),
                        Vacancy(1, 0, 0, Vec2(12, 8)), OffLattice(Vec2(18, 2))},
                       Box(Vec2(0, 0), Vec2(20, 10))));
  const int64_t a = f1[0].id, b = f1[1].id, c = f1[2].id;
  for (const DefectRecord& r : f1) {
    CHECK(r.times_seen == 1);
    CHECK(r.times_observed == 1);  // seen once, not also counted as inside
    CHECK(r.active());
    CHECK(r.changed_unix_ns == Ns(1.0));
  }

  // Frame 2 covers only A and does not see it: A disappears.
  CommitOk(*catalog, Update("s", 2, 2.0, {}, Box(Vec2(0, 0), Vec2(10, 10))));
  auto all = All(*catalog, "s");
  CHECK(ById(all, a).times_seen == 1);
  CHECK(ById(all, a).times_observed == 2);
  CHECK_FALSE(ById(all, a).active());
  CHECK(ById(all, a).changed_unix_ns == Ns(2.0));
  CHECK(ById(all, b).times_observed == 1);
  CHECK(ById(all, b).changed_unix_ns == Ns(1.0));
  DefectQuery active;
  active.session = "s";
  CHECK(Ids(FindOk(*catalog, active)) == std::vector<int64_t>{b, c});

  // Frame 3 sees A again: it reappears.
  auto f3 =
      CommitOk(*catalog, Update("s", 3, 3.0, {Vacancy(0, 0, 0, Vec2(5, 5))},
                                Box(Vec2(0, 0), Vec2(10, 10))));
  CHECK(f3[0].times_seen == 2);
  CHECK(f3[0].times_observed == 3);
  CHECK(f3[0].active());
  CHECK(f3[0].changed_unix_ns == Ns(3.0));

  // A routine sighting (a 0.05 nm wobble) is no change; a sighting outside
  // the footprint still counts as observed.
  auto f4 = CommitOk(*catalog,
                     Update("s", 4, 4.0, {Vacancy(0, 0, 0, Vec2(5.05, 5))}));
  CHECK(f4[0].times_seen == 3);
  CHECK(f4[0].times_observed == 4);
  CHECK(f4[0].changed_unix_ns == Ns(3.0));

  // A clockwise triangle whose bounding box holds B and C but which holds
  // only C: C is observed missing (and disappears), B is untouched.
  CommitOk(*catalog,
           Update("s", 5, 5.0, {}, {Vec2(10, 0), Vec2(20, 10), Vec2(20, 0)}));
  all = All(*catalog, "s");
  CHECK(ById(all, b).times_observed == 1);
  CHECK(ById(all, c).times_observed == 2);
  CHECK_FALSE(ById(all, c).active());
  CHECK(ById(all, c).changed_unix_ns == Ns(5.0));

  // A sighting that drags the mean more than match_radius_nm / 2 = 0.2 nm
  // from where it was at the last change (5, 5) is a move.
  auto f6 =
      CommitOk(*catalog, Update("s", 6, 6.0, {Vacancy(0, 0, 0, Vec2(6, 5))}));
  CHECK(f6[0].session_nm.x() == doctest::Approx((5 + 5 + 5.05 + 6) / 4.0));
  CHECK(f6[0].changed_unix_ns == Ns(6.0));

  // A defect already inactive that is missed again: no change.
  CommitOk(*catalog, Update("s", 7, 7.0, {}, Box(Vec2(15, 0), Vec2(20, 5))));
  CHECK(ById(All(*catalog, "s"), c).times_observed == 3);
  CHECK(ById(All(*catalog, "s"), c).changed_unix_ns == Ns(5.0));
  // A footprint of another session touches nothing here.
  CommitOk(*catalog, Update("t", 1, 8.0, {}, Box(Vec2(0, 0), Vec2(20, 10))));
  CHECK(ById(All(*catalog, "s"), b).times_observed == 1);
}

TEST_CASE("queries return exactly the matching defects") {
  TempDir dir("anchord_catalog");
  auto catalog = OpenOk(OptionsAt(dir / "catalog.db"));
  const auto f1 = CommitOk(
      *catalog,
      Update("q", 1, 1.0,
             {Vacancy(0, 0, 0, Vec2(0, 0)), Vacancy(1, 0, 0, Vec2(2, 0)),
              Vacancy(2, 0, 0, Vec2(4, 0)), OffLattice(Vec2(1, 1)),
              OffLattice(Vec2(3, 3)), Vacancy(3, 0, 0, Vec2(2, 2))}));
  const int64_t v1 = f1[0].id, v2 = f1[1].id, v3 = f1[2].id, o1 = f1[3].id,
                o2 = f1[4].id, v4 = f1[5].id;
  CommitOk(*catalog, Update("other", 1, 1.0, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  const std::string session = "q";
  auto query = [&session] {
    DefectQuery q;
    q.session = session;
    return q;
  };
  using V = std::vector<int64_t>;

  CHECK(Ids(FindOk(*catalog, query())) == V{v1, v2, v3, o1, o2, v4});
  {
    DefectQuery q = query();
    q.limit = 3;
    CHECK(Ids(FindOk(*catalog, q)) == V{v1, v2, v3});
  }
  {
    DefectQuery q = query();
    q.kind = DefectKind::kOffLattice;
    CHECK(Ids(FindOk(*catalog, q)) == V{o1, o2});
    q.kind = DefectKind::kVacancy;
    CHECK(Ids(FindOk(*catalog, q)) == V{v1, v2, v3, v4});
  }
  {  // Closed rectangle: (2, 0) and (2, 2) on its border are in.
    DefectQuery q = query();
    q.rect_nm = std::make_pair(Vec2(1, 0), Vec2(2, 2));
    CHECK(Ids(FindOk(*catalog, q)) == V{v2, o1, v4});
    q.kind = DefectKind::kVacancy;
    CHECK(Ids(FindOk(*catalog, q)) == V{v2, v4});
    q.rect_nm = std::make_pair(Vec2(2, 2), Vec2(1, 0));  // empty
    CHECK(FindOk(*catalog, q).empty());
  }
  {  // Disc: (1, 1) is in its bounding box but 1.41 nm from the centre.
    DefectQuery q = query();
    q.disc_nm = std::make_pair(Vec2(0, 0), 1.2);
    CHECK(Ids(FindOk(*catalog, q)) == V{v1});
    // Closed: at exactly 2 nm, v1, v3 and v4 are in; o2 at 3.16 is out.
    q.disc_nm = std::make_pair(Vec2(2, 0), 2.0);
    CHECK(Ids(FindOk(*catalog, q)) == V{v1, v2, v3, o1, v4});
    // With a rectangle: both must hold.
    q.disc_nm = std::make_pair(Vec2(2, 0), 1.5);
    q.rect_nm = std::make_pair(Vec2(1, 0), Vec2(2, 2));
    CHECK(Ids(FindOk(*catalog, q)) == V{v2, o1});
  }
  {  // Nearest to (1, 0): v1, v2 and o1 all at 1 nm (by id), then v4, v3.
    DefectQuery q = query();
    q.nearest_to_nm = Vec2(1, 0);
    q.limit = 5;
    CHECK(Ids(FindOk(*catalog, q)) == V{v1, v2, o1, v4, v3});
    q.limit = 2;
    CHECK(Ids(FindOk(*catalog, q)) == V{v1, v2});
    q.limit = 100;
    CHECK(Ids(FindOk(*catalog, q)) == V{v1, v2, o1, v4, v3, o2});
    q.kind = DefectKind::kOffLattice;
    CHECK(Ids(FindOk(*catalog, q)) == V{o1, o2});
    q.kind.reset();
    q.disc_nm = std::make_pair(Vec2(4, 0), 2.0);
    CHECK(Ids(FindOk(*catalog, q)) == V{v2, v3});
  }

  // Frame 2 misses v3 (inactive now), sees o2 where it was (no change) and
  // finds a new vacancy v5.
  const auto f2 = CommitOk(
      *catalog, Update("q", 2, 2.0,
                       {OffLattice(Vec2(3, 3)), Vacancy(5, 5, 0, Vec2(10, 10))},
                       Box(Vec2(3.5, -1), Vec2(4.5, 1))));
  CHECK(f2[0].id == o2);
  const int64_t v5 = f2[1].id;
  CHECK(Ids(FindOk(*catalog, query())) == V{v1, v2, o1, o2, v4, v5});
  {
    DefectQuery q = query();
    q.changed_since_unix_ns = Ns(1.0);
    CHECK(Ids(FindOk(*catalog, q)) == V{v5});
    q.include_inactive = true;
    CHECK(Ids(FindOk(*catalog, q)) == V{v3, v5});
    q.changed_since_unix_ns = Ns(2.0);
    CHECK(FindOk(*catalog, q).empty());
    q.changed_since_unix_ns = Ns(1.0) - 1;
    CHECK(FindOk(*catalog, q).size() == 7);
  }
  {
    DefectQuery q = query();
    q.nearest_to_nm = Vec2(4, 0);
    q.kind = DefectKind::kVacancy;
    q.limit = 2;
    CHECK(Ids(FindOk(*catalog, q)) == V{v2, v4});
    q.include_inactive = true;
    CHECK(Ids(FindOk(*catalog, q)) == V{v3, v2});
  }
  {
    DefectQuery q;
    q.session = "nobody";
    CHECK(FindOk(*catalog, q).empty());
    q.session = "other";
    CHECK(FindOk(*catalog, q).size() == 1);
  }
  {  // Malformed queries are refused, not run.
    std::vector<DefectRecord> records;
    DefectQuery q = query();
    q.limit = 0;
    CHECK(catalog->Find(q, &records).code() == StatusCode::kInvalidInput);
    q = query();
    q.disc_nm = std::make_pair(Vec2(0, 0), -1.0);
    CHECK(catalog->Find(q, &records).code() == StatusCode::kInvalidInput);
    q = query();
    q.nearest_to_nm = Vec2(std::nan(""), 0);
    CHECK(catalog->Find(q, &records).code() == StatusCode::kInvalidInput);
  }
}

TEST_CASE("retention by count deletes the least recently seen first") {
  TempDir dir("anchord_catalog");
  CatalogOptions options = OptionsAt(dir / "catalog.db");
  options.max_defects_per_session = 3;
  auto catalog = OpenOk(options);
  const auto f1 = CommitOk(*catalog, Update("s", 1, 1.0,
                                            {Vacancy(0, 0, 0, Vec2(0, 0)),
                                             Vacancy(1, 0, 0, Vec2(1, 0))}));
  const int64_t a = f1[0].id;
  const int64_t c =
      CommitOk(*catalog, Update("s", 2, 2.0, {Vacancy(2, 0, 0, Vec2(2, 0))}))[0]
          .id;
  CommitOk(*catalog,
           Update("other", 1, 2.5,
                  {Vacancy(0, 0, 0, Vec2(0, 0)), Vacancy(1, 0, 0, Vec2(0, 0)),
                   Vacancy(2, 0, 0, Vec2(0, 0))}));
  // Sees a again and finds d: 4 > 3, b (last seen at 1 s) goes.
  const auto f3 = CommitOk(*catalog, Update("s", 3, 3.0,
                                            {Vacancy(0, 0, 0, Vec2(0, 0)),
                                             Vacancy(3, 0, 0, Vec2(3, 0))}));
  const int64_t d = f3[1].id;
  CHECK(Ids(All(*catalog, "s")) == std::vector<int64_t>{a, c, d});
  // Two more: c (2 s) goes, then a (3 s, tied with d, older id).
  const auto f4 = CommitOk(*catalog, Update("s", 4, 4.0,
                                            {Vacancy(4, 0, 0, Vec2(4, 0)),
                                             Vacancy(5, 0, 0, Vec2(5, 0))}));
  CHECK(Ids(All(*catalog, "s")) == std::vector<int64_t>{d, f4[0].id, f4[1].id});
  // The other session keeps its own three.
  int64_t count = 0;
  REQUIRE(catalog->Count("other", &count).ok());
  CHECK(count == 3);
}

TEST_CASE("retention by age deletes defects not seen for max_age_s") {
  TempDir dir("anchord_catalog");
  CatalogOptions options = OptionsAt(dir / "catalog.db");
  options.max_age_s = 10;
  auto catalog = OpenOk(options);
  const auto f1 = CommitOk(*catalog, Update("s", 1, 0.0,
                                            {Vacancy(0, 0, 0, Vec2(0, 0)),
                                             Vacancy(1, 0, 0, Vec2(1, 0))}));
  CommitOk(*catalog, Update("other", 1, 0.0, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  CommitOk(*catalog, Update("s", 2, 5.0, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  // At 12 s, b (last seen 0 s) is older than 10 s; a (5 s) is not.
  const int64_t c =
      CommitOk(*catalog,
               Update("s", 3, 12.0, {Vacancy(2, 0, 0, Vec2(2, 0))}))[0]
          .id;
  CHECK(Ids(All(*catalog, "s")) == std::vector<int64_t>{f1[0].id, c});
  // Exactly 10 s old is kept; older goes.
  CommitOk(*catalog, Update("s", 4, 15.0, {}));
  CHECK(Ids(All(*catalog, "s")) == std::vector<int64_t>{f1[0].id, c});
  CommitOk(*catalog, Update("s", 5, 16.0, {}));
  CHECK(Ids(All(*catalog, "s")) == std::vector<int64_t>{c});
  // Other sessions age only with their own commits.
  CHECK(All(*catalog, "other").size() == 1);
}

TEST_CASE("bad files give a clean error status") {
  TempDir dir("anchord_catalog");
  Status status;

  SUBCASE("missing file opened read-only") {
    CatalogOptions options = OptionsAt(dir / "missing.db");
    options.read_only = true;
    CHECK(DefectCatalog::Open(options, &status) == nullptr);
    CHECK(status.code() == StatusCode::kInternal);
    CHECK(status.message().find("missing.db") != std::string::npos);
    CHECK_FALSE(std::filesystem::exists(options.path));
  }
  SUBCASE("not a database") {
    const std::string path = dir / "garbage.db";
    {
      std::ofstream out(path, std::ios::binary);
      for (int k = 0; k < 1000; ++k) out << "this is not a database ";
    }
    for (bool read_only : {false, true}) {
      CatalogOptions options = OptionsAt(path);
      options.read_only = read_only;
      CHECK(DefectCatalog::Open(options, &status) == nullptr);
      CHECK(status.code() == StatusCode::kInternal);
      CHECK(status.message().find("not a database") != std::string::npos);
    }
  }
  SUBCASE("another program's SQLite database") {
    const std::string path = dir / "foreign.db";
    RawSql(path, "CREATE TABLE t (x INTEGER)");
    CHECK(DefectCatalog::Open(OptionsAt(path), &status) == nullptr);
    CHECK(status.code() == StatusCode::kInvalidInput);
    CHECK(status.message().find("not an anchord catalog") != std::string::npos);
  }
  SUBCASE("a catalog of another schema version") {
    const std::string path = dir / "future.db";
    OpenOk(OptionsAt(path));
    RawSql(path, "PRAGMA user_version = 99");
    CHECK(DefectCatalog::Open(OptionsAt(path), &status) == nullptr);
    CHECK(status.code() == StatusCode::kInvalidInput);
    CHECK(status.message().find("schema version 99") != std::string::npos);
  }
  SUBCASE("a catalog with damaged pages") {
    const std::string path = dir / "damaged.db";
    {
      auto catalog = OpenOk(OptionsAt(path));
      std::vector<DefectObservation> many;
      for (int k = 0; k < 2000; ++k)
        many.push_back(Vacancy(k, 0, 0, Vec2(k, 0)));
      CommitOk(*catalog, Update("s", 1, 1.0, many));
    }  // closing the last connection checkpoints the WAL into the file
    const auto size = std::filesystem::file_size(path);
    REQUIRE(size > 16 * 4096);
    {
      std::fstream io(path, std::ios::in | std::ios::out | std::ios::binary);
      io.seekp(4 * 4096);
      const std::string junk(8 * 4096, '\x5a');
      io.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    auto catalog = DefectCatalog::Open(OptionsAt(path), &status);
    if (catalog == nullptr) {
      CHECK(status.code() == StatusCode::kInternal);
    } else {
      const Status integrity = catalog->CheckIntegrity();
      CHECK(integrity.code() == StatusCode::kInternal);
      CHECK(integrity.message().find("damaged.db") != std::string::npos);
      // Queries over the damage fail cleanly (or read what is intact).
      std::vector<DefectRecord> records;
      DefectQuery q;
      q.session = "s";
      q.limit = 1 << 20;
      const Status find = catalog->Find(q, &records);
      CHECK((find.ok() || find.code() == StatusCode::kInternal));
      std::vector<DefectRecord> committed;
      const Status commit = catalog->Commit(
          Update("s", 2, 2.0, {Vacancy(0, 0, 0, Vec2(0, 0))}), &committed);
      CHECK((commit.ok() || commit.code() == StatusCode::kInternal));
    }
  }
}

TEST_CASE("malformed updates are refused and store nothing") {
  TempDir dir("anchord_catalog");
  auto catalog = OpenOk(OptionsAt(dir / "catalog.db"));
  CommitOk(*catalog, Update("s", 1, 1.0, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  std::vector<CatalogUpdate> bad;
  bad.push_back(Update("", 2, 2.0, {Vacancy(1, 0, 0, Vec2(1, 0))}));
  bad.push_back(Update(
      "s", 2, 2.0,
      {Vacancy(1, 0, 0, Vec2(1, 0)), Vacancy(2, 0, 0, Vec2(std::nan(""), 0))}));
  bad.push_back(Update("s", 2, 2.0, {Vacancy(1, 0, 0, Vec2(1, 0), -0.1)}));
  bad.push_back(Update("s", 2, 2.0, {Vacancy(1, 0, -1, Vec2(1, 0))}));
  bad.push_back(Update("s", 2, 2.0, {Vacancy(1, 0, 0, Vec2(1, 0))},
                       {Vec2(0, 0), Vec2(1, 0), Vec2(0, INFINITY)}));
  DefectObservation weird = OffLattice(Vec2(1, 1));
  weird.kind = static_cast<DefectKind>(7);
  bad.push_back(Update("s", 2, 2.0, {weird}));
  for (const CatalogUpdate& u : bad) {
    std::vector<DefectRecord> records;
    const Status status = catalog->Commit(u, &records);
    CHECK(status.code() == StatusCode::kInvalidInput);
    CHECK(records.empty());
  }
  const auto all = All(*catalog, "s");
  REQUIRE(all.size() == 1);
  CHECK(all[0].times_seen == 1);
  std::string state;
  REQUIRE(catalog->LoadTrackerState("s", &state).ok());
  CHECK(state == "after frame 1");
}

TEST_CASE("a read-only catalog sees the writer's commits") {
  TempDir dir("anchord_catalog");
  const std::string path = dir / "catalog.db";
  CatalogOptions reader_options = OptionsAt(path);
  reader_options.read_only = true;
  Status status;
  // No schema yet: a reader cannot create one.
  RawSql(path, "PRAGMA user_version");
  CHECK(DefectCatalog::Open(reader_options, &status) == nullptr);
  CHECK(status.code() == StatusCode::kInvalidInput);

  auto writer = OpenOk(OptionsAt(path));
  CommitOk(*writer, Update("s", 1, 1.0, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  auto reader = OpenOk(reader_options);
  CHECK(All(*reader, "s").size() == 1);
  CommitOk(*writer, Update("s", 2, 2.0, {Vacancy(1, 0, 0, Vec2(1, 0))}));
  CHECK(All(*reader, "s").size() == 2);
  std::string state;
  REQUIRE(reader->LoadTrackerState("s", &state).ok());
  CHECK(state == "after frame 2");
  CHECK(reader->CheckIntegrity().ok());

  std::vector<DefectRecord> records;
  CHECK(reader->Commit(Update("s", 3, 3.0, {}), &records).code() ==
        StatusCode::kInvalidInput);

  // After the writer closed (and removed its WAL), a reader still opens.
  reader.reset();
  writer.reset();
  auto late_reader = OpenOk(reader_options);
  CHECK(All(*late_reader, "s").size() == 2);
}

// The crash test's writer (a forked child): opens the catalog and commits
// frames from the one after its stored tracker state, forever; each frame
// adds the vacancy (frame, 0, 0), sees the 20 before it again and misses
// a few under its footprint. Writes every frame id to `fd` after Commit()
// returned. Never returns.
[[noreturn]] void CommitForever(const std::string& path, int fd) {
  Status status;
  auto catalog = DefectCatalog::Open(OptionsAt(path), &status);
  if (catalog == nullptr) _exit(2);
  std::string state;
  if (!catalog->LoadTrackerState("crash", &state).ok()) _exit(3);
  uint64_t frame =
      state.empty() ? 1 : std::strtoull(state.c_str(), nullptr, 10) + 1;
  std::vector<DefectRecord> records;
  for (;; ++frame) {
    CatalogUpdate u;
    u.session = "crash";
    u.frame_id = frame;
    u.time_unix_ns = static_cast<int64_t>(frame) * 1'000'000;
    const double x = 0.5 * static_cast<double>(frame);
    for (uint64_t k = 0; k <= 20 && k < frame; ++k) {
      const int i = static_cast<int>(frame - k);
      u.observations.push_back(Vacancy(i, 0, 0, Vec2(0.5 * i, 0)));
    }
    u.footprint_nm = Box(Vec2(x - 15, -1), Vec2(x + 1, 1));
    u.tracker_state = std::to_string(frame) + std::string(2000, '.');
    if (!catalog->Commit(u, &records).ok()) _exit(4);
    if (write(fd, &frame, sizeof frame) != sizeof frame) _exit(5);
  }
}

TEST_CASE("every commit a killed writer reported survives the kill" *
          doctest::timeout(10)) {
  TempDir dir("anchord_catalog");
  const std::string path = dir / "crash.db";
  // (frames reported before the kill, then a pause in µs): the first
  // round kills the writer before or while it creates the schema.
  const std::vector<std::pair<int, int>> rounds = {
      {0, 0},    {0, 3000}, {1, 0},   {7, 130},  {40, 700}, {3, 2100},
      {120, 50}, {15, 333}, {60, 10}, {2, 1500}, {25, 90},  {9, 4000}};
  uint64_t reported_max = 0, previous_stored_frame = 0;
  for (const auto& [reports, pause_us] : rounds) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      CommitForever(path, fds[1]);
    }
    close(fds[1]);
    // Everything the child wrote was committed before it was written.
    std::vector<uint64_t> committed;
    std::string pending;
    auto read_some = [&] {
      char buffer[4096];
      const ssize_t n = read(fds[0], buffer, sizeof buffer);
      if (n <= 0) return false;
      pending.append(buffer, static_cast<size_t>(n));
      while (pending.size() >= sizeof(uint64_t)) {
        uint64_t id;
        std::memcpy(&id, pending.data(), sizeof id);
        committed.push_back(id);
        pending.erase(0, sizeof id);
      }
      return true;
    };
    // Meanwhile a reader (as the daemon's query thread) counts the defects
    // the writer has committed.
    std::unique_ptr<DefectCatalog> reader;
    int64_t last_count = 0;
    while (committed.size() < static_cast<size_t>(reports) && read_some()) {
      if (committed.empty()) continue;
      if (reader == nullptr) {
        CatalogOptions read_only = OptionsAt(path);
        read_only.read_only = true;
        reader = OpenOk(read_only);
      }
      int64_t count = 0;
      const Status counted = reader->Count("crash", &count);
      REQUIRE_MESSAGE(counted.ok(), counted.message());
      CHECK(count >= static_cast<int64_t>(committed.back()));
      CHECK(count >= last_count);
      last_count = count;
    }
    reader.reset();
    usleep(static_cast<useconds_t>(pause_us));
    REQUIRE(kill(pid, SIGKILL) == 0);
    int wait_status = 0;
    REQUIRE(waitpid(pid, &wait_status, 0) == pid);
    CHECK_MESSAGE(
        WIFSIGNALED(wait_status),
        "the writer exited by itself with code " << WEXITSTATUS(wait_status));
    while (read_some()) {
    }
    close(fds[0]);
    CHECK(committed.size() >= static_cast<size_t>(reports));
    for (uint64_t id : committed) reported_max = std::max(reported_max, id);

    // Reopen as the restarted daemon would.
    auto catalog = OpenOk(OptionsAt(path));
    CHECK(catalog->CheckIntegrity().ok());
    std::string state;
    REQUIRE(catalog->LoadTrackerState("crash", &state).ok());
    const uint64_t stored_frame =
        state.empty() ? 0 : std::strtoull(state.c_str(), nullptr, 10);
    INFO("round: " << committed.size() << " reported, frame " << stored_frame
                   << " stored");
    // At most the one frame between its Commit() and its report is more.
    CHECK(stored_frame >= reported_max);
    CHECK(stored_frame <= std::max(reported_max, previous_stored_frame) + 1);
    previous_stored_frame = stored_frame;
    // Defects and tracker state agree: frames 1..stored_frame, no more.
    std::set<int> vacancies;
    for (const DefectRecord& r : All(*catalog, "crash")) {
      vacancies.insert(r.i);
      CHECK(r.last_frame_id <= stored_frame);
    }
    CHECK(vacancies.size() == stored_frame);
    if (!vacancies.empty()) {
      CHECK(*vacancies.begin() == 1);
      CHECK(*vacancies.rbegin() == static_cast<int>(stored_frame));
    }
    for (uint64_t id : committed) {
      CHECK(vacancies.count(static_cast<int>(id)) == 1);
    }
  }
  CHECK(reported_max > 100);
}

TEST_CASE("a defect at a place the frame left undecided is not observed") {
  TempDir dir("anchord_catalog");
  auto catalog = OpenOk(OptionsAt(dir / "catalog.db"));
  const auto f1 = CommitOk(*catalog, Update("s", 1, 1.0,
                                            {Vacancy(0, 0, 0, Vec2(5, 5)),
                                             Vacancy(1, 0, 0, Vec2(7, 5))},
                                            Box(Vec2(0, 0), Vec2(10, 10))));
  CatalogUpdate u = Update("s", 2, 2.0, {}, Box(Vec2(0, 0), Vec2(10, 10)));
  u.undecided_nm = {Vec2(5.01, 5.0)};  // A's site, within 0.05 nm
  CommitOk(*catalog, u);
  const auto all = All(*catalog, "s");
  CHECK(ById(all, f1[0].id).times_observed == 1);
  CHECK(ById(all, f1[0].id).active());
  CHECK(ById(all, f1[1].id).times_observed == 2);  // B was decided: missing
  CHECK_FALSE(ById(all, f1[1].id).active());
}

TEST_CASE("retention never deletes what the committing frame reports") {
  TempDir dir("anchord_catalog");
  CatalogOptions options = OptionsAt(dir / "catalog.db");
  options.max_defects_per_session = 3;
  options.max_age_s = 10;
  auto catalog = OpenOk(options);
  CommitOk(*catalog, Update("s", 1, 100.0, {Vacancy(9, 9, 0, Vec2(9, 9))}));
  // Five new defects in one frame: all five stay (their ids are published),
  // the older one goes.
  const auto big = CommitOk(
      *catalog,
      Update("s", 2, 101.0,
             {Vacancy(0, 0, 0, Vec2(0, 0)), Vacancy(1, 0, 0, Vec2(1, 0)),
              Vacancy(2, 0, 0, Vec2(2, 0)), Vacancy(3, 0, 0, Vec2(3, 0)),
              Vacancy(4, 0, 0, Vec2(4, 0))}));
  std::vector<int64_t> reported;
  for (const auto& r : big) reported.push_back(r.id);
  CHECK(Ids(All(*catalog, "s")) == reported);
  // A late frame (acquired before the stored ones) that sees one of them
  // again keeps it.
  const auto late =
      CommitOk(*catalog, Update("s", 3, 50.0, {Vacancy(0, 0, 0, Vec2(0, 0))}));
  REQUIRE(late.size() == 1);
  const auto ids = Ids(All(*catalog, "s"));
  CHECK(std::find(ids.begin(), ids.end(), late[0].id) != ids.end());
}

TEST_CASE("invalid session names are refused with the reason") {
  auto catalog = OpenOk(OptionsAt(":memory:"));
  struct Case {
    std::string session;
    std::string reason;
  };
  const std::vector<Case> cases = {
      {std::string(129, 's'), "is 129 bytes, more than 128"},
      {std::string(1 << 20, 's'), "is 1048576 bytes, more than 128"},
      {"run\n2", "has a control character 0x0a at byte 3"},
      {std::string("a\0b", 3), "has a control character 0x00 at byte 1"},
      {"run 2", "has a space at byte 3"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.reason);
    std::vector<DefectRecord> records;
    const Status status = catalog->Commit(
        Update(c.session, 1, 1.0, {Vacancy(0, 0, 0, Vec2(0, 0))}), &records);
    CHECK(status.code() == StatusCode::kInvalidInput);
    CHECK(status.message().find(c.reason) != std::string::npos);
    CHECK(status.message().find("catalog: update session \"") == 0);
    CHECK(status.message().size() < 300);
    CHECK(status.message().find('\n') == std::string::npos);
    CHECK(records.empty());
  }
  std::vector<std::string> sessions;
  REQUIRE(catalog->Sessions(&sessions).ok());
  CHECK(sessions.empty());
  // The longest valid name is stored.
  CommitOk(*catalog, Update(std::string(128, 's'), 1, 1.0, {}));
  REQUIRE(catalog->Sessions(&sessions).ok());
  CHECK(sessions.size() == 1);
}

std::vector<std::string> SessionsOk(const DefectCatalog& catalog) {
  std::vector<std::string> sessions;
  const Status status = catalog.Sessions(&sessions);
  REQUIRE_MESSAGE(status.ok(), status.message());
  return sessions;
}

int64_t CountOk(const DefectCatalog& catalog, const std::string& session) {
  int64_t count = 0;
  REQUIRE(catalog.Count(session, &count).ok());
  return count;
}

// `n` vacancies (k, 0, 0), k < n.
std::vector<DefectObservation> Vacancies(int n) {
  std::vector<DefectObservation> out;
  for (int k = 0; k < n; ++k) out.push_back(Vacancy(k, 0, 0, Vec2(k, 0)));
  return out;
}

TEST_CASE("options: the global bounds are validated") {
  CatalogOptions bad = OptionsAt(":memory:");
  bad.max_sessions = 0;
  bad.max_defects_total = -1;
  const std::string m = bad.Validate().message();
  CHECK(m.find("catalog.max_sessions = 0. Violated constraint: >= 1") !=
        std::string::npos);
  CHECK(m.find("catalog.max_defects_total = -1. Violated constraint: >= 1") !=
        std::string::npos);
  CHECK(std::count(m.begin(), m.end(), '\n') == 1);
  CatalogOptions defaults;
  CHECK(defaults.max_sessions == 1000);
  CHECK(defaults.max_defects_total == 10000000);
}

TEST_CASE(
    "max_sessions evicts the least recently committed, never the "
    "committing session") {
  CatalogOptions options = OptionsAt(":memory:");
  options.max_sessions = 3;
  auto catalog = OpenOk(options);
  CommitOk(*catalog, Update("a", 1, 1.0, Vacancies(2)));
  CommitOk(*catalog, Update("b", 1, 2.0, Vacancies(3)));
  CommitOk(*catalog, Update("c", 1, 3.0, Vacancies(1)));
  CHECK(catalog->evictions().sessions == 0);

  // A fourth session: a (latest frame at 1 s) goes, defects and state.
  CommitOk(*catalog, Update("d", 1, 4.0, Vacancies(1)));
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"d", "c", "b"});
  CHECK(CountOk(*catalog, "a") == 0);
  std::string state;
  REQUIRE(catalog->LoadTrackerState("a", &state).ok());
  CHECK(state.empty());
  CHECK(catalog->evictions().sessions == 1);
  CHECK(catalog->evictions().defects == 2);

  // b commits again (now the newest); the next new session evicts c.
  CommitOk(*catalog, Update("b", 2, 5.0, {}));
  CommitOk(*catalog, Update("e", 1, 6.0, {}));
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"e", "b", "d"});
  CHECK(CountOk(*catalog, "b") == 3);

  // A new session whose frame is older than every other stays (it is the
  // committing one); the oldest of the others, d, goes.
  CommitOk(*catalog, Update("old", 1, 0.5, Vacancies(1)));
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"e", "b", "old"});
  CHECK(CountOk(*catalog, "old") == 1);
  CHECK(catalog->evictions().sessions == 3);
  CHECK(catalog->evictions().defects == 2 + 1 + 1);

  // An evicted session that returns starts over, with new ids.
  const auto again = CommitOk(*catalog, Update("a", 2, 7.0, Vacancies(1)));
  CHECK(again[0].times_seen == 1);
  CHECK(again[0].id > 8);
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"a", "e", "b"});
}

TEST_CASE("eviction ties go by session name; a commit without state counts") {
  CatalogOptions options = OptionsAt(":memory:");
  options.max_sessions = 2;
  auto catalog = OpenOk(options);
  CommitOk(*catalog, Update("y", 1, 1.0, {}));
  CommitOk(*catalog, Update("x", 1, 1.0, {}));
  // A commit that stores no tracker state still records its session and
  // its frame time, and keeps the state stored before.
  CatalogUpdate later = Update("x", 2, 5.0, {});
  later.store_tracker_state = false;
  CommitOk(*catalog, later);
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"x", "y"});
  std::string state;
  REQUIRE(catalog->LoadTrackerState("x", &state).ok());
  CHECK(state == "after frame 1");
  CatalogUpdate stateless = Update("z", 1, 1.0, {});
  stateless.store_tracker_state = false;
  CommitOk(*catalog, stateless);
  // y (1 s) went; z (1 s, committing) stayed.
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"x", "z"});
  REQUIRE(catalog->LoadTrackerState("z", &state).ok());
  CHECK(state.empty());

  // Ties: w and v at 0 s; the next new session evicts v, then w.
  options.max_sessions = 3;
  catalog = OpenOk(options);
  for (const char* name : {"w", "v", "u"}) {
    CommitOk(*catalog, Update(name, 1, 0.0, {}));
  }
  CommitOk(*catalog, Update("t", 1, 1.0, {}));
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"t", "v", "w"});
}

TEST_CASE("max_defects_total evicts whole sessions until the total fits") {
  CatalogOptions options = OptionsAt(":memory:");
  options.max_defects_total = 10;
  auto catalog = OpenOk(options);
  CommitOk(*catalog, Update("a", 1, 1.0, Vacancies(4)));
  CommitOk(*catalog, Update("b", 1, 2.0, Vacancies(4)));
  CommitOk(*catalog, Update("c", 1, 3.0, Vacancies(2)));
  CHECK(catalog->evictions().sessions == 0);              // 10 fit
  CommitOk(*catalog, Update("c", 2, 4.0, Vacancies(3)));  // 11: a goes
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"c", "b"});
  CHECK(catalog->evictions().defects == 4);

  // A session alone above the bound evicts every other and stays whole
  // (max_defects_per_session bounds it).
  CommitOk(*catalog, Update("big", 1, 5.0, Vacancies(15)));
  CHECK(SessionsOk(*catalog) == std::vector<std::string>{"big"});
  CHECK(CountOk(*catalog, "big") == 15);
  CHECK(catalog->evictions().sessions == 3);
  CHECK(catalog->evictions().defects == 4 + 4 + 3);
  CommitOk(*catalog, Update("big", 2, 6.0, Vacancies(16)));
  CHECK(CountOk(*catalog, "big") == 16);
}

TEST_CASE("the defect total follows another writer's commits") {
  TempDir dir("anchord_catalog");
  CatalogOptions options = OptionsAt(dir / "catalog.db");
  options.max_defects_total = 10;
  auto first = OpenOk(options);
  auto second = OpenOk(options);
  CommitOk(*first, Update("a", 1, 1.0, Vacancies(6)));
  CommitOk(*second, Update("b", 1, 2.0, Vacancies(3)));  // 9
  // 12 > 10: the first writer counts b's defects too, and a goes.
  CommitOk(*first, Update("c", 1, 3.0, Vacancies(3)));
  CHECK(SessionsOk(*first) == std::vector<std::string>{"c", "b"});
  CHECK(first->evictions().sessions == 1);
  CHECK(second->evictions().sessions == 0);
}

int64_t SizeOk(const DefectCatalog& catalog) {
  int64_t bytes = 0;
  const Status status = catalog.SizeBytes(&bytes);
  REQUIRE_MESSAGE(status.ok(), status.message());
  return bytes;
}

// 10,000 sessions, one frame each (10 vacancies, 2 off-lattice features, a
// 1 KiB tracker state), through a catalog with the default bounds: never
// more than 1000 sessions, and the database no bigger than after the first
// 1000 sessions plus a margin for fragmentation. In memory, so the suite
// does not wait for 10,000 fsyncs; bench/catalog_bench.cc measures the
// same on a file.
TEST_CASE("10,000 fresh sessions keep the catalog bounded" *
          doctest::timeout(60)) {
  const CatalogOptions options = OptionsAt(":memory:");
  REQUIRE(options.max_sessions == 1000);
  auto catalog = OpenOk(options);
  std::vector<DefectObservation> observations = Vacancies(10);
  observations.push_back(OffLattice(Vec2(3.3, 1.1)));
  observations.push_back(OffLattice(Vec2(7.7, 2.2)));
  int64_t bytes_at_1000 = 0, largest = 0;
  std::vector<DefectRecord> records;
  for (int k = 0; k < 10000; ++k) {
    CatalogUpdate u =
        Update("session-" + std::to_string(k), 1, 1.0 + k, observations);
    u.tracker_state = std::string(1024, static_cast<char>('a' + k % 26));
    const Status status = catalog->Commit(u, &records);
    REQUIRE_MESSAGE(status.ok(), status.message());
    if ((k + 1) % 1000 == 0) {
      CHECK(SessionsOk(*catalog).size() == 1000);
      if (k + 1 == 1000) bytes_at_1000 = SizeOk(*catalog);
      largest = std::max(largest, SizeOk(*catalog));
    }
  }
  const std::vector<std::string> sessions = SessionsOk(*catalog);
  REQUIRE(sessions.size() == 1000);
  CHECK(sessions.front() == "session-9999");
  CHECK(sessions.back() == "session-9000");
  CHECK(catalog->evictions().sessions == 9000);
  CHECK(catalog->evictions().defects == 9000 * 12);
  CHECK(CountOk(*catalog, "session-8999") == 0);
  CHECK(CountOk(*catalog, "session-9000") == 12);
  CHECK(catalog->CheckIntegrity().ok());
  MESSAGE("catalog database: "
          << bytes_at_1000 / 1024 << " KiB after 1000 sessions, at most "
          << largest / 1024 << " KiB up to 10,000 sessions");
  CHECK(largest <= bytes_at_1000 * 3 / 2);
}

}  // namespace
}  // namespace anchord::daemon
