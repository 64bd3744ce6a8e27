// Opening a catalog: the connection, the writer's journal and durability,
// and the schema check (or its creation in a new file).

#include "daemon/catalog/catalog_impl.h"
#include "daemon/catalog/catalog_schema.h"

namespace anchord::daemon {
namespace {

// How long a statement waits for a lock held by another connection (the
// writer's checkpoint, a second writer) before it fails with SQLITE_BUSY.
constexpr int kBusyTimeoutMs = 5000;

// SQL anchord_missed(id, x_nm, y_nm): 1 when the defect counts as missed
// by the frame under test (IsMissed), else 0 (also outside MarkMissed()).
// User data: the Impl's `const FrameCoverage*` slot.
void MissedFunction(sqlite3_context* context, int, sqlite3_value** args) {
  const auto* slot =
      static_cast<const FrameCoverage* const*>(sqlite3_user_data(context));
  const FrameCoverage* coverage = *slot;
  const Vec2 p(sqlite3_value_double(args[1]), sqlite3_value_double(args[2]));
  const bool missed = coverage != nullptr &&
                      IsMissed(*coverage, sqlite3_value_int64(args[0]), p);
  sqlite3_result_int(context, missed ? 1 : 0);
}

}  // namespace

DefectCatalog::Impl::Impl(const CatalogOptions& catalog_options)
    : options(catalog_options), context("catalog " + catalog_options.path) {}

DefectCatalog::Impl::~Impl() {
  statements.reset();
  if (db != nullptr) sqlite3_close_v2(db);
}

Status DefectCatalog::Impl::QueryInt(const std::string& sql,
                                     std::string_view what,
                                     int64_t* value) {
  SqliteStatement s = Statement(sql, what);
  if (Status st = s.StepToRow(); !st.ok()) return st;
  *value = s.Int(0);
  return Status::Ok();
}

Status DefectCatalog::Impl::OpenDatabase() {
  const int flags = options.read_only
                        ? SQLITE_OPEN_READONLY
                        : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (sqlite3_open_v2(options.path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    return Error(options.read_only ? "open read-only" : "open");
  }
  statements = std::make_unique<StatementCache>(db, context);
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  // DIRECTONLY: callable from our statements, never from the schema.
  if (sqlite3_create_function_v2(
          db, "anchord_missed", 3, SQLITE_UTF8 | SQLITE_DIRECTONLY, &coverage,
          MissedFunction, nullptr, nullptr, nullptr) != SQLITE_OK) {
    return Error("register anchord_missed()");
  }
  if (!options.read_only) {
    if (Status st = ConfigureWriter(); !st.ok()) return st;
  }
  return CheckSchema();
}

// WAL: readers (the query connection) never block the writer nor see a
// half-written transaction, and a commit is one append to the log.
//
// synchronous = FULL: every COMMIT fsyncs the WAL. NORMAL (no fsync until
// a checkpoint) would already survive any process crash — a committed WAL
// frame is in the kernel's page cache once write() returned, so kill -9 /
// abort / OOM kill lose nothing — but an OS crash or power loss could then
// roll back the last commits, and with them the AUTOINCREMENT counter: ids
// the daemon already published would be handed out again. FULL closes
// that for one fsync per frame: measured +1-2 ms on a ~6 ms commit (50
// observations, 10k-defect session, ext4 VM disk), against frame periods
// of seconds.
Status DefectCatalog::Impl::ConfigureWriter() {
  SqliteStatement s = Statement("PRAGMA journal_mode = WAL", "set WAL journal");
  if (Status st = s.StepToRow(); !st.ok()) return st;
  const std::string mode = s.Text(0);
  // An in-memory database (path ":memory:", for tests and demos that need
  // no persistence) keeps its "memory" journal.
  if (mode != "wal" && !(options.path == ":memory:" && mode == "memory")) {
    return Status::Internal(
        context + ": the file system refuses a WAL journal (" + mode + ")");
  }
  return Exec("PRAGMA synchronous = FULL", "set synchronous");
}

// A new file (no version, no application id) gets the schema when
// writable; otherwise the file must be an anchord catalog of this version.
Status DefectCatalog::Impl::CheckSchema() {
  int64_t version = 0, application_id = 0;
  if (Status st =
          QueryInt("PRAGMA user_version", "PRAGMA user_version", &version);
      !st.ok()) {
    return st;
  }
  if (Status st = QueryInt("PRAGMA application_id", "PRAGMA application_id",
                           &application_id);
      !st.ok()) {
    return st;
  }
  if (version == 0 && application_id == 0) {
    if (options.read_only) {
      return Status::InvalidInput(context +
                                  ": no catalog schema (open it for writing "
                                  "once to create it)");
    }
    return CreateSchema();
  }
  if (application_id != kCatalogApplicationId) {
    return Status::InvalidInput(context +
                                ": not an anchord catalog (application_id " +
                                std::to_string(application_id) + ")");
  }
  if (version != kCatalogSchemaVersion) {
    return Status::InvalidInput(
        context + ": schema version " + std::to_string(version) +
        ", this build reads version " + std::to_string(kCatalogSchemaVersion));
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
  if (Status st =
          QueryInt("PRAGMA user_version", "PRAGMA user_version", &version);
      !st.ok()) {
    return fail(st);
  }
  if (Status st = QueryInt("SELECT COUNT(*) FROM sqlite_schema", "count tables",
                           &tables);
      !st.ok()) {
    return fail(st);
  }
  if (version != 0) {
    return fail(version == kCatalogSchemaVersion
                    ? Status::Ok()
                    : Status::InvalidInput(context + ": schema version " +
                                           std::to_string(version)));
  }
  if (tables != 0) {
    return fail(Status::InvalidInput(
        context +
        ": not an anchord catalog (an SQLite database with other tables)"));
  }
  if (Status st = Exec(kCatalogSchemaSql, "create schema"); !st.ok()) {
    return fail(st);
  }
  const std::string pragmas =
      "PRAGMA application_id = " + std::to_string(kCatalogApplicationId) +
      "; PRAGMA user_version = " + std::to_string(kCatalogSchemaVersion);
  if (Status st = Exec(pragmas.c_str(), "set schema version"); !st.ok()) {
    return fail(st);
  }
  if (Status st = Exec("COMMIT", "create schema: commit"); !st.ok()) {
    return fail(st);
  }
  return Status::Ok();
}

}  // namespace anchord::daemon
