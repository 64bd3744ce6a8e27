#include "daemon/serve/track_service.h"

#include "daemon/common/clock.h"
#include "daemon/common/session_name.h"
#include "daemon/config/config.h"
#include "daemon/serve/queries.h"
#include "daemon/wire/tracker_state_codec.h"
#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>

namespace anchord::daemon {
namespace {

// How long a query waits for the frame being tracked (one frame's track
// and commit take milliseconds; longer means a stuck or very slow stage,
// and the I/O thread must not wait for it).
constexpr auto kQueryWait = std::chrono::milliseconds(250);

Status Busy() {
  return Status::Internal(
      "query: the tracker is busy with a frame (longer than " +
      std::to_string(kQueryWait.count()) + " ms); try again");
}

DefectObservation ToObservation(const TrackedDefect& d) {
  DefectObservation o;
  o.kind = d.kind == TrackedDefectKind::kVacancy ? DefectKind::kVacancy
                                                 : DefectKind::kOffLattice;
  o.i = d.i;
  o.j = d.j;
  o.site = d.site;
  o.session_nm = d.session_nm;
  o.sigma_nm = d.sigma_nm;
  return o;
}

}  // namespace

std::shared_ptr<TrackService> TrackService::Open(const DaemonConfig& config,
                                                 Status* status) {
  std::unique_ptr<DefectCatalog> catalog =
      DefectCatalog::Open(config.catalog.OpenOptions(), status);
  if (!catalog) return nullptr;
  auto service =
      std::shared_ptr<TrackService>(new TrackService(std::move(catalog)));
  service->set_state_interval(
      std::chrono::duration<double>(config.catalog.state_interval_s));
  return service;
}

TrackService::TrackService(std::unique_ptr<DefectCatalog> catalog)
    : catalog_(std::move(catalog)), model_(MakeSi7x7Model()) {}

TrackService::Session& TrackService::SessionFor(const std::string& name,
                                                const TrackOptions& options) {
  auto [it, fresh] = sessions_.try_emplace(name);
  Session& s = it->second;
  if (!fresh) return s;
  s.tracker = std::make_unique<SessionTracker>(options, model_);
  std::string state;
  const Status loaded = catalog_->LoadTrackerState(name, &state);
  if (!loaded.ok()) {
    spdlog::error("[track] session '{}': cannot read its stored state: {}",
                  name, loaded.message());
  } else if (!state.empty()) {
    // TrackerState bytes, or the text of a version before them.
    SessionTrackerState stored;
    Status restored = ReadStoredTrackerState(state, &stored);
    if (restored.ok()) restored = s.tracker->RestoreState(stored);
    if (restored.ok()) {
      spdlog::info("[track] session '{}' resumed: {} frames placed before",
                   name, s.tracker->frames_placed());
    } else {
      // A new session frame under the old name would file new sightings
      // against defects catalogued in the old frame: refuse instead.
      s.broken = "session '" + name +
                 "': its stored tracker state is unusable (" +
                 restored.message() +
                 "); frames of this session are not placed — use a new "
                 "session name";
      spdlog::error("[track] {}", s.broken);
    }
  }
  return s;
}

Vec2 TrackService::PixelOf(const Session& s, const Vec2& session_nm) const {
  const Vec2 model_nm = Apply(s.session_from_model.inverse(), session_nm);
  return Apply(s.image_from_model, model_nm);
}

TrackOutcome TrackService::Process(const InboundFrame& in,
                                   uint64_t sequence,
                                   const FrameResult* result,
                                   const TrackOptions& options) {
  std::lock_guard lock(mutex_);
  Session& s = SessionFor(in.session, options);
  s.last_used = ++use_counter_;
  EvictIdle(in.session);
  FrameResult not_registered;
  if (result == nullptr) {
    not_registered.status = Status::NoLattice("the frame was not registered");
  }
  // Frames are tracked in acquisition order; one overtaken by a later frame
  // (the reorder buffer gave up waiting for it) or of a broken session is
  // answered unplaced.
  std::string refuse = s.broken;
  if (refuse.empty() && s.last_sequence && sequence < *s.last_sequence) {
    refuse = "arrived after a later frame of its session (sequence " +
             std::to_string(*s.last_sequence) + "); not tracked";
  }
  if (!refuse.empty()) {
    TrackResult refused;
    refused.placement.message = refuse;
    refused.drift.message = refuse;
    TrackOutcome out;
    out.drift = MakeDriftEstimate(in, sequence, refused);
    return out;
  }
  s.last_sequence = sequence;
  const double ssim_reference = s.tip.reference();
  const bool tip_change =
      result != nullptr && result->status.ok() && result->quality.status.ok() &&
      result->quality.cells > 0 && s.tip.Update(result->quality.ssim);
  TrackResult track =
      s.tracker->Track(in.frame, result ? *result : not_registered);
  s.state_dirty = true;
  TrackOutcome out;
  out.drift = MakeDriftEstimate(in, sequence, track);
  if (!track.placement.placed) {
    AlignUnplaced(s, in, &track, &out.drift, sequence);
  }
  out.drift.set_tip_change(tip_change);
  out.drift.set_ssim_reference(ssim_reference);
  if (static_cast<int64_t>(in.frame.image.total()) <= kMaxAlignPixels) {
    s.previous = in.frame;
    s.previous_frame_id = in.frame_id;
  } else {
    s.previous.reset();
  }
  s.drift = out.drift;
  s.has_drift = true;
  if (!track.placement.placed) return out;

  CatalogUpdate update;
  update.session = in.session;
  update.frame_id = in.frame_id;
  update.time_unix_ns =
      in.acquired_unix_ns != 0 ? in.acquired_unix_ns : NowUnixNs();
  update.footprint_nm = track.footprint_session_nm;
  update.undecided_nm = track.undecided_session_nm;
  for (const TrackedDefect& d : track.defects) {
    update.observations.push_back(ToObservation(d));
  }
  const auto now = std::chrono::steady_clock::now();
  update.store_tracker_state =
      !s.state_stored || now - *s.state_stored >= state_interval_;
  if (update.store_tracker_state) {
    update.tracker_state = EncodeTrackerState(s.tracker->ExportState());
  }
  std::vector<DefectRecord> records;
  out.status = catalog_->Commit(update, &records);
  NoteCatalogEvictions();
  if (!out.status.ok()) return out;
  if (update.store_tracker_state) {
    s.state_stored = now;
    s.state_dirty = false;
  }
  s.last_time_unix_ns = update.time_unix_ns;

  s.placed = true;
  s.frame_id = in.frame_id;
  s.sequence = sequence;
  s.image_from_model = result->image_from_model;
  s.session_from_model = track.placement.session_from_model;
  latest_session_ = in.session;

  out.has_defects = true;
  out.defects.set_frame_id(in.frame_id);
  out.defects.set_sequence(sequence);
  out.defects.set_session(in.session);
  for (size_t k = 0; k < records.size() && k < track.defects.size(); ++k) {
    SetDefect(records[k], track.defects[k].p_px, out.defects.add_defects());
  }
  return out;
}

void TrackService::AlignUnplaced(Session& s,
                                 const InboundFrame& in,
                                 TrackResult* track,
                                 v1::DriftEstimate* drift,
                                 uint64_t sequence) {
  if (!s.previous || s.previous->image.size() != in.frame.image.size()) return;
  // Drift needs time between the two frames: without it the alignment is
  // not worth its cost (frames without acquisition times, resent frames).
  if (!(s.previous->acquired_unix_s > 0) ||
      !(in.frame.acquired_unix_s > s.previous->acquired_unix_s)) {
    return;
  }
  const std::optional<AlignPrior> prior =
      s.tracker->PredictShift(*s.previous, in.frame);
  AlignOptions options;
  options.smoothing_px = kAlignSmoothingPx;
  const AlignResult alignment =
      AlignFrames(*s.previous, in.frame, options, prior ? &*prior : nullptr);
  TrackResult aligned =
      s.tracker->TrackAligned(*s.previous, in.frame, alignment);
  const std::string why = track->placement.message;
  *track = std::move(aligned);
  track->placement.message = why + "; " + track->placement.message;
  *drift = MakeDriftEstimate(in, sequence, *track);
  if (track->drift.source == DriftSource::kAlignment) {
    drift->set_aligned_to_frame_id(s.previous_frame_id);
    drift->set_alignment_shift_x_px(alignment.translation_px.x());
    drift->set_alignment_shift_y_px(alignment.translation_px.y());
  }
}

void TrackService::EvictIdle(const std::string& current) {
  while (sessions_.size() > kMaxLiveSessions) {
    auto oldest = sessions_.end();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->first == current) continue;
      if (oldest == sessions_.end() ||
          it->second.last_used < oldest->second.last_used) {
        oldest = it;
      }
    }
    if (oldest == sessions_.end()) return;
    Session& s = oldest->second;
    if (s.state_dirty && s.broken.empty() && s.tracker->frames_placed() > 0) {
      CatalogUpdate update;
      update.session = oldest->first;
      update.frame_id = s.frame_id;
      update.time_unix_ns = s.last_time_unix_ns;
      update.tracker_state = EncodeTrackerState(s.tracker->ExportState());
      std::vector<DefectRecord> none;
      const Status stored = catalog_->Commit(update, &none);
      NoteCatalogEvictions();
      if (!stored.ok()) {
        spdlog::error(
            "[track] session '{}' kept in memory: its state could "
            "not be stored: {}",
            oldest->first, stored.message());
        return;
      }
    }
    if (latest_session_ == oldest->first) latest_session_.clear();
    sessions_.erase(oldest);
    trackers_evicted_.fetch_add(1, std::memory_order_relaxed);
  }
}

