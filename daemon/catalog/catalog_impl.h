#pragma once

// The state behind a DefectCatalog and the steps its operations are made
// of; private to daemon/catalog/. Opening is in catalog_open.cc, a
// commit's steps in catalog_commit.cc, retention and the global bounds in
// catalog_retention.cc, the public operations in catalog.cc.

#include "daemon/catalog/catalog.h"
#include "daemon/catalog/defect_matching.h"
#include "daemon/catalog/sqlite_statement.h"
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace anchord::daemon {

struct DefectCatalog::Impl {
  explicit Impl(const CatalogOptions& catalog_options);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  CatalogOptions options;
  // "catalog <path>", the start of every error message.
  std::string context;
  sqlite3* db = nullptr;
  // Prepared statements by SQL text (a Find() shape is prepared on first
  // use); created once the connection is open, finalised before it closes.
  std::unique_ptr<StatementCache> statements;
  // Set while MarkMissed() runs its UPDATE; read by anchord_missed().
  const FrameCoverage* coverage = nullptr;

  // The number of defects in the database after this connection's last
  // commit, and PRAGMA data_version then (it changes when another
  // connection commits, and the number is then counted again). Unset
  // until first needed and after a failed commit.
  std::optional<int64_t> defects_total;
  int64_t defects_total_data_version = 0;
  // During a commit: defects inserted minus defects deleted so far.
  int64_t defects_delta = 0;
  // During a commit: the defect total after it, as BoundSessions() left it,
  // and PRAGMA data_version within it.
  std::optional<int64_t> defects_total_after;
  int64_t pending_data_version = 0;
  // What the global bounds evicted in committed transactions, and in the
  // transaction under way.
  CatalogEvictions evictions;
  CatalogEvictions pending_evictions;

  // kInternal naming the path, the step and SQLite's message.
  Status Error(std::string_view what) const {
    return SqliteError(db, context, what);
  }
  Status Exec(const char* sql, std::string_view what) const {
    return SqliteExec(db, sql, context, what);
  }
  // A use of the cached statement for `sql`.
  SqliteStatement Statement(const std::string& sql, std::string_view what) {
    return SqliteStatement(*statements, sql, what);
  }
  // The single integer a query (a pragma, a COUNT) returns.
  Status QueryInt(const std::string& sql,
                  std::string_view what,
                  int64_t* value);

  // catalog_open.cc
  Status OpenDatabase();
  Status ConfigureWriter();
  Status CheckSchema();
  Status CreateSchema();

  // catalog_commit.cc: the steps of one commit, in order.
  Status CommitInTransaction(const CatalogUpdate& update,
                             std::vector<DefectRecord>* records);
  Status LoadCandidates(const CatalogUpdate& update,
                        std::vector<ObservationCandidates>* candidates,
                        std::unordered_map<int64_t, DefectRow>* known);
  Status LoadVacancy(const std::string& session,
                     const VacancyKey& key,
                     std::optional<DefectRow>* row);
  Status LoadOffLatticeNear(const std::string& session,
                            const Vec2& p,
                            std::vector<DefectRow>* rows);
  std::vector<DefectRow> DecideRows(
      const CatalogUpdate& update,
      const FrameMatch& match,
      const std::unordered_map<int64_t, DefectRow>& known) const;
  Status WriteRows(const FrameMatch& match, std::vector<DefectRow>* rows);
  Status InsertRow(DefectRow* row);
  Status UpdateRow(const DefectRow& row);
  Status MarkMissed(const CatalogUpdate& update,
                    const std::unordered_set<int64_t>& seen);
  Status StoreSession(const CatalogUpdate& update);

  // catalog_retention.cc
  Status Retain(const CatalogUpdate& update,
                const std::unordered_set<int64_t>& keep);
  Status RetainByAge(const CatalogUpdate& update,
                     const std::unordered_set<int64_t>& keep);
  Status RetainByCount(const CatalogUpdate& update,
                       const std::unordered_set<int64_t>& keep);
  Status DeleteDefect(int64_t id, std::string_view what);
  Status BoundSessions(const CatalogUpdate& update);
  Status CountDefectsTotal(int64_t* total);
  Status OldestSessions(const std::string& except,
                        int64_t limit,
                        std::vector<std::string>* sessions);
  Status EvictSession(const std::string& session, int64_t* defects);
  // Before BEGIN: clears the transaction's counts. After COMMIT / ROLLBACK:
  // keeps or forgets them.
  void BeginTransaction();
  void FinishTransaction(bool committed);
};

}  // namespace anchord::daemon
