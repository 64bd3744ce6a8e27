#include "anchord/track/session_tracker.h"

#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include "track/frame_view.h"
#include "track/session_state.h"
#include "track/tracker_steps.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace anchord {
namespace {

using internal::CellI;
using internal::CellJ;
using internal::CellKey;
using internal::CellState;
using internal::kSitesPerCell;
using Limits = TrackerStateLimits;

}  // namespace

const char* PlacementMethodName(PlacementMethod m) {
  switch (m) {
    case PlacementMethod::kFirst:
      return "first";
    case PlacementMethod::kPrediction:
      return "prediction";
    case PlacementMethod::kCodes:
      return "codes";
  }
  return "first";
}

Status TrackOptions::Validate() const {
  Violations v("track");
  v.Merge(drift.Validate());
  ANCHORD_OPTION_GT(v, prior_velocity_sigma_nm_per_s, 0.0);
  ANCHORD_OPTION_GT(v, min_prediction_sigma_nm, 0.0);
  ANCHORD_OPTION_IN_CLOSED(v, max_search_cells, 1, 64);
  v.Require(max_frame_duration_s > 0 &&
                max_frame_duration_s <= Limits::kMaxFrameDurationS,
            "max_frame_duration_s", max_frame_duration_s, "in (0, 1e7]");
  ANCHORD_OPTION_IN_OPEN(v, min_confidence, 0.5, 1.0);
  ANCHORD_OPTION_IN_OPEN(v, site_error_rate, 0.0, 0.5);
  ANCHORD_OPTION_IN_CLOSED(v, min_site_confidence, 0.5, 1.0);
  ANCHORD_OPTION_GE(v, min_faulted_contrast, 0.0);
  ANCHORD_OPTION_GE(v, border_px, 0.0);
  static_assert(Limits::kMaxCells == 10000000);
  ANCHORD_OPTION_IN_CLOSED(v, max_session_cells, 16, 10000000);
  ANCHORD_OPTION_GT(v, feature_sigma_nm, 0.0);
  return v.ToStatus();
}

SessionTracker::SessionTracker(TrackOptions options, LatticeModel model)
    : options_(std::move(options)),
      model_(std::move(model)),
      state_(std::make_unique<internal::SessionState>()) {
  const Status valid = options_.Validate();
  ANCHORD_CHECK(valid.ok()) << valid.message();
  ANCHORD_CHECK(static_cast<int>(model_.sites.size()) <= kSitesPerCell)
      << "the tracker's site map holds at most 12 sites per cell";
  for (int r = 0; r < 6; ++r) {
    state_->symmetries.push_back(internal::MakeSymmetry(model_, r));
  }
}

SessionTracker::~SessionTracker() = default;
SessionTracker::SessionTracker(SessionTracker&&) noexcept = default;
SessionTracker& SessionTracker::operator=(SessionTracker&&) noexcept = default;

int SessionTracker::frames_seen() const { return state_->frames_seen; }
int SessionTracker::frames_placed() const { return state_->frames_placed; }
const DriftFit& SessionTracker::drift() const { return state_->fit; }

// The steps are in tracker_steps.h; each of the first three may end the
// frame unplaced, with the state as it was (frames_seen and t0 aside).
TrackResult SessionTracker::Track(const Frame& frame,
                                  const FrameResult& result) {
  internal::SessionState& st = *state_;
  ++st.frames_seen;
  TrackResult out;
  Placement& pl = out.placement;
  if (!result.status.ok()) {
    pl.message = "frame not registered: " + result.status.message();
    out.drift = internal::MakeDriftReport(st, nullptr);
    return out;
  }
  // Inputs the steps cannot use (times, scan geometry, a registration that
  // maps the frame to no finite model position) are refused before the
  // session is touched.
  std::string issue =
      internal::TimingIssue(frame, options_.max_frame_duration_s);
  if (issue.empty()) issue = internal::ScanIssue(frame);
  if (issue.empty()) {
    issue = internal::RegistrationIssue(result, frame.image.size(),
                                        options_.border_px, model_);
  }
  if (!issue.empty()) {
    pl.message = std::move(issue);
    out.drift = internal::MakeDriftReport(st, nullptr);
    return out;
  }
  // Frames without a (finite) acquisition time are placed by their codes
  // and add nothing to the drift; the session clock starts at the first
  // timed frame.
  const bool timed =
      std::isfinite(frame.acquired_unix_s) && frame.acquired_unix_s > 0;
  if (timed && !(st.t0_unix_s > 0)) st.t0_unix_s = frame.acquired_unix_s;
  const internal::FrameView view(frame, result, st.t0_unix_s);
  const internal::FrameSites sites = internal::SelectSites(
      view, model_, options_.border_px, options_.min_site_confidence);
  const bool decisive =
      std::abs(result.sites.faulted_contrast) >= options_.min_faulted_contrast;
  const Vec2 centre_model = Apply(view.model_from_image, view.Centre());

  // 1–2. Rotation and translation (the first frame defines the session).
  if (!st.started) {
    pl.placed = true;
    pl.method = PlacementMethod::kFirst;
    pl.confidence = 1.0;
  } else {
    internal::ChooseRotation(st, view, centre_model, decisive, &pl);
    internal::ScoreTranslations(st, view, sites, centre_model, timed, options_,
                                model_, &pl);
  }
  // 3. Commit the placement, when the state can hold it.
  internal::SessionUpdate update;
  if (pl.placed) {
    const Status in_range =
        internal::PrepareUpdate(st, view, sites, centre_model, timed,
                                options_.drift, model_, &pl, &update);
    if (!in_range.ok()) {
      pl.placed = false;
      pl.message =
          "not placed: the placement would store a value out of range (" +
          in_range.message() + ")";
    }
  }
  if (!pl.placed) {
    out.drift = internal::MakeDriftReport(st, &view);
    return out;
  }
  const int frame_index = update.frame_index;
  internal::CommitUpdate(std::move(update), view, timed, decisive, &st);

  // 4. The site map and the frame's defects; the map bounded.
  internal::UpdateSiteMap(view, sites, pl, frame_index, model_, &st,
                          &out.defects);
  internal::AddFeatures(view, sites, pl, options_, &out);
  internal::BoundSiteMap(options_.max_session_cells, &st);

  // 5. The drift report.
  out.drift = internal::MakeDriftReport(st, &view);
  out.drift.source = DriftSource::kLattice;
  return out;
}

