// One frame's commit, in named steps: load the candidates an observation
// may be, match (defect_matching.h), decide each defect's new row, write
// the rows, mark what the frame missed, retain, store the session's row,
// and keep the catalog within its global bounds.

#include "daemon/catalog/catalog_impl.h"
#include "daemon/catalog/catalog_schema.h"

#include <map>

namespace anchord::daemon {

Status DefectCatalog::Impl::CommitInTransaction(
    const CatalogUpdate& update, std::vector<DefectRecord>* records) {
  std::vector<ObservationCandidates> candidates;
  std::unordered_map<int64_t, DefectRow> known;
  if (Status st = LoadCandidates(update, &candidates, &known); !st.ok()) {
    return st;
  }
  const FrameMatch match = MatchObservations(update.observations, candidates,
                                             options.match_radius_nm);
  std::vector<DefectRow> rows = DecideRows(update, match, known);
  if (Status st = WriteRows(match, &rows); !st.ok()) return st;
  std::unordered_set<int64_t> seen;
  for (const DefectRow& row : rows) seen.insert(row.record.id);
  if (Status st = MarkMissed(update, seen); !st.ok()) return st;
  if (Status st = Retain(update, seen); !st.ok()) return st;
  if (Status st = StoreSession(update); !st.ok()) return st;
  if (Status st = BoundSessions(update); !st.ok()) return st;
  records->reserve(update.observations.size());
  for (size_t sighting : match.sighting_of) {
    records->push_back(rows[sighting].record);
  }
  return Status::Ok();
}

// For every observation what the database holds that it may be: the
// vacancy with its key (looked up once per key), or the off-lattice
// defects in the square of side 2 · match_radius_nm around it. `known`
// gets the row of every defect loaded, by id.
Status DefectCatalog::Impl::LoadCandidates(
    const CatalogUpdate& update,
    std::vector<ObservationCandidates>* candidates,
    std::unordered_map<int64_t, DefectRow>* known) {
  candidates->assign(update.observations.size(), {});
  std::map<VacancyKey, std::optional<int64_t>> vacancy_ids;
  for (size_t k = 0; k < update.observations.size(); ++k) {
    const DefectObservation& o = update.observations[k];
    ObservationCandidates& c = (*candidates)[k];
    if (o.kind == DefectKind::kVacancy) {
      const VacancyKey key = KeyOf(o);
      auto it = vacancy_ids.find(key);
      if (it == vacancy_ids.end()) {
        std::optional<DefectRow> row;
        if (Status st = LoadVacancy(update.session, key, &row); !st.ok()) {
          return st;
        }
        std::optional<int64_t> id;
        if (row) id = known->emplace(row->record.id, *row).first->first;
        it = vacancy_ids.emplace(key, id).first;
      }
      c.vacancy_id = it->second;
      continue;
    }
    std::vector<DefectRow> near;
    if (Status st = LoadOffLatticeNear(update.session, o.session_nm, &near);
        !st.ok()) {
      return st;
    }
    for (DefectRow& row : near) {
      c.off_lattice.push_back({row.record.id, row.record.session_nm});
      known->emplace(row.record.id, std::move(row));
    }
  }
  return Status::Ok();
}

Status DefectCatalog::Impl::LoadVacancy(const std::string& session,
                                        const VacancyKey& key,
                                        std::optional<DefectRow>* row) {
  SqliteStatement s = Statement(
      "SELECT " ANCHORD_CATALOG_COLUMNS
      " FROM defects WHERE session = ?1 AND kind = 1 AND i = ?2 AND j = ?3"
      " AND site = ?4",
      "find vacancy by key");
  s.Bind(1, session);
  s.Bind(2, key.i);
  s.Bind(3, key.j);
  s.Bind(4, key.site);
  bool has_row = false;
  if (Status st = s.Step(&has_row); !st.ok()) return st;
  if (has_row) *row = ReadDefectRow(s);
  return Status::Ok();
}

Status DefectCatalog::Impl::LoadOffLatticeNear(const std::string& session,
                                               const Vec2& p,
                                               std::vector<DefectRow>* rows) {
  const double radius = options.match_radius_nm;
  SqliteStatement s =
      Statement("SELECT " ANCHORD_CATALOG_COLUMNS
                " FROM defects WHERE session = ?1 AND kind = 2"
                " AND x_nm BETWEEN ?2 AND ?3 AND y_nm BETWEEN ?4 AND ?5",
                "find off-lattice defects near");
  s.Bind(1, session);
  s.Bind(2, p.x() - radius);
  s.Bind(3, p.x() + radius);
  s.Bind(4, p.y() - radius);
  s.Bind(5, p.y() + radius);
  return s.ForEachRow([&] {
    rows->push_back(ReadDefectRow(s));
    return true;
  });
}

// Each sighting's row after this frame: a new defect's first row, or the
// catalogued row with the sighting folded in (FoldSighting decides whether
// that is a change).
std::vector<DefectRow> DefectCatalog::Impl::DecideRows(
    const CatalogUpdate& update,
    const FrameMatch& match,
    const std::unordered_map<int64_t, DefectRow>& known) const {
  std::vector<DefectRow> rows;
  rows.reserve(match.sightings.size());
  for (const FrameSighting& sighting : match.sightings) {
    if (!sighting.known_id) {
      rows.push_back(NewDefectRow(sighting, update.session, update.time_unix_ns,
                                  update.frame_id));
      continue;
    }
    DefectRow row = known.at(*sighting.known_id);
    FoldSighting(sighting, update.time_unix_ns, update.frame_id,
                 options.match_radius_nm, &row);
    rows.push_back(std::move(row));
  }
  return rows;
}

// Inserts the new rows (in sighting order, so ids follow the order of
// first observation) and updates the others; new rows get their ids.
Status DefectCatalog::Impl::WriteRows(const FrameMatch& match,
                                      std::vector<DefectRow>* rows) {
  for (size_t k = 0; k < rows->size(); ++k) {
    DefectRow& row = (*rows)[k];
    const Status st =
        match.sightings[k].known_id ? UpdateRow(row) : InsertRow(&row);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

Status DefectCatalog::Impl::InsertRow(DefectRow* row) {
  DefectRecord& r = row->record;
  SqliteStatement s = Statement(
      "INSERT INTO defects (session, kind, i, j, site, x_nm, y_nm, "
      "sigma_nm, first_seen, last_seen, times_seen, times_observed, "
      "last_frame_id, changed, m2_nm2, var_sum_nm2, ref_x_nm, ref_y_nm) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
      "?15, ?16, ?17, ?18)",
      "insert defect");
  s.Bind(1, r.session);
  s.Bind(2, static_cast<int>(r.kind));
  s.Bind(3, r.i);
  s.Bind(4, r.j);
  s.Bind(5, r.site);
  BindDefectRowState(6, *row, &s);
  if (Status st = s.Run(); !st.ok()) return st;
  r.id = s.LastInsertRowId();
  ++defects_delta;
  return Status::Ok();
}

Status DefectCatalog::Impl::UpdateRow(const DefectRow& row) {
  SqliteStatement s = Statement(
      "UPDATE defects SET x_nm = ?2, y_nm = ?3, sigma_nm = ?4, "
      "first_seen = ?5, last_seen = ?6, times_seen = ?7, times_observed = ?8, "
      "last_frame_id = ?9, changed = ?10, m2_nm2 = ?11, var_sum_nm2 = ?12, "
      "ref_x_nm = ?13, ref_y_nm = ?14 WHERE id = ?1",
      "update seen defect");
  s.Bind(1, row.record.id);
  BindDefectRowState(2, row, &s);
  return s.Run();
}

// Every defect of the session that the frame missed (IsMissed) was
// observed but not seen: times_observed += 1, and the change time when
// that makes it inactive (it disappeared). One UPDATE: the position index
// narrows to the footprint's bounding box, then anchord_missed() (IsMissed
// in C++) picks the rows.
Status DefectCatalog::Impl::MarkMissed(
    const CatalogUpdate& update, const std::unordered_set<int64_t>& seen) {
  const std::vector<Vec2>& polygon = update.footprint_nm;
  if (polygon.size() < 3) return Status::Ok();
  Vec2 lo = polygon.front(), hi = polygon.front();
  for (const Vec2& p : polygon) {
    lo = lo.cwiseMin(p);
    hi = hi.cwiseMax(p);
  }
  // Old values on the right: active before (2 s > o) and not after
  // (2 s <= o + 1), i.e. 2 s = o + 1, is a disappearance.
  SqliteStatement s = Statement(
      "UPDATE defects SET times_observed = times_observed + 1, "
      "changed = CASE WHEN 2 * times_seen = times_observed + 1 "
      "THEN max(changed, ?6) ELSE changed END, "
      "ref_x_nm = CASE WHEN 2 * times_seen = times_observed + 1 "
      "THEN x_nm ELSE ref_x_nm END, "
      "ref_y_nm = CASE WHEN 2 * times_seen = times_observed + 1 "
      "THEN y_nm ELSE ref_y_nm END "
      "WHERE session = ?1 AND kind IN (1, 2) AND x_nm BETWEEN ?2 AND ?3 "
      "AND y_nm BETWEEN ?4 AND ?5 AND anchord_missed(id, x_nm, y_nm)",
      "update missed defects");
  s.Bind(1, update.session);
  s.Bind(2, lo.x());
  s.Bind(3, hi.x());
  s.Bind(4, lo.y());
  s.Bind(5, hi.y());
  s.Bind(6, update.time_unix_ns);
  const FrameCoverage frame{&polygon, &update.undecided_nm, &seen};
  coverage = &frame;
  const Status status = s.Run();
  coverage = nullptr;
  return status;
}

// The session's row: its latest frame time, and the tracker state when the
// update stores one (else the state stored last stays; a new session's row
// starts with a zero-length state, which reads as none).
Status DefectCatalog::Impl::StoreSession(const CatalogUpdate& update) {
  if (!update.store_tracker_state) {
    SqliteStatement s = Statement(
        "INSERT INTO sessions (session, tracker_state, updated) "
        "VALUES (?1, X'', ?2) ON CONFLICT (session) DO UPDATE SET "
        "updated = excluded.updated",
        "record session");
    s.Bind(1, update.session);
    s.Bind(2, update.time_unix_ns);
    return s.Run();
  }
  SqliteStatement s = Statement(
      "INSERT INTO sessions (session, tracker_state, updated) "
      "VALUES (?1, ?2, ?3) ON CONFLICT (session) DO UPDATE SET "
      "tracker_state = excluded.tracker_state, updated = excluded.updated",
      "store tracker state");
  s.Bind(1, update.session);
  s.BindBlob(2, update.tracker_state);
  s.Bind(3, update.time_unix_ns);
  return s.Run();
}

}  // namespace anchord::daemon
