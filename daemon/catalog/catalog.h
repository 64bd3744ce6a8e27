#pragma once

// The persistent defect catalog: every vacancy and off-lattice feature the
// tracker (anchord/track/session_tracker.h) placed in a session's sample
// frame, with a persistent id, in an embedded SQLite database that survives
// a daemon restart and a kill -9.
//
// Durability: every frame's update is one transaction (WAL journal). A
// transaction that Commit() returned from is on disk for any later reader,
// whatever happens to the process afterwards (kill -9 included), and it is
// fsynced (synchronous = FULL), so an OS crash or power loss cannot take it
// back either; the daemon publishes a frame's defects only after its
// Commit() returned. The tracker's state blob, when an update carries it,
// is written in the same transaction: the stored state never refers to
// defects the catalog lacks. (The daemon stores it at most every
// catalog.state_interval_s, so after a crash the session resumes from a
// state up to that old; the defects of later frames are all there and are
// found again by their session keys and positions.)
//
// Time: every time in the catalog (first/last seen, changed, the age
// retention, the order of Sessions() and of session evictions) is the
// frames' acquisition time (CatalogUpdate::time_unix_ns), not the wall
// clock, so a replayed run gives the same catalog.
//
// Size: retention bounds each session (max_defects_per_session,
// max_age_s), and the global bounds (max_sessions, max_defects_total)
// evict whole sessions, the least recently committed first, so a stream of
// ever-new session names cannot grow the catalog without end. SQLite
// reuses the pages of deleted rows: the file stays at its high-water mark.
//
// Threading: not thread-safe. The daemon's TrackService serialises the
// ordered track stage (writes) and the query handler (reads) on one
// instance with its own mutex; a separate read-only instance on the same
// file (read_only) may run in another thread or process.

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace anchord::daemon {

enum class DefectKind {
  kVacancy = 1,     // a missing adatom at a lattice site
  kOffLattice = 2,  // a feature off the adatom sites (adsorbate, cluster)
};
const char* DefectKindName(DefectKind kind);  // "vacancy" | "off_lattice"

struct CatalogOptions {
  // SQLite database file; created with its schema when missing. Required.
  // ":memory:" keeps the catalog in memory (nothing persists).
  std::string path;
  // Retention: at most this many defects per session; when a commit
  // exceeds it, the defects last seen longest ago are deleted first.
  // Default 1,000,000; >= 1.
  int64_t max_defects_per_session = 1000000;
  // Retention: defects not seen for longer than this are deleted at the
  // next commit of their session, s; 0 = keep regardless of age. Default
  // 0; >= 0.
  double max_age_s = 0;
  // An off-lattice observation within this distance of a known
  // off-lattice defect of the session is that defect (the nearest one when
  // several are), nm. Half of it is also the move of a defect's mean
  // position that counts as a change (DefectRecord::changed_unix_ns).
  // Default 0.4; finite, > 0.
  double match_radius_nm = 0.4;
  // Open read-only (queries); the file must exist. Default false.
  bool read_only = false;
  // Global bound: at most this many sessions in the catalog. When a commit
  // brings a new session beyond it, whole sessions are evicted, the one
  // whose latest commit has the oldest frame time first (ties by name),
  // never the committing session. Default 1000; >= 1.
  int64_t max_sessions = 1000;
  // Global bound: at most this many defects over all sessions. When a
  // commit leaves more, whole sessions are evicted in the same order until
  // the total fits or only the committing session is left (which
  // max_defects_per_session bounds). Default 10,000,000; >= 1.
  int64_t max_defects_total = 10000000;

  // kOk, or kInvalidInput listing every violated constraint, one per line:
  // "catalog.max_age_s = -1. Violated constraint: >= 0".
  Status Validate() const;
};

// What the global bounds (max_sessions, max_defects_total) removed since
// the catalog was opened, counting committed transactions only.
struct CatalogEvictions {
  int64_t sessions = 0;  // whole sessions: their defects and tracker state
  int64_t defects = 0;   // the defects those sessions held
};

// One defect as one frame saw it, placed in the session frame.
struct DefectObservation {
  DefectKind kind = DefectKind::kVacancy;
  // Vacancies: the session cell and the index into the model's basis
  // sites (the identity of the defect). Ignored for off-lattice features.
  int i = 0, j = 0, site = 0;
  Vec2 session_nm = Vec2::Zero();  // position in the session frame, nm
  double sigma_nm = 0;             // its one-sigma uncertainty, nm
};

// One frame's contribution to a session's catalog.
struct CatalogUpdate {
  // A valid session name (daemon/common/session_name.h: 1 to 128 bytes of
  // ASCII letters, digits and ._-:/@+).
  std::string session;
  uint64_t frame_id = 0;
  int64_t time_unix_ns = 0;  // the frame's acquisition time
  // Where a defect would have been seen in this frame: a convex polygon
  // in session nm (the frame footprint shrunk by the border where sites
  // are not classified), counter-clockwise or clockwise. Catalogued
  // defects inside it that are not in `observations` count as observed
  // but not seen.
  std::vector<Vec2> footprint_nm;
  // Places inside the footprint the frame could not classify (sites of low
  // confidence), session nm: a catalogued defect within 0.05 nm of one
  // does not count as observed.
  std::vector<Vec2> undecided_nm;
  std::vector<DefectObservation> observations;
  // The tracker's serialised state after this frame (opaque bytes, NULs
  // allowed: bound as a BLOB; the daemon stores anchord.v1.TrackerState,
  // daemon/wire/tracker_state_codec.h), stored with
  // the update when store_tracker_state; otherwise the session keeps the
  // state stored last (the caller saves it only every few seconds when
  // frames come fast).
  std::string tracker_state;
  bool store_tracker_state = true;
};

// One catalogued defect.
struct DefectRecord {
  int64_t id = 0;  // unique in the database, never reused
  std::string session;
  DefectKind kind = DefectKind::kVacancy;
  int i = 0, j = 0, site = -1;     // site = -1 for off-lattice features
  Vec2 session_nm = Vec2::Zero();  // mean position over sightings, nm
  double sigma_nm = 0;             // one-sigma uncertainty of that mean
  int64_t first_seen_unix_ns = 0;
  int64_t last_seen_unix_ns = 0;
  int64_t times_seen = 0;      // frames that saw it
  int64_t times_observed = 0;  // frames that saw it or whose footprint held it
  uint64_t last_frame_id = 0;
  // Time of the update that last changed what a client of the catalog
  // cares about: the defect appeared (record created), disappeared (an
  // observed-but-not-seen frame turned it inactive), reappeared (a
  // sighting turned it active again), or moved (its mean position is more
  // than match_radius_nm / 2 from where it was at the previous change).
  // Routine sightings of a defect that stays put and active do not change
  // it, so DefectQuery::changed_since_unix_ns returns only news. Defects
  // deleted by retention simply vanish (no tombstones).
  int64_t changed_unix_ns = 0;
  // Seen in more than half of the frames that observed it. Queries
  // return active defects unless asked for all.
  bool active() const { return 2 * times_seen > times_observed; }
};

// A query on one session's defects. Filters combine with AND.
struct DefectQuery {
  std::string session;
  std::optional<DefectKind> kind;  // unset: any kind
  // Axis-aligned rectangle [lo, hi] in session nm (closed).
  std::optional<std::pair<Vec2, Vec2>> rect_nm;
  // Disc: centre and radius in session nm (closed).
  std::optional<std::pair<Vec2, double>> disc_nm;
  // Only records with changed_unix_ns > this.
  std::optional<int64_t> changed_since_unix_ns;
  // Nearest-first to this point, at most `limit` results; without it the
  // results are ordered by id.
  std::optional<Vec2> nearest_to_nm;
  int64_t limit = 1000;  // >= 1
  bool include_inactive = false;
};

class DefectCatalog {
 public:
  // Opens (creating when allowed) the database; checks the schema version.
  // nullptr with kInvalidInput for bad options or a file that is not an
  // anchord catalog of this version, kInternal when SQLite fails (missing
  // file when read-only, not a database, I/O error); never throws.
  static std::unique_ptr<DefectCatalog> Open(const CatalogOptions& options,
                                             Status* status);
  ~DefectCatalog();
  DefectCatalog(const DefectCatalog&) = delete;
  DefectCatalog& operator=(const DefectCatalog&) = delete;

  // Applies one frame's update in one transaction and fills `records`
  // with the record of every observation, in order (ids assigned), as it
  // stands after the update. Vacancies are identified by (i, j, site),
  // off-lattice features by position (match_radius_nm). Observations of
  // one frame that map to the same record are one sighting (their mean
  // position). Then retention runs (age, then count; this frame's records
  // are the most recently seen, so they go last), the session's row is
  // written (its latest frame time, and the tracker state when the update
  // stores it), and the global bounds evict whole other sessions
  // (CatalogOptions::max_sessions, max_defects_total; see evictions()). A
  // session evicted while its tracker is still live starts over in the
  // catalog with its next commit: its defects get new ids.
  // kInvalidInput for a malformed update (an invalid session name, a
  // non-finite number, a negative sigma or vacancy site, an unknown kind)
  // or a read-only catalog, and kInternal when SQLite fails; in both cases
  // nothing of the update is stored and `records` is left empty.
  Status Commit(const CatalogUpdate& update,
                std::vector<DefectRecord>* records);
  // The defects matching `query`. kInvalidInput for limit < 1, a negative
  // disc radius or a non-finite number; kInternal when SQLite fails.
  Status Find(const DefectQuery& query,
              std::vector<DefectRecord>* records) const;
  // The tracker state stored with the session's latest update; empty when
  // the session is unknown (or evicted) or none was stored yet.
  Status LoadTrackerState(const std::string& session, std::string* state) const;
  // The sessions in the catalog (every commit records its session), the
  // one with the newest latest frame time first; ties by name.
  Status Sessions(std::vector<std::string>* sessions) const;
  // Number of defects of a session (active or not).
  Status Count(const std::string& session, int64_t* count) const;
  // PRAGMA integrity_check == "ok".
  Status CheckIntegrity() const;
  // Sessions and defects the global bounds evicted since Open().
  CatalogEvictions evictions() const;
  // The database's size, bytes: page_count × page_size, free pages
  // included (the file's size once the WAL is checkpointed; until then the
  // WAL file comes on top). For ":memory:", the memory its pages take.
  Status SizeBytes(int64_t* bytes) const;

 private:
  struct Impl;
  explicit DefectCatalog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace anchord::daemon