SessionTrackerState SessionTracker::ExportState() const {
  const internal::SessionState& st = *state_;
  SessionTrackerState s;
  s.frames_seen = st.frames_seen;
  s.frames_placed = st.frames_placed;
  s.started = st.started;
  s.t0_unix_s = st.t0_unix_s;
  s.faulted_decisive = st.faulted_decisive;
  s.scanner_from_session = st.scanner_from_session;
  s.scanner_offset_nm = st.scanner_offset;
  s.offset_change_s = st.offset_change_s;
  s.have_offset = st.have_offset;
  s.last_offset_nm = st.last_offset_nm;
  s.last_centre_s = st.last_centre_s;
  s.frame_starts_s.assign(st.frame_starts_s.begin(), st.frame_starts_s.end());
  s.last_duration_s = st.last_duration_s;
  s.vacant_observations = st.vacant_observations;
  s.present_observations = st.present_observations;
  s.points.reserve(st.points.size());
  for (const DriftPoint& p : st.points) {
    s.points.push_back(SessionTrackerPoint{CellI(p.key), CellJ(p.key), p.frame,
                                           p.t_s, p.scanner_nm});
  }
  s.cells.reserve(st.cells.size());
  for (const auto& [key, c] : st.cells) {
    s.cells.push_back(SessionTrackerCell{CellI(key), CellJ(key), c.last_frame,
                                         c.vacant, c.present});
  }
  std::sort(s.cells.begin(), s.cells.end(),
            [](const SessionTrackerCell& a, const SessionTrackerCell& b) {
              return std::pair(a.i, a.j) < std::pair(b.i, b.j);
            });
  return s;
}

Status SessionTracker::RestoreState(const SessionTrackerState& s) {
  if (Status valid = CheckSessionTrackerState(s); !valid.ok()) return valid;
  auto fresh = std::make_unique<internal::SessionState>();
  fresh->symmetries = state_->symmetries;
  internal::SessionState& st = *fresh;
  st.frames_seen = s.frames_seen;
  st.frames_placed = s.frames_placed;
  st.started = s.started;
  st.t0_unix_s = s.t0_unix_s;
  st.faulted_decisive = s.faulted_decisive;
  st.scanner_from_session = s.scanner_from_session;
  st.scanner_offset = s.scanner_offset_nm;
  st.offset_change_s = s.offset_change_s;
  st.have_offset = s.have_offset;
  st.last_offset_nm = s.last_offset_nm;
  st.last_centre_s = s.last_centre_s;
  st.frame_starts_s.assign(s.frame_starts_s.begin(), s.frame_starts_s.end());
  st.last_duration_s = s.last_duration_s;
  st.vacant_observations = s.vacant_observations;
  st.present_observations = s.present_observations;
  st.points.reserve(s.points.size());
  for (const SessionTrackerPoint& p : s.points) {
    st.points.push_back(
        DriftPoint{CellKey(p.i, p.j), p.frame, p.t_s, p.scanner_nm});
  }
  st.cells.reserve(s.cells.size());
  for (const SessionTrackerCell& c : s.cells) {
    CellState& cell = st.cells[CellKey(c.i, c.j)];
    cell.vacant = c.vacant;
    cell.present = c.present;
    cell.last_frame = c.last_frame;
  }
  st.fit = FitDrift(st.points, st.offset_change_s, options_.drift);
  state_ = std::move(fresh);
  return Status::Ok();
}

}  // namespace anchord
