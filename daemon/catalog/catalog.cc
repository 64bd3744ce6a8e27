#include "daemon/catalog/catalog.h"

#include "anchord/util/validation.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace anchord::daemon {
namespace {

// The kind column stores these numbers, and the SQL below spells them out
// (a partial index is only used for a literal `kind = 1`).
static_assert(static_cast<int>(DefectKind::kVacancy) == 1);
static_assert(static_cast<int>(DefectKind::kOffLattice) == 2);

// PRAGMA user_version of the schema below; Open() refuses any other.
constexpr int kSchemaVersion = 1;
// PRAGMA application_id of an anchord catalog ("ANCD"), so that Open()
// tells a catalog from an unrelated SQLite file.
constexpr int kApplicationId = 0x414E4344;
// How long a statement waits for a lock held by another connection (the
// writer's checkpoint, a second writer) before it fails with SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 5000;

// The schema. Columns beyond the ones a DefectRecord shows:
//   m2_nm2       sum over sightings of the squared 2-D deviation from the
//                running mean (Welford), for the scatter of the sightings;
//   var_sum_nm2  sum over sightings of the observation variance;
//   ref_x_nm, ref_y_nm  the mean position at the last change (a move of
//                more than match_radius_nm / 2 from it is a change).
// Vacancies are keyed by (session, kind, i, j, site), unique by a partial
// index; off-lattice rows store i = j = 0, site = -1 and are found by
// position through defects_position. AUTOINCREMENT: ids of deleted
// defects are never handed out again.
constexpr const char* kSchemaSql = R"sql(
CREATE TABLE defects (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  session TEXT NOT NULL,
  kind INTEGER NOT NULL,
  i INTEGER NOT NULL,
  j INTEGER NOT NULL,
  site INTEGER NOT NULL,
  x_nm REAL NOT NULL,
  y_nm REAL NOT NULL,
  sigma_nm REAL NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  times_seen INTEGER NOT NULL,
  times_observed INTEGER NOT NULL,
  last_frame_id INTEGER NOT NULL,
  changed INTEGER NOT NULL,
  m2_nm2 REAL NOT NULL,
  var_sum_nm2 REAL NOT NULL,
  ref_x_nm REAL NOT NULL,
  ref_y_nm REAL NOT NULL);
CREATE UNIQUE INDEX defects_vacancy_key ON defects (session, kind, i, j, site)
  WHERE kind = 1;
CREATE INDEX defects_position ON defects (session, kind, x_nm, y_nm);
CREATE INDEX defects_last_seen ON defects (session, last_seen);
CREATE TABLE sessions (
  session TEXT PRIMARY KEY,
  tracker_state BLOB NOT NULL,
  updated INTEGER NOT NULL);
)sql";

// The columns a Row is read from, in Statement::ReadRow() order.
#define ANCHORD_CATALOG_COLUMNS                                       \
  "id, session, kind, i, j, site, x_nm, y_nm, sigma_nm, first_seen, " \
  "last_seen, times_seen, times_observed, last_frame_id, changed, "   \
  "m2_nm2, var_sum_nm2, ref_x_nm, ref_y_nm"

// A defect row with its bookkeeping columns.
struct Row {
  DefectRecord record;
  double m2_nm2 = 0;
  double var_sum_nm2 = 0;
  Vec2 ref_nm = Vec2::Zero();
};

bool Finite(const Vec2& p) {
  return std::isfinite(p.x()) && std::isfinite(p.y());
}

// Closed test of `p` against a convex polygon of either orientation; a
// polygon of fewer than 3 vertices contains nothing.
bool InConvexPolygon(const std::vector<Vec2>& polygon, const Vec2& p) {
  if (polygon.size() < 3) return false;
  bool any_positive = false, any_negative = false;
  for (size_t k = 0; k < polygon.size(); ++k) {
    const Vec2& a = polygon[k];
    const Vec2& b = polygon[(k + 1) % polygon.size()];
    const double c = Cross(b - a, p - a);
    // Relative tolerance so a point on an edge counts as inside.
    const double tolerance = 1e-12 * (b - a).norm() * ((p - a).norm() + 1);
    if (c > tolerance) any_positive = true;
    if (c < -tolerance) any_negative = true;
    if (any_positive && any_negative) return false;
  }
  return true;
}

