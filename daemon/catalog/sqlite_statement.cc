#include "daemon/catalog/sqlite_statement.h"

#include <sstream>

namespace anchord::daemon {

Status SqliteError(sqlite3* db,
                   std::string_view context,
                   std::string_view what) {
  std::ostringstream s;
  s << context << ": " << what << ": "
    << (db ? sqlite3_errmsg(db) : "out of memory");
  if (db) s << " (sqlite code " << sqlite3_extended_errcode(db) << ")";
  return Status::Internal(s.str());
}

Status SqliteExec(sqlite3* db,
                  const char* sql,
                  std::string_view context,
                  std::string_view what) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return SqliteError(db, context, what);
  }
  return Status::Ok();
}

StatementCache::StatementCache(sqlite3* db, std::string context)
    : db_(db), context_(std::move(context)) {}

sqlite3_stmt* StatementCache::Get(const std::string& sql,
                                  std::string_view what,
                                  Status* status) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second.get();
  sqlite3_stmt* stmt = nullptr;
  const int rc =
      sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()) + 1,
                         SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK || stmt == nullptr) {
    sqlite3_finalize(stmt);
    *status = SqliteError(db_, context_, std::string(what) + " (prepare)");
    return nullptr;
  }
  statements_.emplace(sql, std::unique_ptr<sqlite3_stmt, Finalize>(stmt));
  return stmt;
}

SqliteStatement::SqliteStatement(StatementCache& cache,
                                 const std::string& sql,
                                 std::string_view what)
    : db_(cache.db()), context_(cache.context()), what_(what) {
  stmt_ = cache.Get(sql, what, &status_);
}

SqliteStatement::~SqliteStatement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

void SqliteStatement::CheckBind(int rc) {
  if (rc != SQLITE_OK && status_.ok()) {
    status_ = SqliteError(db_, context_, what_ + " (bind)");
  }
}

void SqliteStatement::Bind(int index, int64_t value) {
  if (stmt_) CheckBind(sqlite3_bind_int64(stmt_, index, value));
}

void SqliteStatement::Bind(int index, int value) {
  if (stmt_) CheckBind(sqlite3_bind_int(stmt_, index, value));
}

void SqliteStatement::Bind(int index, double value) {
  if (stmt_) CheckBind(sqlite3_bind_double(stmt_, index, value));
}

void SqliteStatement::Bind(int index, const std::string& text) {
  if (!stmt_) return;
  CheckBind(sqlite3_bind_text64(stmt_, index, text.data(), text.size(),
                                SQLITE_STATIC, SQLITE_UTF8));
}

void SqliteStatement::BindBlob(int index, const std::string& bytes) {
  if (!stmt_) return;
  // A non-null pointer keeps an empty blob a zero-length BLOB, not NULL.
  static const char kEmpty = 0;
  CheckBind(sqlite3_bind_blob64(stmt_, index,
                                bytes.empty() ? &kEmpty : bytes.data(),
                                bytes.size(), SQLITE_STATIC));
}

Status SqliteStatement::Failure() const {
  return SqliteError(db_, context_, what_);
}

Status SqliteStatement::Step(bool* has_row) {
  *has_row = false;
  if (!status_.ok()) return status_;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    *has_row = true;
    return Status::Ok();
  }
  if (rc == SQLITE_DONE) return Status::Ok();
  return Failure();
}

Status SqliteStatement::StepToRow() {
  bool has_row = false;
  if (Status st = Step(&has_row); !st.ok()) return st;
  if (!has_row) {
    return Status::Internal(context_ + ": " + what_ + ": no result row");
  }
  return Status::Ok();
}

Status SqliteStatement::Run() {
  bool has_row = false;
  if (Status st = Step(&has_row); !st.ok()) return st;
  if (has_row) {
    return Status::Internal(context_ + ": " + what_ +
                            ": returned rows where none were expected");
  }
  return Status::Ok();
}

void SqliteStatement::Reset() {
  if (stmt_) sqlite3_reset(stmt_);
}

int64_t SqliteStatement::Changes() const { return sqlite3_changes64(db_); }

int64_t SqliteStatement::LastInsertRowId() const {
  return sqlite3_last_insert_rowid(db_);
}

int64_t SqliteStatement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

double SqliteStatement::Real(int column) const {
  return sqlite3_column_double(stmt_, column);
}

std::string SqliteStatement::Text(int column) const {
  const auto* text =
      reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  return text ? std::string(text, sqlite3_column_bytes(stmt_, column))
              : std::string();
}

std::string SqliteStatement::Blob(int column) const {
  const auto* blob =
      static_cast<const char*>(sqlite3_column_blob(stmt_, column));
  return blob ? std::string(blob, sqlite3_column_bytes(stmt_, column))
              : std::string();
}

}  // namespace anchord::daemon
