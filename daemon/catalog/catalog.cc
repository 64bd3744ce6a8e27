#include "daemon/catalog/catalog.h"

#include "anchord/util/validation.h"

#include "daemon/catalog/catalog_impl.h"
#include "daemon/catalog/catalog_schema.h"
#include "daemon/common/session_name.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

namespace anchord::daemon {
namespace {

bool Finite(const Vec2& p) {
  return std::isfinite(p.x()) && std::isfinite(p.y());
}

// Why observation `o` cannot be stored, or "" when it can.
std::string ObservationProblem(const DefectObservation& o) {
  if (o.kind != DefectKind::kVacancy && o.kind != DefectKind::kOffLattice) {
    return "unknown kind " + std::to_string(static_cast<int>(o.kind));
  }
  if (!Finite(o.session_nm)) return "non-finite session_nm";
  if (!std::isfinite(o.sigma_nm) || o.sigma_nm < 0) {
    return "sigma_nm not finite and >= 0";
  }
  if (o.kind == DefectKind::kVacancy && o.site < 0) {
    return "vacancy site " + std::to_string(o.site) + " < 0";
  }
  return "";
}

Status CheckUpdate(const CatalogUpdate& update) {
  if (update.session.empty()) {
    return Status::InvalidInput("catalog: update has an empty session");
  }
  if (std::optional<std::string> error = SessionNameError(update.session)) {
    return Status::InvalidInput("catalog: update session " +
                                SanitizedForLog(update.session) + " " + *error);
  }
  for (const Vec2& p : update.footprint_nm) {
    if (!Finite(p)) {
      return Status::InvalidInput(
          "catalog: update footprint_nm has a non-finite vertex");
    }
  }
  for (size_t k = 0; k < update.observations.size(); ++k) {
    const std::string problem = ObservationProblem(update.observations[k]);
    if (!problem.empty()) {
      return Status::InvalidInput("catalog: update observations[" +
                                  std::to_string(k) + "]: " + problem);
    }
  }
  return Status::Ok();
}

// A query's SQL bounding box: its rectangle and its disc's square,
// intersected; unset when it has neither.
using Box = std::pair<Vec2, Vec2>;
std::optional<Box> QueryBox(const DefectQuery& query) {
  std::optional<Box> box = query.rect_nm;
  if (query.disc_nm) {
    const auto& [centre, radius] = *query.disc_nm;
    const Vec2 lo = centre - Vec2::Constant(radius);
    const Vec2 hi = centre + Vec2::Constant(radius);
    box = box ? Box(box->first.cwiseMax(lo), box->second.cwiseMin(hi))
              : Box(lo, hi);
  }
  return box;
}

Status CheckQuery(const DefectQuery& query) {
  if (query.limit < 1) {
    return Status::InvalidInput("catalog query: limit = " +
                                std::to_string(query.limit) + ", must be >= 1");
  }
  if (query.rect_nm &&
      (!Finite(query.rect_nm->first) || !Finite(query.rect_nm->second))) {
    return Status::InvalidInput("catalog query: rect_nm is not finite");
  }
  if (query.disc_nm) {
    const auto& [centre, radius] = *query.disc_nm;
    if (!Finite(centre) || !std::isfinite(radius) || radius < 0) {
      return Status::InvalidInput(
          "catalog query: disc_nm needs a finite centre and radius >= 0");
    }
  }
  if (query.nearest_to_nm && !Finite(*query.nearest_to_nm)) {
    return Status::InvalidInput("catalog query: nearest_to_nm is not finite");
  }
  return Status::Ok();
}

// The SELECT of a query's shape: ?1 session, ?2 kind, ?3..?6 the box,
// ?7 changed since; in id order.
std::string FindSql(const DefectQuery& query, bool has_box) {
  std::string sql =
      "SELECT " ANCHORD_CATALOG_COLUMNS " FROM defects WHERE session = ?1";
  // `kind IN (1, 2)` lets the (session, kind, x_nm, y_nm) index serve the
  // x range also when any kind is asked for.
  sql += query.kind ? " AND kind = ?2" : " AND kind IN (1, 2)";
  if (has_box) sql += " AND x_nm BETWEEN ?3 AND ?4 AND y_nm BETWEEN ?5 AND ?6";
  if (query.changed_since_unix_ns) sql += " AND changed > ?7";
  if (!query.include_inactive) sql += " AND 2 * times_seen > times_observed";
  sql += " ORDER BY id";
  return sql;
}

void BindFind(const DefectQuery& query,
              const std::optional<Box>& box,
              SqliteStatement* s) {
  s->Bind(1, query.session);
  if (query.kind) s->Bind(2, static_cast<int>(*query.kind));
  if (box) {
    s->Bind(3, box->first.x());
    s->Bind(4, box->second.x());
    s->Bind(5, box->first.y());
    s->Bind(6, box->second.y());
  }
  if (query.changed_since_unix_ns) s->Bind(7, *query.changed_since_unix_ns);
}

// The `limit` records nearest to `p`, ties by id.
void KeepNearest(const Vec2& p,
                 size_t limit,
                 std::vector<DefectRecord>* records) {
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
  ANCHORD_OPTION_GE(v, max_sessions, 1);
  ANCHORD_OPTION_GE(v, max_defects_total, 1);
  return v.ToStatus();
}

DefectCatalog::DefectCatalog(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

DefectCatalog::~DefectCatalog() = default;

std::unique_ptr<DefectCatalog> DefectCatalog::Open(
    const CatalogOptions& options, Status* status) {
  *status = options.Validate();
  if (!status->ok()) return nullptr;
  auto impl = std::make_unique<Impl>(options);
  *status = impl->OpenDatabase();
  if (!status->ok()) return nullptr;
  return std::unique_ptr<DefectCatalog>(new DefectCatalog(std::move(impl)));
}

Status DefectCatalog::Commit(const CatalogUpdate& update,
                             std::vector<DefectRecord>* records) {
  records->clear();
  if (impl_->options.read_only) {
    return Status::InvalidInput(impl_->context +
                                ": Commit on a read-only catalog");
  }
  if (Status st = CheckUpdate(update); !st.ok()) return st;

  impl_->BeginTransaction();
  if (Status st = impl_->Exec("BEGIN IMMEDIATE", "commit: begin"); !st.ok()) {
    impl_->FinishTransaction(false);
    return st;
  }
  Status status = impl_->CommitInTransaction(update, records);
  if (status.ok()) status = impl_->Exec("COMMIT", "commit");
  if (!status.ok()) {
    // Also after a failed COMMIT (SQLITE_BUSY keeps the transaction open);
    // a no-op when SQLite already rolled back.
    sqlite3_exec(impl_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    impl_->FinishTransaction(false);
    records->clear();
    return status;
  }
  impl_->FinishTransaction(true);
  return Status::Ok();
}

Status DefectCatalog::Find(const DefectQuery& query,
                           std::vector<DefectRecord>* records) const {
  records->clear();
  if (Status st = CheckQuery(query); !st.ok()) return st;
  const std::optional<Box> box = QueryBox(query);
  SqliteStatement s =
      impl_->Statement(FindSql(query, box.has_value()), "find defects");
  BindFind(query, box, &s);
  const auto limit = static_cast<size_t>(query.limit);
  const Status status = s.ForEachRow([&] {
    DefectRecord r = ReadDefectRow(s).record;
    if (query.disc_nm &&
        (r.session_nm - query.disc_nm->first).norm() > query.disc_nm->second) {
      return true;
    }
    records->push_back(std::move(r));
    // In id order the first `limit` rows are the answer.
    return query.nearest_to_nm || records->size() < limit;
  });
  if (!status.ok()) {
    records->clear();
    return status;
  }
  if (query.nearest_to_nm) KeepNearest(*query.nearest_to_nm, limit, records);
  return Status::Ok();
}

Status DefectCatalog::LoadTrackerState(const std::string& session,
                                       std::string* state) const {
  state->clear();
  SqliteStatement s =
      impl_->Statement("SELECT tracker_state FROM sessions WHERE session = ?1",
                       "load tracker state");
  s.Bind(1, session);
  bool has_row = false;
  if (Status st = s.Step(&has_row); !st.ok()) return st;
  if (has_row) *state = s.Blob(0);
  return Status::Ok();
}

Status DefectCatalog::Sessions(std::vector<std::string>* sessions) const {
  sessions->clear();
  SqliteStatement s = impl_->Statement(
      "SELECT session FROM sessions ORDER BY updated DESC, session",
      "list sessions");
  const Status status = s.ForEachRow([&] {
    sessions->push_back(s.Text(0));
    return true;
  });
  if (!status.ok()) sessions->clear();
  return status;
}

Status DefectCatalog::Count(const std::string& session, int64_t* count) const {
  *count = 0;
  SqliteStatement s = impl_->Statement(
      "SELECT COUNT(*) FROM defects WHERE session = ?1", "count defects");
  s.Bind(1, session);
  if (Status st = s.StepToRow(); !st.ok()) return st;
  *count = s.Int(0);
  return Status::Ok();
}

Status DefectCatalog::CheckIntegrity() const {
  SqliteStatement s =
      impl_->Statement("PRAGMA integrity_check", "integrity check");
  std::string problems;
  const Status status = s.ForEachRow([&] {
    const std::string line = s.Text(0);
    if (line == "ok") return true;
    if (!problems.empty()) problems += "\n";
    problems += line;
    return true;
  });
  if (!status.ok()) return status;
  if (!problems.empty()) {
    return Status::Internal(impl_->context + ": integrity check failed:\n" +
                            problems);
  }
  return Status::Ok();
}

CatalogEvictions DefectCatalog::evictions() const { return impl_->evictions; }

Status DefectCatalog::SizeBytes(int64_t* bytes) const {
  *bytes = 0;
  int64_t pages = 0, page_bytes = 0;
  if (Status st =
          impl_->QueryInt("PRAGMA page_count", "PRAGMA page_count", &pages);
      !st.ok()) {
    return st;
  }
  if (Status st =
          impl_->QueryInt("PRAGMA page_size", "PRAGMA page_size", &page_bytes);
      !st.ok()) {
    return st;
  }
  *bytes = pages * page_bytes;
  return Status::Ok();
}

}  // namespace anchord::daemon