struct StmtDeleter {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// One use of a cached prepared statement: binds, steps, and on scope exit
// resets it and clears its bindings, so no read snapshot stays open
// between calls (an open snapshot would hold back the WAL checkpoint and
// hide later commits from a reader). A failed bind is remembered and
// reported by the next Step().
class Statement {
 public:
  explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Statement() {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool prepared() const { return stmt_ != nullptr; }
  // Ready to step again with new bindings.
  void Reset() {
    sqlite3_reset(stmt_);
    bind_rc_ = SQLITE_OK;
  }

  void Bind(int index, int64_t value) {
    Check(sqlite3_bind_int64(stmt_, index, value));
  }
  void Bind(int index, int value) {
    Check(sqlite3_bind_int(stmt_, index, value));
  }
  void Bind(int index, double value) {
    Check(sqlite3_bind_double(stmt_, index, value));
  }
  void Bind(int index, const std::string& text) {
    Check(sqlite3_bind_text64(stmt_, index, text.data(), text.size(),
                              SQLITE_STATIC, SQLITE_UTF8));
  }
  void BindBlob(int index, const std::string& bytes) {
    // A non-null pointer keeps an empty blob a zero-length BLOB, not NULL.
    static const char kEmpty = 0;
    Check(sqlite3_bind_blob64(stmt_, index,
                              bytes.empty() ? &kEmpty : bytes.data(),
                              bytes.size(), SQLITE_STATIC));
  }

  // SQLITE_ROW, SQLITE_DONE, or the error code (errmsg on the connection).
  int Step() {
    if (bind_rc_ != SQLITE_OK) return bind_rc_;
    return sqlite3_step(stmt_);
  }

  int64_t Int(int column) const { return sqlite3_column_int64(stmt_, column); }
  double Real(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string Text(int column) const {
    const auto* text =
        reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
    return text ? std::string(text, sqlite3_column_bytes(stmt_, column))
                : std::string();
  }
  std::string Blob(int column) const {
    const auto* blob =
        static_cast<const char*>(sqlite3_column_blob(stmt_, column));
    return blob ? std::string(blob, sqlite3_column_bytes(stmt_, column))
                : std::string();
  }

  // The current row, selected as ANCHORD_CATALOG_COLUMNS.
  Row ReadRow() const {
    Row row;
    DefectRecord& r = row.record;
    int c = 0;
    r.id = Int(c++);
    r.session = Text(c++);
    r.kind = static_cast<DefectKind>(Int(c++));
    r.i = static_cast<int>(Int(c++));
    r.j = static_cast<int>(Int(c++));
    r.site = static_cast<int>(Int(c++));
    r.session_nm.x() = Real(c++);
    r.session_nm.y() = Real(c++);
    r.sigma_nm = Real(c++);
    r.first_seen_unix_ns = Int(c++);
    r.last_seen_unix_ns = Int(c++);
    r.times_seen = Int(c++);
    r.times_observed = Int(c++);
    r.last_frame_id = static_cast<uint64_t>(Int(c++));
    r.changed_unix_ns = Int(c++);
    row.m2_nm2 = Real(c++);
    row.var_sum_nm2 = Real(c++);
    row.ref_nm.x() = Real(c++);
    row.ref_nm.y() = Real(c++);
    return row;
  }

  // Binds the row's mutable state, x_nm … ref_y_nm in ANCHORD_CATALOG_COLUMNS
  // order, to parameters first, first + 1, … first + 12.
  void BindState(int first, const Row& row) {
    const DefectRecord& r = row.record;
    int k = first;
    Bind(k++, r.session_nm.x());
    Bind(k++, r.session_nm.y());
    Bind(k++, r.sigma_nm);
    Bind(k++, r.first_seen_unix_ns);
    Bind(k++, r.last_seen_unix_ns);
    Bind(k++, r.times_seen);
    Bind(k++, r.times_observed);
    Bind(k++, static_cast<int64_t>(r.last_frame_id));
    Bind(k++, r.changed_unix_ns);
    Bind(k++, row.m2_nm2);
    Bind(k++, row.var_sum_nm2);
    Bind(k++, row.ref_nm.x());
    Bind(k++, row.ref_nm.y());
  }

 private:
  void Check(int rc) {
    if (bind_rc_ == SQLITE_OK) bind_rc_ = rc;
  }

  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;
};

// A defect of this frame: the record it maps to and the observations
// (indices into CatalogUpdate::observations) that saw it.
struct Sighting {
  bool existed = false;  // `row` was read from the database
  Row row;               // before this frame when existed; else the key
  std::vector<size_t> observations;
  Vec2 sum_nm = Vec2::Zero();  // of the observations' positions
  double sum_variance_nm2 = 0;

  Vec2 mean_nm() const { return sum_nm / double(observations.size()); }
};

// What anchord_missed() tests during MarkMissed(): the frame's footprint
// and the ids it saw.
struct MissedTest {
  const std::vector<Vec2>* footprint_nm;
  const std::unordered_set<int64_t>* seen;
  const std::vector<Vec2>* undecided_nm;
};

// Within 0.05 nm of a place the frame could not decide (a vacancy's
// position is its exact site, so this only matches that site).
bool Undecided(const std::vector<Vec2>& undecided, const Vec2& p) {
  for (const Vec2& u : undecided) {
    if ((u - p).squaredNorm() < 0.05 * 0.05) return true;
  }
  return false;
}

// SQL anchord_missed(id, x_nm, y_nm): 1 when the defect is inside the
// current MissedTest's footprint, was not seen and is not at a place the
// frame left undecided, else 0 (also outside
// MarkMissed()). User data: the Impl's `const MissedTest*` slot.
void MissedFunction(sqlite3_context* context, int, sqlite3_value** args) {
  const auto* slot =
      static_cast<const MissedTest* const*>(sqlite3_user_data(context));
  const MissedTest* test = *slot;
  const Vec2 p(sqlite3_value_double(args[1]), sqlite3_value_double(args[2]));
  const bool missed = test != nullptr &&
                      test->seen->count(sqlite3_value_int64(args[0])) == 0 &&
                      InConvexPolygon(*test->footprint_nm, p) &&
                      !Undecided(*test->undecided_nm, p);
  sqlite3_result_int(context, missed ? 1 : 0);
}

Status CheckUpdate(const CatalogUpdate& update) {
  if (update.session.empty()) {
    return Status::InvalidInput("catalog: update has an empty session");
  }
  for (const Vec2& p : update.footprint_nm) {
    if (!Finite(p)) {
      return Status::InvalidInput(
          "catalog: update footprint_nm has a non-finite vertex");
    }
  }
  for (size_t k = 0; k < update.observations.size(); ++k) {
    const DefectObservation& o = update.observations[k];
    std::string problem;
    if (o.kind != DefectKind::kVacancy && o.kind != DefectKind::kOffLattice) {
      problem = "unknown kind " + std::to_string(static_cast<int>(o.kind));
    } else if (!Finite(o.session_nm)) {
      problem = "non-finite session_nm";
    } else if (!std::isfinite(o.sigma_nm) || o.sigma_nm < 0) {
      problem = "sigma_nm not finite and >= 0";
    } else if (o.kind == DefectKind::kVacancy && o.site < 0) {
      problem = "vacancy site " + std::to_string(o.site) + " < 0";
    }
    if (!problem.empty()) {
      return Status::InvalidInput("catalog: update observations[" +
                                  std::to_string(k) + "]: " + problem);
    }
  }
  return Status::Ok();
}

}  // namespace

const char* DefectKindName(DefectKind kind) {
  switch (kind) {
    case DefectKind::kVacancy:
      return "vacancy";
    case DefectKind::kOffLattice:
      return "off_lattice";
  }
  return "unknown";
}

Status CatalogOptions::Validate() const {
  Violations v("catalog");
  v.Require(!path.empty(), "path", "\"\"", "not empty");
  ANCHORD_OPTION_GE(v, max_defects_per_session, 1);
  v.Require(max_age_s >= 0, "max_age_s", max_age_s, ">= 0");
  v.Require(std::isfinite(match_radius_nm) && match_radius_nm > 0,
            "match_radius_nm", match_radius_nm, "finite, > 0");
  return v.ToStatus();
}

struct DefectCatalog::Impl {
  CatalogOptions options;
  sqlite3* db = nullptr;
  // Prepared statements by SQL text (a Find() shape is prepared on first
  // use); finalised in ~Impl before the connection is closed.
  std::unordered_map<std::string, StmtPtr> statements;
  // Set while MarkMissed() runs its UPDATE; read by anchord_missed().
  const MissedTest* missed_test = nullptr;

