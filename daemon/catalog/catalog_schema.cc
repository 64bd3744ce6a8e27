#include "daemon/catalog/catalog_schema.h"

namespace anchord::daemon {

// The kind column stores these numbers, and the SQL spells them out (a
// partial index is only used for a literal `kind = 1`).
static_assert(static_cast<int>(DefectKind::kVacancy) == 1);
static_assert(static_cast<int>(DefectKind::kOffLattice) == 2);

// Columns beyond the ones a DefectRecord shows:
//   m2_nm2       sum over sightings of the squared 2-D deviation from the
//                running mean (Welford), for the scatter of the sightings;
//   var_sum_nm2  sum over sightings of the observation variance;
//   ref_x_nm, ref_y_nm  the mean position at the last change (a move of
//                more than match_radius_nm / 2 from it is a change).
// Vacancies are keyed by (session, kind, i, j, site), unique by a partial
// index; off-lattice rows store i = j = 0, site = -1 and are found by
// position through defects_position. AUTOINCREMENT: ids of deleted
// defects are never handed out again. sessions holds one row per session
// with a commit: the tracker state stored last (a zero-length blob until
// one is) and `updated`, the frame time of the session's latest commit
// (the order of Sessions() and of evictions).
const char* const kCatalogSchemaSql = R"sql(
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

DefectRow ReadDefectRow(const SqliteStatement& s) {
  DefectRow row;
  DefectRecord& r = row.record;
  int c = 0;
  r.id = s.Int(c++);
  r.session = s.Text(c++);
  r.kind = static_cast<DefectKind>(s.Int(c++));
  r.i = static_cast<int>(s.Int(c++));
  r.j = static_cast<int>(s.Int(c++));
  r.site = static_cast<int>(s.Int(c++));
  r.session_nm.x() = s.Real(c++);
  r.session_nm.y() = s.Real(c++);
  r.sigma_nm = s.Real(c++);
  r.first_seen_unix_ns = s.Int(c++);
  r.last_seen_unix_ns = s.Int(c++);
  r.times_seen = s.Int(c++);
  r.times_observed = s.Int(c++);
  r.last_frame_id = static_cast<uint64_t>(s.Int(c++));
  r.changed_unix_ns = s.Int(c++);
  row.m2_nm2 = s.Real(c++);
  row.var_sum_nm2 = s.Real(c++);
  row.ref_nm.x() = s.Real(c++);
  row.ref_nm.y() = s.Real(c++);
  return row;
}

void BindDefectRowState(int first, const DefectRow& row, SqliteStatement* s) {
  const DefectRecord& r = row.record;
  int k = first;
  s->Bind(k++, r.session_nm.x());
  s->Bind(k++, r.session_nm.y());
  s->Bind(k++, r.sigma_nm);
  s->Bind(k++, r.first_seen_unix_ns);
  s->Bind(k++, r.last_seen_unix_ns);
  s->Bind(k++, r.times_seen);
  s->Bind(k++, r.times_observed);
  s->Bind(k++, static_cast<int64_t>(r.last_frame_id));
  s->Bind(k++, r.changed_unix_ns);
  s->Bind(k++, row.m2_nm2);
  s->Bind(k++, row.var_sum_nm2);
  s->Bind(k++, row.ref_nm.x());
  s->Bind(k++, row.ref_nm.y());
}

}  // namespace anchord::daemon
