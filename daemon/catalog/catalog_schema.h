#pragma once

// The catalog's SQLite schema: its version and application id, the
// tables and indices, and how a defect row is read from and bound to a
// statement.

#include "daemon/catalog/defect_matching.h"
#include "daemon/catalog/sqlite_statement.h"

namespace anchord::daemon {

// PRAGMA user_version of kCatalogSchemaSql; Open() refuses any other.
inline constexpr int kCatalogSchemaVersion = 1;
// PRAGMA application_id of an anchord catalog ("ANCD"), so that Open()
// tells a catalog from an unrelated SQLite file.
inline constexpr int kCatalogApplicationId = 0x414E4344;

// The tables and indices of a new catalog (see the definition for what
// each column holds).
extern const char* const kCatalogSchemaSql;

// The columns a DefectRow is read from, in ReadDefectRow() order.
#define ANCHORD_CATALOG_COLUMNS                                       \
  "id, session, kind, i, j, site, x_nm, y_nm, sigma_nm, first_seen, " \
  "last_seen, times_seen, times_observed, last_frame_id, changed, "   \
  "m2_nm2, var_sum_nm2, ref_x_nm, ref_y_nm"

// The current row of `s`, selected as ANCHORD_CATALOG_COLUMNS.
DefectRow ReadDefectRow(const SqliteStatement& s);

// Binds the row's mutable state, x_nm … ref_y_nm in ANCHORD_CATALOG_COLUMNS
// order, to parameters first, first + 1, … first + 12.
void BindDefectRowState(int first, const DefectRow& row, SqliteStatement* s);

}  // namespace anchord::daemon
