#pragma once

// A thin layer over the SQLite C API for the catalog: the prepared
// statements of one connection (cached by SQL text), one use of a
// statement with bind, step and column helpers, and SQLite failures as
// kInternal Status values that carry SQLite's own message. Nothing here
// throws. Not thread-safe (as the connection it wraps).

#include "anchord/util/status.h"

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

namespace anchord::daemon {

// kInternal "<context>: <what>: <SQLite's message> (sqlite code N)" for
// the last failure on `db`; "out of memory" when `db` is null.
Status SqliteError(sqlite3* db,
                   std::string_view context,
                   std::string_view what);

// Runs SQL that returns no rows (schema, transaction control, pragmas that
// set); kInternal (SqliteError) when it fails.
Status SqliteExec(sqlite3* db,
                  const char* sql,
                  std::string_view context,
                  std::string_view what);

// The prepared statements of one connection by SQL text: each is prepared
// on first use (SQLITE_PREPARE_PERSISTENT) and finalised by Clear() or the
// destructor, which must run before the connection is closed. The
// connection is borrowed, not owned.
class StatementCache {
 public:
  // `context` starts every error message ("catalog /var/lib/x.sqlite").
  StatementCache(sqlite3* db, std::string context);
  StatementCache(const StatementCache&) = delete;
  StatementCache& operator=(const StatementCache&) = delete;

  // The statement for `sql`; nullptr with *status set (naming `what`) when
  // it does not prepare.
  sqlite3_stmt* Get(const std::string& sql,
                    std::string_view what,
                    Status* status);
  // Finalises every statement.
  void Clear() { statements_.clear(); }

  sqlite3* db() const { return db_; }
  const std::string& context() const { return context_; }

 private:
  struct Finalize {
    void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
  };

  sqlite3* db_;
  std::string context_;
  std::unordered_map<std::string, std::unique_ptr<sqlite3_stmt, Finalize>>
      statements_;
};

// One use of a cached statement: bind its parameters, step it, read its
// columns. On destruction the statement is reset and its bindings
// cleared, so no read snapshot stays open between uses (an open snapshot
// would hold back the WAL checkpoint and hide later commits from a
// reader). A failed prepare or bind is remembered: status() reports it
// and every later Step() / Run() / ForEachRow() returns it. Text and blob
// bindings are not copied: a bound string must outlive the use.
class SqliteStatement {
 public:
  // `what` names the step in error messages ("insert defect").
  SqliteStatement(StatementCache& cache,
                  const std::string& sql,
                  std::string_view what);
  ~SqliteStatement();
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  // kOk, or why the statement could not be prepared or bound.
  const Status& status() const { return status_; }
  bool ok() const { return status_.ok(); }

  // Parameters are numbered from 1, as ?1, ?2, ... in the SQL.
  void Bind(int index, int64_t value);
  void Bind(int index, int value);
  void Bind(int index, double value);
  void Bind(int index, const std::string& text);  // TEXT, UTF-8
  // A BLOB; an empty string is a zero-length BLOB, not NULL.
  void BindBlob(int index, const std::string& bytes);

  // Steps once: *has_row is true at a result row (read it with the column
  // helpers) and false when the statement is done.
  Status Step(bool* has_row);
  // Steps once and requires a row (a COUNT(*), a pragma's value).
  Status StepToRow();
  // Runs a statement that returns no rows (INSERT, UPDATE, DELETE) to its
  // end.
  Status Run();
  // Steps through the result rows, calling `on_row()` at each; a false
  // from it stops early (the statement is then not done).
  template <typename OnRow>
  Status ForEachRow(OnRow on_row);
  // Ready to step again from the start; the bindings stay until rebound.
  void Reset();

  // Rows the last Run() changed (sqlite3_changes).
  int64_t Changes() const;
  // The rowid the last INSERT assigned on this connection.
  int64_t LastInsertRowId() const;

  // Columns of the current row, numbered from 0. Text and Blob of NULL
  // are empty.
  int64_t Int(int column) const;
  double Real(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;

 private:
  void CheckBind(int rc);
  Status Failure() const;

  sqlite3* db_;
  const std::string& context_;
  std::string what_;
  sqlite3_stmt* stmt_ = nullptr;
  Status status_;
};

template <typename OnRow>
Status SqliteStatement::ForEachRow(OnRow on_row) {
  for (;;) {
    bool has_row = false;
    if (Status st = Step(&has_row); !st.ok()) return st;
    if (!has_row || !on_row()) return Status::Ok();
  }
}

}  // namespace anchord::daemon