  ~Impl() {
    statements.clear();
    if (db != nullptr) sqlite3_close_v2(db);
  }

  // kInternal naming the path, the step and SQLite's message.
  Status Error(const std::string& step) const {
    std::ostringstream s;
    s << "catalog " << options.path << ": " << step << ": "
      << (db ? sqlite3_errmsg(db) : "out of memory");
    if (db) s << " (sqlite code " << sqlite3_extended_errcode(db) << ")";
    return Status::Internal(s.str());
  }

  // The cached statement for `sql`, prepared on first use; nullptr (and
  // `*status` set) when it does not prepare.
  sqlite3_stmt* Prepare(const std::string& sql,
                        const char* step,
                        Status* status) {
    auto it = statements.find(sql);
    if (it != statements.end()) return it->second.get();
    sqlite3_stmt* stmt = nullptr;
    const int rc =
        sqlite3_prepare_v3(db, sql.c_str(), static_cast<int>(sql.size()) + 1,
                           SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK || stmt == nullptr) {
      sqlite3_finalize(stmt);
      *status = Error(std::string(step) + " (prepare)");
      return nullptr;
    }
    statements.emplace(sql, StmtPtr(stmt));
    return stmt;
  }

  // Runs SQL without results (schema, transaction control, pragmas).
  Status Exec(const char* sql, const char* step) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return Error(step);
    }
    return Status::Ok();
  }

  // The single integer a pragma query returns.
  Status PragmaInt(const char* sql, int64_t* value) {
    Status status;
    Statement s(Prepare(sql, sql, &status));
    if (!s.prepared()) return status;
    if (s.Step() != SQLITE_ROW) return Error(sql);
    *value = s.Int(0);
    return Status::Ok();
  }

  Status OpenDatabase();
  Status CreateSchema();

  Status Resolve(const CatalogUpdate& update,
                 std::vector<Sighting>* sightings,
                 std::vector<size_t>* sighting_of);
  Status WriteSighting(const CatalogUpdate& update, Sighting* sighting);
  Status MarkMissed(const CatalogUpdate& update,
                    const std::unordered_set<int64_t>& seen);
  Status Retain(const CatalogUpdate& update,
                const std::unordered_set<int64_t>& keep);
  Status CommitInTransaction(const CatalogUpdate& update,
                             std::vector<Sighting>* sightings,
                             std::vector<size_t>* sighting_of);
};

