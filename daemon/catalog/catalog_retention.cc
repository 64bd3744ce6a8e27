// Retention: what the catalog deletes of a session, defects too old or too
// many.

#include "daemon/catalog/catalog_impl.h"

#include <limits>

namespace anchord::daemon {

// Retention (max_age_s, then max_defects_per_session, least recently seen
// first, ties by older id) over the session's records except `keep` (the
// records this frame reports: a published id is always in the database,
// so a frame with more new defects than the bound leaves the session over
// it).
Status DefectCatalog::Impl::Retain(const CatalogUpdate& update,
                                   const std::unordered_set<int64_t>& keep) {
  if (Status st = RetainByAge(update, keep); !st.ok()) return st;
  return RetainByCount(update, keep);
}

Status DefectCatalog::Impl::RetainByAge(
    const CatalogUpdate& update, const std::unordered_set<int64_t>& keep) {
  if (options.max_age_s <= 0) return Status::Ok();
  const double cutoff = double(update.time_unix_ns) - options.max_age_s * 1e9;
  if (cutoff <= double(std::numeric_limits<int64_t>::min())) {
    return Status::Ok();
  }
  std::vector<int64_t> old;
  {
    SqliteStatement s = Statement(
        "SELECT id FROM defects WHERE session = ?1 AND last_seen < ?2",
        "select defects by age");
    s.Bind(1, update.session);
    s.Bind(2, static_cast<int64_t>(cutoff));
    if (Status st = s.ForEachRow([&] {
          old.push_back(s.Int(0));
          return true;
        });
        !st.ok()) {
      return st;
    }
  }
  for (int64_t id : old) {
    if (keep.count(id)) continue;
    if (Status st = DeleteDefect(id, "delete defects by age"); !st.ok()) {
      return st;
    }
  }
  return Status::Ok();
}

Status DefectCatalog::Impl::RetainByCount(
    const CatalogUpdate& update, const std::unordered_set<int64_t>& keep) {
  int64_t count = 0;
  {
    SqliteStatement s = Statement(
        "SELECT COUNT(*) FROM defects WHERE session = ?1", "count defects");
    s.Bind(1, update.session);
    if (Status st = s.StepToRow(); !st.ok()) return st;
    count = s.Int(0);
  }
  int64_t excess = count - options.max_defects_per_session;
  if (excess <= 0) return Status::Ok();
  std::vector<int64_t> oldest;
  {
    SqliteStatement s = Statement(
        "SELECT id FROM defects WHERE session = ?1 "
        "ORDER BY last_seen, id LIMIT ?2",
        "select defects by count");
    s.Bind(1, update.session);
    s.Bind(2, excess + static_cast<int64_t>(keep.size()));
    if (Status st = s.ForEachRow([&] {
          oldest.push_back(s.Int(0));
          return true;
        });
        !st.ok()) {
      return st;
    }
  }
  for (int64_t id : oldest) {
    if (excess == 0) break;
    if (keep.count(id)) continue;
    if (Status st = DeleteDefect(id, "delete defects by count"); !st.ok()) {
      return st;
    }
    --excess;
  }
  return Status::Ok();
}

Status DefectCatalog::Impl::DeleteDefect(int64_t id, std::string_view what) {
  SqliteStatement s = Statement("DELETE FROM defects WHERE id = ?1", what);
  s.Bind(1, id);
  return s.Run();
}

}  // namespace anchord::daemon
