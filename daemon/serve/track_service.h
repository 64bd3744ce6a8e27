#pragma once

#include "anchord/quality/image_quality.h"

// Cross-frame state of the daemon: one SessionTracker per
// session, the persistent defect catalog, and what queries need of them.
//
// Writes come from the ordered track stage (one frame at a time, in frame
// order); reads from the I/O thread's query handler. One mutex guards
// everything; both sides hold it briefly (a frame's tracking and catalog
// commit take a few ms).
//
// Restart: a session's tracker state is committed with a frame's defects
// in one catalog transaction (at most every catalog.state_interval_s); the
// first frame of a session after a restart restores it, so the session
// frame, the drift fit and every defect id carry over. Memory stays
// bounded over days of sessions: at most kMaxLiveSessions trackers are
// kept, an idle one is evicted after its state is stored and restored the
// same way when its session returns.

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/track/session_tracker.h"
#include "anchord/util/status.h"
#include "anchord/v1/anchord.pb.h"

#include "daemon/catalog/catalog.h"
#include "daemon/wire/results.h"
#include "daemon/wire/wire.h"

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace anchord::daemon {

struct DaemonConfig;

// What the track stage publishes for one frame.
struct TrackOutcome {
  v1::DriftEstimate drift;
  bool has_defects = false;  // the frame was placed
  v1::Defects defects;
  Status status;  // kInternal when the catalog commit failed
};

class TrackService {
 public:
  // Opens the catalog of `config.catalog`. Null with `status` set when the
  // database cannot be opened.
  static std::shared_ptr<TrackService> Open(const DaemonConfig& config,
                                            Status* status);

  // The state of a session is committed with a frame's defects when this
  // long has passed since it was last (0 = every frame).
  void set_state_interval(std::chrono::duration<double> interval) {
    state_interval_ = interval;
  }

  // Tracks one decoded frame: `result` is its registration (null when it
  // was not registered). The defects are committed to the catalog before
  // this returns. `options` come from the frame's configuration snapshot
  // (a changed [track] takes effect for sessions started afterwards).
  TrackOutcome Process(const InboundFrame& in,
                       uint64_t sequence,
                       const FrameResult* result,
                       const TrackOptions& options);

  // Query side. kInvalidInput when the session is unknown (or none was
  // placed yet); positions in px refer to the session's latest placed
  // frame.
  Status FindDefects(const v1::QueryRequest::FindDefects& query,
                     int64_t max_results,
                     v1::Defects* out) const;
  Status LatestDrift(const std::string& session, v1::DriftEstimate* out) const;

  // What was evicted since Open(); read from any thread without waiting
  // for the frame being tracked.
  struct Evictions {
    // Whole sessions (and the defects they held) the catalog's global
    // bounds removed (CatalogOptions::max_sessions, max_defects_total).
    int64_t catalog_sessions = 0;
    int64_t catalog_defects = 0;
    // Idle trackers dropped from memory beyond kMaxLiveSessions, their
    // state stored first (restored when the session sends again).
    int64_t trackers = 0;
  };
  Evictions evictions() const;

 private:
  struct Session {
    std::unique_ptr<SessionTracker> tracker;
    // The latest placed frame: model ↔ image and session ↔ model.
    bool placed = false;
    uint64_t frame_id = 0, sequence = 0;
    Mat3 image_from_model = Mat3::Identity();
    Mat3 session_from_model = Mat3::Identity();
    v1::DriftEstimate drift;
    bool has_drift = false;
    // Not empty when the session cannot be tracked (its stored state is
    // unusable): every frame is then reported unplaced with this reason.
    std::string broken;
    // The newest frame tracked (sequence); an older one arriving late
    // (published past by the reorder timeout) is not tracked.
    std::optional<uint64_t> last_sequence;
    // When the tracker state was last committed (never: nullopt).
    std::optional<std::chrono::steady_clock::time_point> state_stored;
    // Whether frames were tracked since the state was last committed, and
    // the latest frame's acquisition time.
    bool state_dirty = false;
    int64_t last_time_unix_ns = 0;
    // Last use, for evicting idle sessions.
    uint64_t last_used = 0;
    // The newest frame tracked (image shared, not copied) and its id: a
    // frame Track cannot place is aligned to it. Empty for frames larger
    // than kMaxAlignPixels.
    std::optional<Frame> previous;
    uint64_t previous_frame_id = 0;
    // The SSIM of the session's recent registered frames (tip changes).
    TipChangeMonitor tip;
  };

  explicit TrackService(std::unique_ptr<DefectCatalog> catalog);
  Session& SessionFor(const std::string& name, const TrackOptions& options);
  // Keeps at most kMaxLiveSessions trackers in memory: the least recently
  // used goes, after its state is committed (it is restored from the
  // catalog when its session sends frames again). `current` stays.
  void EvictIdle(const std::string& current);
  Vec2 PixelOf(const Session& s, const Vec2& session_nm) const;
  const Session* Find(const std::string& name, std::string* resolved) const;

  // Timed: a query waits at most kQueryWait for a frame being tracked.
  mutable std::timed_mutex mutex_;
  std::unique_ptr<DefectCatalog> catalog_;
  std::map<std::string, Session> sessions_;
  std::string latest_session_;
  std::chrono::duration<double> state_interval_{0.0};
  uint64_t use_counter_ = 0;
  // Evictions, copied from the catalog after each commit (under mutex_).
  std::atomic<int64_t> catalog_sessions_evicted_{0};
  std::atomic<int64_t> catalog_defects_evicted_{0};
  std::atomic<int64_t> trackers_evicted_{0};
  void NoteCatalogEvictions();
  static constexpr size_t kMaxLiveSessions = 16;
  // Frames up to this many pixels are kept for alignment (2048², 16 MiB of
  // float32: at most kMaxLiveSessions of them are held).
  static constexpr int64_t kMaxAlignPixels = int64_t{2048} * 2048;
  // Frames the tracker cannot place are often scanned with another tip
  // (blunter, changed) than the frame before: both are smoothed by this
  // Gaussian σ before they are aligned, px.
  static constexpr double kAlignSmoothingPx = 5.0;
  // Aligns an unplaced frame to the session's previous one and adds the
  // displacement to the drift (SessionTracker::TrackAligned); `track` is
  // replaced when the alignment gave anything. Skipped (nothing to gain)
  // unless both frames are timed and this one is the later.
  void AlignUnplaced(Session& s,
                     const InboundFrame& in,
                     TrackResult* track,
                     v1::DriftEstimate* drift,
                     uint64_t sequence);
  const LatticeModel model_;
};

}  // namespace anchord::daemon