Status DefectCatalog::Impl::OpenDatabase() {
  const int flags = options.read_only
                        ? SQLITE_OPEN_READONLY
                        : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    return Error(options.read_only ? "open read-only" : "open");
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // DIRECTONLY: callable from our statements, never from the schema.
  if (sqlite3_create_function_v2(db, "anchord_missed", 3,
                                 SQLITE_UTF8 | SQLITE_DIRECTONLY, &missed_test,
                                 MissedFunction, nullptr, nullptr,
                                 nullptr) != SQLITE_OK) {
    return Error("register anchord_missed()");
  }

  if (!options.read_only) {
    // WAL: readers (the query connection) never block the writer nor see a
    // half-written transaction, and a commit is one append to the log.
    Status status;
    Statement s(
        Prepare("PRAGMA journal_mode = WAL", "set WAL journal", &status));
    if (!s.prepared()) return status;
    if (s.Step() != SQLITE_ROW) return Error("set WAL journal");
    // An in-memory database (path ":memory:", for tests and demos that
    // need no persistence) keeps its "memory" journal.
    if (s.Text(0) != "wal" &&
        !(options.path == ":memory:" && s.Text(0) == "memory")) {
      return Status::Internal("catalog " + options.path +
                              ": the file system refuses a WAL journal (" +
                              s.Text(0) + ")");
    }
    // synchronous = FULL: every COMMIT fsyncs the WAL. NORMAL (no fsync
    // until a checkpoint) would already survive any process crash — a
    // committed WAL frame is in the kernel's page cache once write()
    // returned, so kill -9 / abort / OOM kill lose nothing — but an OS
    // crash or power loss could then roll back the last commits, and with
    // them the AUTOINCREMENT counter: ids the daemon already published
    // would be handed out again. FULL closes that for one fsync per frame:
    // measured +1-2 ms on a ~6 ms commit (50 observations, 10k-defect
    // session, ext4 VM disk), against frame periods of seconds.
    if (Status st = Exec("PRAGMA synchronous = FULL", "set synchronous");
        !st.ok()) {
      return st;
    }
  }

  int64_t version = 0, application_id = 0;
  if (Status st = PragmaInt("PRAGMA user_version", &version); !st.ok()) {
    return st;
  }
  if (Status st = PragmaInt("PRAGMA application_id", &application_id);
      !st.ok()) {
    return st;
  }
  if (version == 0 && application_id == 0) {
    if (options.read_only) {
      return Status::InvalidInput("catalog " + options.path +
                                  ": no catalog schema (open it for writing "
                                  "once to create it)");
    }
    return CreateSchema();
  }
  if (application_id != kApplicationId) {
    return Status::InvalidInput("catalog " + options.path +
                                ": not an anchord catalog (application_id " +
                                std::to_string(application_id) + ")");
  }
  if (version != kSchemaVersion) {
    return Status::InvalidInput("catalog " + options.path +
                                ": schema version " + std::to_string(version) +
                                ", this build reads version " +
                                std::to_string(kSchemaVersion));
  }
  return Status::Ok();
}

Status DefectCatalog::Impl::CreateSchema() {
  if (Status st = Exec("BEGIN IMMEDIATE", "create schema: begin"); !st.ok()) {
    return st;
  }
  auto fail = [&](Status status) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  };
  // Another process may have created the schema while we waited.
  int64_t version = 0, tables = 0;
  if (Status st = PragmaInt("PRAGMA user_version", &version); !st.ok()) {
    return fail(st);
  }
  if (Status st = PragmaInt("SELECT COUNT(*) FROM sqlite_schema", &tables);
      !st.ok()) {
    return fail(st);
  }
  if (version != 0) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    return version == kSchemaVersion
               ? Status::Ok()
               : Status::InvalidInput("catalog " + options.path +
                                      ": schema version " +
                                      std::to_string(version));
  }
  if (tables != 0) {
    return fail(Status::InvalidInput(
        "catalog " + options.path +
        ": not an anchord catalog (an SQLite database with other tables)"));
  }
  if (Status st = Exec(kSchemaSql, "create schema"); !st.ok()) {
    return fail(st);
  }
  const std::string pragmas =
      "PRAGMA application_id = " + std::to_string(kApplicationId) +
      "; PRAGMA user_version = " + std::to_string(kSchemaVersion);
  if (Status st = Exec(pragmas.c_str(), "set schema version"); !st.ok()) {
    return fail(st);
  }
  if (Status st = Exec("COMMIT", "create schema: commit"); !st.ok()) {
    return fail(st);
  }
  return Status::Ok();
}