void TrackService::NoteCatalogEvictions() {
  const CatalogEvictions e = catalog_->evictions();
  catalog_sessions_evicted_.store(e.sessions, std::memory_order_relaxed);
  catalog_defects_evicted_.store(e.defects, std::memory_order_relaxed);
}

TrackService::Evictions TrackService::evictions() const {
  Evictions e;
  e.catalog_sessions =
      catalog_sessions_evicted_.load(std::memory_order_relaxed);
  e.catalog_defects = catalog_defects_evicted_.load(std::memory_order_relaxed);
  e.trackers = trackers_evicted_.load(std::memory_order_relaxed);
  return e;
}

const TrackService::Session* TrackService::Find(const std::string& name,
                                                std::string* resolved) const {
  *resolved = name.empty() ? latest_session_ : name;
  auto it = sessions_.find(*resolved);
  return it == sessions_.end() ? nullptr : &it->second;
}

Status TrackService::FindDefects(const v1::QueryRequest::FindDefects& query,
                                 int64_t max_results,
                                 v1::Defects* out) const {
  std::unique_lock lock(mutex_, kQueryWait);
  if (!lock.owns_lock()) return Busy();
  std::string session;
  const Session* s = Find(query.session(), &session);
  const bool placed = s != nullptr && s->placed;
  if (!placed) {
    // A session catalogued before a restart is answered without pixel
    // positions until one of its frames is placed again.
    int64_t count = 0;
    if (session.empty() || !catalog_->Count(session, &count).ok() ||
        count == 0) {
      return Status::InvalidInput(
          session.empty() ? "query: no frame has been placed yet"
                          : "query: no defect catalogued for session " +
                                SanitizedForLog(session));
    }
  }
  std::vector<DefectRecord> records;
  const Status found =
      catalog_->Find(ToDefectQuery(query, session, max_results), &records);
  if (!found.ok()) return found;
  out->set_frame_id(placed ? s->frame_id : 0);
  out->set_sequence(placed ? s->sequence : 0);
  out->set_session(session);
  const Vec2 unknown(std::numeric_limits<double>::quiet_NaN(),
                     std::numeric_limits<double>::quiet_NaN());
  for (const DefectRecord& r : records) {
    SetDefect(r, placed ? PixelOf(*s, r.session_nm) : unknown,
              out->add_defects());
  }
  return Status::Ok();
}

Status TrackService::LatestDrift(const std::string& name,
                                 v1::DriftEstimate* out) const {
  std::unique_lock lock(mutex_, kQueryWait);
  if (!lock.owns_lock()) return Busy();
  std::string session;
  const Session* s = Find(name, &session);
  if (s == nullptr || !s->has_drift) {
    return Status::InvalidInput(
        session.empty()
            ? "query: no frame has been tracked yet"
            : "query: no frame of session " + SanitizedForLog(session) +
                  " has been tracked since the daemon started");
  }
  *out = s->drift;
  return Status::Ok();
}

}  // namespace anchord::daemon
