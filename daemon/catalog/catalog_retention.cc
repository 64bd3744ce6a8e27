// What the catalog deletes: per session, defects too old or too many
// (retention); over all sessions, whole sessions beyond max_sessions or
// max_defects_total (the global bounds).

#include "daemon/catalog/catalog_impl.h"

#include <algorithm>
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
  if (Status st = s.Run(); !st.ok()) return st;
  defects_delta -= s.Changes();
  return Status::Ok();
}

// Evicts whole sessions other than the committing one, the least recently
// committed first (by frame time, ties by name), while the catalog holds
// more than max_sessions sessions or max_defects_total defects. Runs after
// StoreSession(), so the committing session is counted.
Status DefectCatalog::Impl::BoundSessions(const CatalogUpdate& update) {
  int64_t sessions = 0, defects = 0;
  if (Status st = QueryInt("SELECT COUNT(*) FROM sessions", "count sessions",
                           &sessions);
      !st.ok()) {
    return st;
  }
  if (Status st = CountDefectsTotal(&defects); !st.ok()) return st;
  const auto over = [&] {
    return sessions > options.max_sessions ||
           defects > options.max_defects_total;
  };
  while (over()) {
    std::vector<std::string> oldest;
    const int64_t batch = std::max<int64_t>(1, sessions - options.max_sessions);
    if (Status st = OldestSessions(update.session, batch, &oldest); !st.ok()) {
      return st;
    }
    if (oldest.empty()) break;  // only the committing session is left
    for (size_t k = 0; k < oldest.size() && over(); ++k) {
      int64_t removed = 0;
      if (Status st = EvictSession(oldest[k], &removed); !st.ok()) return st;
      sessions -= 1;
      defects -= removed;
      pending_evictions.sessions += 1;
      pending_evictions.defects += removed;
    }
  }
  defects_total_after = defects;
  return Status::Ok();
}

// The number of defects in the database now, within the transaction: the
// cached total plus this transaction's changes while no other connection
// committed since the cache was taken, else counted.
Status DefectCatalog::Impl::CountDefectsTotal(int64_t* total) {
  int64_t version = 0;
  if (Status st =
          QueryInt("PRAGMA data_version", "PRAGMA data_version", &version);
      !st.ok()) {
    return st;
  }
  pending_data_version = version;
  if (defects_total && version == defects_total_data_version) {
    *total = *defects_total + defects_delta;
    return Status::Ok();
  }
  return QueryInt("SELECT COUNT(*) FROM defects", "count all defects", total);
}

Status DefectCatalog::Impl::OldestSessions(const std::string& except,
                                           int64_t limit,
                                           std::vector<std::string>* sessions) {
  SqliteStatement s = Statement(
      "SELECT session FROM sessions WHERE session <> ?1 "
      "ORDER BY updated, session LIMIT ?2",
      "select the oldest sessions");
  s.Bind(1, except);
  s.Bind(2, limit);
  return s.ForEachRow([&] {
    sessions->push_back(s.Text(0));
    return true;
  });
}

// Deletes the session's defects and its row; *defects = how many defects.
Status DefectCatalog::Impl::EvictSession(const std::string& session,
                                         int64_t* defects) {
  {
    SqliteStatement s = Statement("DELETE FROM defects WHERE session = ?1",
                                  "evict a session's defects");
    s.Bind(1, session);
    if (Status st = s.Run(); !st.ok()) return st;
    *defects = s.Changes();
    defects_delta -= *defects;
  }
  SqliteStatement s =
      Statement("DELETE FROM sessions WHERE session = ?1", "evict a session");
  s.Bind(1, session);
  return s.Run();
}

void DefectCatalog::Impl::BeginTransaction() {
  defects_delta = 0;
  defects_total_after.reset();
  pending_evictions = {};
}

void DefectCatalog::Impl::FinishTransaction(bool committed) {
  if (!committed) {
    defects_total.reset();
    return;
  }
  evictions.sessions += pending_evictions.sessions;
  evictions.defects += pending_evictions.defects;
  defects_total = defects_total_after;
  defects_total_data_version = pending_data_version;
}

}  // namespace anchord::daemon