// Maps every observation to a sighting: a vacancy by its key (first among
// this frame's sightings, then in the database), an off-lattice feature to
// the nearest off-lattice defect within match_radius_nm (this frame's new
// ones included, at their current mean). `sighting_of[k]` is the index of
// observation k's sighting.
Status DefectCatalog::Impl::Resolve(const CatalogUpdate& update,
                                    std::vector<Sighting>* sightings,
                                    std::vector<size_t>* sighting_of) {
  Status status;
  sqlite3_stmt* by_key = Prepare(
      "SELECT " ANCHORD_CATALOG_COLUMNS
      " FROM defects WHERE session = ?1 AND kind = 1 AND i = ?2 AND j = ?3"
      " AND site = ?4",
      "find vacancy by key", &status);
  if (by_key == nullptr) return status;
  sqlite3_stmt* by_box =
      Prepare("SELECT " ANCHORD_CATALOG_COLUMNS
              " FROM defects WHERE session = ?1 AND kind = 2"
              " AND x_nm BETWEEN ?2 AND ?3 AND y_nm BETWEEN ?4 AND ?5",
              "find off-lattice defects near", &status);
  if (by_box == nullptr) return status;

  const double radius = options.match_radius_nm;
  std::map<std::tuple<int, int, int>, size_t> vacancy_sighting;
  std::unordered_map<int64_t, size_t> id_sighting;
  std::vector<size_t> new_off_lattice;  // sightings of new features

  auto add = [&](size_t sighting, size_t k) {
    const DefectObservation& o = update.observations[k];
    Sighting& s = (*sightings)[sighting];
    s.observations.push_back(k);
    s.sum_nm += o.session_nm;
    s.sum_variance_nm2 += o.sigma_nm * o.sigma_nm;
    (*sighting_of)[k] = sighting;
  };
  auto add_existing = [&](const Row& row, size_t k) {
    auto [it, inserted] = id_sighting.emplace(row.record.id, sightings->size());
    if (inserted) {
      Sighting known;
      known.existed = true;
      known.row = row;
      sightings->push_back(std::move(known));
    }
    add(it->second, k);
    return it->second;
  };

  sighting_of->assign(update.observations.size(), 0);
  for (size_t k = 0; k < update.observations.size(); ++k) {
    const DefectObservation& o = update.observations[k];
    if (o.kind == DefectKind::kVacancy) {
      const auto key = std::make_tuple(o.i, o.j, o.site);
      if (auto it = vacancy_sighting.find(key); it != vacancy_sighting.end()) {
        add(it->second, k);
        continue;
      }
      Statement s(by_key);
      s.Bind(1, update.session);
      s.Bind(2, o.i);
      s.Bind(3, o.j);
      s.Bind(4, o.site);
      const int rc = s.Step();
      if (rc == SQLITE_ROW) {
        vacancy_sighting.emplace(key, add_existing(s.ReadRow(), k));
      } else if (rc == SQLITE_DONE) {
        Sighting fresh;
        fresh.row.record.kind = DefectKind::kVacancy;
        fresh.row.record.i = o.i;
        fresh.row.record.j = o.j;
        fresh.row.record.site = o.site;
        vacancy_sighting.emplace(key, sightings->size());
        sightings->push_back(std::move(fresh));
        add(sightings->size() - 1, k);
      } else {
        return Error("find vacancy by key");
      }
      continue;
    }

    // Off-lattice: the nearest candidate within the radius; ties by id,
    // and a database defect before a new one of this frame.
    const Vec2& p = o.session_nm;
    std::optional<Row> best_row;
    double best_d = std::numeric_limits<double>::infinity();
    {
      Statement s(by_box);
      s.Bind(1, update.session);
      s.Bind(2, p.x() - radius);
      s.Bind(3, p.x() + radius);
      s.Bind(4, p.y() - radius);
      s.Bind(5, p.y() + radius);
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) {
        Row row = s.ReadRow();
        const double d = (row.record.session_nm - p).norm();
        if (d <= radius &&
            (d < best_d ||
             (d == best_d && row.record.id < best_row->record.id))) {
          best_d = d;
          best_row = std::move(row);
        }
      }
      if (rc != SQLITE_DONE) return Error("find off-lattice defects near");
    }
    std::optional<size_t> best_new;
    for (size_t index : new_off_lattice) {
      const double d = ((*sightings)[index].mean_nm() - p).norm();
      if (d <= radius && d < best_d) {
        best_d = d;
        best_new = index;
      }
    }
    if (best_new) {
      add(*best_new, k);
    } else if (best_row) {
      add_existing(*best_row, k);
    } else {
      Sighting fresh;
      fresh.row.record.kind = DefectKind::kOffLattice;
      fresh.row.record.site = -1;
      new_off_lattice.push_back(sightings->size());
      sightings->push_back(std::move(fresh));
      add(sightings->size() - 1, k);
    }
  }
  return Status::Ok();
}

// Folds this frame's sighting into its record (running mean, sigma,
// counters, change time) and writes it; fills `sighting->row` with the
// result (and the new id).
Status DefectCatalog::Impl::WriteSighting(const CatalogUpdate& update,
                                          Sighting* sighting) {
  Row& row = sighting->row;
  DefectRecord& r = row.record;
  const double m = double(sighting->observations.size());
  // The observations of one frame that map to one record are duplicates
  // of one sighting, not independent measurements: their mean position
  // with their RMS sigma.
  const Vec2 x = sighting->sum_nm / m;
  const double variance = sighting->sum_variance_nm2 / m;
  const int64_t t = update.time_unix_ns;
  const double moved_nm = options.match_radius_nm / 2;

  if (!sighting->existed) {
    r.session = update.session;
    r.session_nm = x;
    r.first_seen_unix_ns = r.last_seen_unix_ns = r.changed_unix_ns = t;
    r.times_seen = r.times_observed = 1;
    row.m2_nm2 = 0;
    row.var_sum_nm2 = variance;
    row.ref_nm = x;
  } else {
    const bool was_active = r.active();
    // Welford's running mean and sum of squared deviations (2-D).
    const double n = double(r.times_seen + 1);
    const Vec2 delta = x - r.session_nm;
    r.session_nm += delta / n;
    row.m2_nm2 += delta.dot(x - r.session_nm);
    row.var_sum_nm2 += variance;
    r.times_seen += 1;
    r.times_observed += 1;
    r.first_seen_unix_ns = std::min(r.first_seen_unix_ns, t);
    r.last_seen_unix_ns = std::max(r.last_seen_unix_ns, t);
    const bool reappeared = !was_active && r.active();
    const bool moved = (r.session_nm - row.ref_nm).norm() > moved_nm;
    if (reappeared || moved) {
      r.changed_unix_ns = std::max(r.changed_unix_ns, t);
      row.ref_nm = r.session_nm;
    }
  }
  r.last_frame_id = update.frame_id;
  // The standard error of the mean position per axis: the scatter of the
  // sightings when they disagree more than their sigmas say, at least the
  // RMS observation sigma, over sqrt(n).
  const double n = double(r.times_seen);
  const double scatter_nm2 = n >= 2 ? row.m2_nm2 / (2 * (n - 1)) : 0;
  r.sigma_nm = std::sqrt(std::max(scatter_nm2, row.var_sum_nm2 / n) / n);

  Status status;
  if (!sighting->existed) {
    Statement s(Prepare(
        "INSERT INTO defects (session, kind, i, j, site, x_nm, y_nm, "
        "sigma_nm, first_seen, last_seen, times_seen, times_observed, "
        "last_frame_id, changed, m2_nm2, var_sum_nm2, ref_x_nm, ref_y_nm) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17, ?18)",
        "insert defect", &status));
    if (!s.prepared()) return status;
    s.Bind(1, r.session);
    s.Bind(2, static_cast<int>(r.kind));
    s.Bind(3, r.i);
    s.Bind(4, r.j);
    s.Bind(5, r.site);
    s.BindState(6, row);
    if (s.Step() != SQLITE_DONE) return Error("insert defect");
    r.id = sqlite3_last_insert_rowid(db);
    return Status::Ok();
  }
  Statement s(Prepare(
      "UPDATE defects SET x_nm = ?2, y_nm = ?3, sigma_nm = ?4, "
      "first_seen = ?5, last_seen = ?6, times_seen = ?7, times_observed = ?8, "
      "last_frame_id = ?9, changed = ?10, m2_nm2 = ?11, var_sum_nm2 = ?12, "
      "ref_x_nm = ?13, ref_y_nm = ?14 WHERE id = ?1",
      "update seen defect", &status));
  if (!s.prepared()) return status;
  s.Bind(1, r.id);
  s.BindState(2, row);
  if (s.Step() != SQLITE_DONE) return Error("update seen defect");
  return Status::Ok();
}

// Every defect of the session inside the footprint that this frame did not
// see was observed missing: times_observed += 1, and the change time when
// that makes it inactive (it disappeared). One UPDATE: the position index
// narrows to the footprint's bounding box, then anchord_missed() (the exact
// point-in-polygon test and the seen set, in C++) picks the rows.
Status DefectCatalog::Impl::MarkMissed(
    const CatalogUpdate& update, const std::unordered_set<int64_t>& seen) {
  const std::vector<Vec2>& polygon = update.footprint_nm;
  if (polygon.size() < 3) return Status::Ok();
  Vec2 lo = polygon.front(), hi = polygon.front();
  for (const Vec2& p : polygon) {
    lo = lo.cwiseMin(p);
    hi = hi.cwiseMax(p);
  }
  Status status;
  // Old values on the right: active before (2 s > o) and not after
  // (2 s <= o + 1), i.e. 2 s = o + 1, is a disappearance.
  Statement s(Prepare(
      "UPDATE defects SET times_observed = times_observed + 1, "
      "changed = CASE WHEN 2 * times_seen = times_observed + 1 "
      "THEN max(changed, ?6) ELSE changed END, "
      "ref_x_nm = CASE WHEN 2 * times_seen = times_observed + 1 "
      "THEN x_nm ELSE ref_x_nm END, "
      "ref_y_nm = CASE WHEN 2 * times_seen = times_observed + 1 "
      "THEN y_nm ELSE ref_y_nm END "
      "WHERE session = ?1 AND kind IN (1, 2) AND x_nm BETWEEN ?2 AND ?3 "
      "AND y_nm BETWEEN ?4 AND ?5 AND anchord_missed(id, x_nm, y_nm)",
      "update missed defects", &status));
  if (!s.prepared()) return status;
  s.Bind(1, update.session);
  s.Bind(2, lo.x());
  s.Bind(3, hi.x());
  s.Bind(4, lo.y());
  s.Bind(5, hi.y());
  s.Bind(6, update.time_unix_ns);
  const MissedTest test{&polygon, &seen, &update.undecided_nm};
  missed_test = &test;
  const int rc = s.Step();
  missed_test = nullptr;
  if (rc != SQLITE_DONE) return Error("update missed defects");
  return Status::Ok();
}

// Retention (max_age_s, then max_defects_per_session, least recently seen
// first, ties by older id) over the session's records except `keep` (the
// records this frame reports: a published id is always in the database,
// so a frame with more new defects than the bound leaves the session over
// it).
Status DefectCatalog::Impl::Retain(const CatalogUpdate& update,
                                   const std::unordered_set<int64_t>& keep) {
  Status status;
  Statement erase(
      Prepare("DELETE FROM defects WHERE id = ?1", "delete a defect", &status));
  if (!erase.prepared()) return status;
  auto remove = [&](int64_t id) {
    erase.Reset();
    erase.Bind(1, id);
    return erase.Step() == SQLITE_DONE;
  };
  if (options.max_age_s > 0) {
    const double cutoff = double(update.time_unix_ns) - options.max_age_s * 1e9;
    if (cutoff > double(std::numeric_limits<int64_t>::min())) {
      std::vector<int64_t> old;
      Statement s(Prepare(
          "SELECT id FROM defects WHERE session = ?1 AND last_seen < ?2",
          "select defects by age", &status));
      if (!s.prepared()) return status;
      s.Bind(1, update.session);
      s.Bind(2, static_cast<int64_t>(cutoff));
      int rc;
      while ((rc = s.Step()) == SQLITE_ROW) old.push_back(s.Int(0));
      if (rc != SQLITE_DONE) return Error("select defects by age");
      for (int64_t id : old) {
        if (!keep.count(id) && !remove(id))
          return Error("delete defects by age");
      }
    }
  }
  int64_t count = 0;
  {
    Statement s(Prepare("SELECT COUNT(*) FROM defects WHERE session = ?1",
                        "count defects", &status));
    if (!s.prepared()) return status;
    s.Bind(1, update.session);
    if (s.Step() != SQLITE_ROW) return Error("count defects");
    count = s.Int(0);
  }
  int64_t excess = count - options.max_defects_per_session;
  if (excess <= 0) return Status::Ok();
  std::vector<int64_t> oldest;
  {
    Statement s(
        Prepare("SELECT id FROM defects WHERE session = ?1 "
                "ORDER BY last_seen, id LIMIT ?2",
                "select defects by count", &status));
    if (!s.prepared()) return status;
    s.Bind(1, update.session);
    s.Bind(2, excess + static_cast<int64_t>(keep.size()));
    int rc;
    while ((rc = s.Step()) == SQLITE_ROW) oldest.push_back(s.Int(0));
    if (rc != SQLITE_DONE) return Error("select defects by count");
  }
  for (int64_t id : oldest) {
    if (excess == 0) break;
    if (keep.count(id)) continue;
    if (!remove(id)) return Error("delete defects by count");
    --excess;
  }
  return Status::Ok();
}

Status DefectCatalog::Impl::CommitInTransaction(
    const CatalogUpdate& update,
    std::vector<Sighting>* sightings,
    std::vector<size_t>* sighting_of) {
  if (Status st = Resolve(update, sightings, sighting_of); !st.ok()) {
    return st;
  }
  std::unordered_set<int64_t> seen;
  for (Sighting& sighting : *sightings) {
    if (Status st = WriteSighting(update, &sighting); !st.ok()) return st;
    seen.insert(sighting.row.record.id);
  }
  if (Status st = MarkMissed(update, seen); !st.ok()) return st;
  if (Status st = Retain(update, seen); !st.ok()) return st;
  if (!update.store_tracker_state) return Status::Ok();

  Status status;
  Statement s(Prepare(
      "INSERT INTO sessions (session, tracker_state, updated) "
      "VALUES (?1, ?2, ?3) ON CONFLICT (session) DO UPDATE SET "
      "tracker_state = excluded.tracker_state, updated = excluded.updated",
      "store tracker state", &status));
  if (!s.prepared()) return status;
  s.Bind(1, update.session);
  s.BindBlob(2, update.tracker_state);
  s.Bind(3, update.time_unix_ns);
  if (s.Step() != SQLITE_DONE) return Error("store tracker state");
  return Status::Ok();
}

DefectCatalog::DefectCatalog(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

DefectCatalog::~DefectCatalog() = default;

std::unique_ptr<DefectCatalog> DefectCatalog::Open(
    const CatalogOptions& options, Status* status) {
  *status = options.Validate();
  if (!status->ok()) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  *status = impl->OpenDatabase();
  if (!status->ok()) return nullptr;
  return std::unique_ptr<DefectCatalog>(new DefectCatalog(std::move(impl)));
}

Status DefectCatalog::Commit(const CatalogUpdate& update,
                             std::vector<DefectRecord>* records) {
  records->clear();
  if (impl_->options.read_only) {
    return Status::InvalidInput("catalog " + impl_->options.path +
                                ": Commit on a read-only catalog");
  }
  if (Status st = CheckUpdate(update); !st.ok()) return st;

  if (Status st = impl_->Exec("BEGIN IMMEDIATE", "commit: begin"); !st.ok()) {
    return st;
  }
  std::vector<Sighting> sightings;
  std::vector<size_t> sighting_of;
  Status status = impl_->CommitInTransaction(update, &sightings, &sighting_of);
  if (status.ok()) status = impl_->Exec("COMMIT", "commit");
  if (!status.ok()) {
    // Also after a failed COMMIT (SQLITE_BUSY keeps the transaction open);
    // a no-op when SQLite already rolled back.
    sqlite3_exec(impl_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    return status;
  }
  records->reserve(update.observations.size());
  for (size_t k = 0; k < update.observations.size(); ++k) {
    records->push_back(sightings[sighting_of[k]].row.record);
  }
  return Status::Ok();
}

Status DefectCatalog::Find(const DefectQuery& query,
                           std::vector<DefectRecord>* records) const {
  records->clear();
  if (query.limit < 1) {
    return Status::InvalidInput("catalog query: limit = " +
                                std::to_string(query.limit) + ", must be >= 1");
  }
  // The SQL bounding box: the rectangle and the disc's box, intersected.
  std::optional<std::pair<Vec2, Vec2>> box = query.rect_nm;
  if (box && (!Finite(box->first) || !Finite(box->second))) {
    return Status::InvalidInput("catalog query: rect_nm is not finite");
  }
  if (query.disc_nm) {
    const auto& [centre, radius] = *query.disc_nm;
    if (!Finite(centre) || !std::isfinite(radius) || radius < 0) {
      return Status::InvalidInput(
          "catalog query: disc_nm needs a finite centre and radius >= 0");
    }
    const Vec2 lo = centre - Vec2::Constant(radius);
    const Vec2 hi = centre + Vec2::Constant(radius);
    box =
        box ? std::make_pair(box->first.cwiseMax(lo), box->second.cwiseMin(hi))
            : std::make_pair(lo, hi);
  }
  if (query.nearest_to_nm && !Finite(*query.nearest_to_nm)) {
    return Status::InvalidInput("catalog query: nearest_to_nm is not finite");
  }

  std::string sql =
      "SELECT " ANCHORD_CATALOG_COLUMNS " FROM defects WHERE session = ?1";
  // `kind IN (1, 2)` lets the (session, kind, x_nm, y_nm) index serve the
  // x range also when any kind is asked for.
  sql += query.kind ? " AND kind = ?2" : " AND kind IN (1, 2)";
  if (box) sql += " AND x_nm BETWEEN ?3 AND ?4 AND y_nm BETWEEN ?5 AND ?6";
  if (query.changed_since_unix_ns) sql += " AND changed > ?7";
  if (!query.include_inactive) sql += " AND 2 * times_seen > times_observed";
  sql += " ORDER BY id";

  Status status;
  Statement s(impl_->Prepare(sql, "find defects", &status));
  if (!s.prepared()) return status;
  s.Bind(1, query.session);
  if (query.kind) s.Bind(2, static_cast<int>(*query.kind));
  if (box) {
    s.Bind(3, box->first.x());
    s.Bind(4, box->second.x());
    s.Bind(5, box->first.y());
    s.Bind(6, box->second.y());
  }
  if (query.changed_since_unix_ns) s.Bind(7, *query.changed_since_unix_ns);

  const auto limit = static_cast<size_t>(query.limit);
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    DefectRecord r = s.ReadRow().record;
    if (query.disc_nm &&
        (r.session_nm - query.disc_nm->first).norm() > query.disc_nm->second) {
      continue;
    }
    records->push_back(std::move(r));
    // In id order the first `limit` rows are the answer.
    if (!query.nearest_to_nm && records->size() == limit) break;
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    records->clear();
    return impl_->Error("find defects");
  }
  if (query.nearest_to_nm) {
    const Vec2& p = *query.nearest_to_nm;
    auto closer = [&p](const DefectRecord& a, const DefectRecord& b) {
      const double da = (a.session_nm - p).squaredNorm();
      const double db = (b.session_nm - p).squaredNorm();
      return da < db || (da == db && a.id < b.id);
    };
    const size_t keep = std::min(limit, records->size());
    std::partial_sort(records->begin(), records->begin() + keep, records->end(),
                      closer);
    records->resize(keep);
  }
  return Status::Ok();
}

Status DefectCatalog::LoadTrackerState(const std::string& session,
                                       std::string* state) const {
  state->clear();
  Status status;
  Statement s(
      impl_->Prepare("SELECT tracker_state FROM sessions WHERE session = ?1",
                     "load tracker state", &status));
  if (!s.prepared()) return status;
  s.Bind(1, session);
  const int rc = s.Step();
  if (rc == SQLITE_ROW) {
    *state = s.Blob(0);
  } else if (rc != SQLITE_DONE) {
    return impl_->Error("load tracker state");
  }
  return Status::Ok();
}

Status DefectCatalog::Sessions(std::vector<std::string>* sessions) const {
  sessions->clear();
  Status status;
  Statement s(impl_->Prepare(
      "SELECT session FROM sessions ORDER BY updated DESC, session",
      "list sessions", &status));
  if (!s.prepared()) return status;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) sessions->push_back(s.Text(0));
  if (rc != SQLITE_DONE) {
    sessions->clear();
    return impl_->Error("list sessions");
  }
  return Status::Ok();
}

Status DefectCatalog::Count(const std::string& session, int64_t* count) const {
  *count = 0;
  Status status;
  Statement s(impl_->Prepare("SELECT COUNT(*) FROM defects WHERE session = ?1",
                             "count defects", &status));
  if (!s.prepared()) return status;
  s.Bind(1, session);
  if (s.Step() != SQLITE_ROW) return impl_->Error("count defects");
  *count = s.Int(0);
  return Status::Ok();
}

Status DefectCatalog::CheckIntegrity() const {
  Status status;
  Statement s(
      impl_->Prepare("PRAGMA integrity_check", "integrity check", &status));
  if (!s.prepared()) return status;
  std::string problems;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    const std::string line = s.Text(0);
    if (line == "ok") continue;
    if (!problems.empty()) problems += "\n";
    problems += line;
  }
  if (rc != SQLITE_DONE) return impl_->Error("integrity check");
  if (!problems.empty()) {
    return Status::Internal("catalog " + impl_->options.path +
                            ": integrity check failed:\n" + problems);
  }
  return Status::Ok();
}

}  // namespace anchord::daemon
