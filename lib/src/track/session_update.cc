// Steps 3 and 4 of SessionTracker::Track: the state with a placed frame
// (drift window and fit, scanner map), and the session's site map.
#include "anchord/track/session_tracker_state.h"

#include "track/state_limits.h"
#include "track/tracker_steps.h"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace anchord::internal {
namespace {

using Limits = TrackerStateLimits;

// The frame's detected corner holes as drift points in session cells.
std::vector<DriftPoint> CornerHolePoints(const FrameView& view,
                                         const LatticeSymmetry& sym,
                                         const Placement& pl,
                                         int frame_index) {
  std::vector<DriftPoint> own;
  for (const CornerHoleSite& h : view.result->sites.corner_holes) {
    if (!h.detected || !Inside(h.p_px, view.size(), 0.0)) continue;
    const Eigen::Vector2i c = sym.cell_map * Eigen::Vector2i(h.i, h.j) +
                              Eigen::Vector2i(pl.n1, pl.n2);
    own.push_back(DriftPoint{CellKey(c.x(), c.y()), frame_index,
                             view.TimeOf(h.p_px), view.Uncompensated(h.p_px)});
  }
  return own;
}

// The fit window: the state's points, this frame's when timed, the newest
// max_frames frames within window_s (at most kMaxPoints, oldest first
// out).
std::vector<DriftPoint> WindowPoints(const SessionState& st,
                                     const std::vector<DriftPoint>& own,
                                     bool timed,
                                     int frame_index,
                                     double newest,
                                     const DriftOptions& drift) {
  std::vector<DriftPoint> points = st.points;
  if (timed) points.insert(points.end(), own.begin(), own.end());
  const int oldest_frame = frame_index - drift.max_frames + 1;
  std::erase_if(points, [&](const DriftPoint& p) {
    return p.frame < oldest_frame || newest - p.t_s > drift.window_s;
  });
  if (points.size() > static_cast<size_t>(Limits::kMaxPoints)) {
    points.erase(points.begin(), points.end() - Limits::kMaxPoints);
  }
  return points;
}

// The fixed scanner map: scanner − D(t) = L · session + b over the
// window's points; this frame's alone (without D) while D is unknown or
// the frame untimed: frames are displaced against each other by the
// unmodelled drift. Keeps the state's map when the points fix none
// (the first frame: its own map at its centre).
void FitScannerMap(const SessionState& st,
                   const FrameView& view,
                   const std::vector<DriftPoint>& own,
                   bool timed,
                   const Vec2& centre_model,
                   const Placement& pl,
                   const LatticeModel& model,
                   SessionUpdate* u) {
  u->scanner_from_session = st.scanner_from_session;
  u->scanner_offset = st.scanner_offset;
  const bool windowed = timed && u->fit.valid;
  Eigen::Matrix3d a = Eigen::Matrix3d::Zero();
  Eigen::Matrix<double, 3, 2> rhs = Eigen::Matrix<double, 3, 2>::Zero();
  for (const DriftPoint& p : windowed ? u->points : own) {
    const Vec2 s = model.ModelFromLattice(CellI(p.key), CellJ(p.key));
    const Eigen::Vector3d x(s.x(), s.y(), 1.0);
    a += x * x.transpose();
    const Vec2 drift = windowed ? u->fit.Displacement(p.t_s) : Vec2::Zero();
    rhs += x * (p.scanner_nm - drift).transpose();
  }
  if (std::abs(a.determinant()) > 1e-9) {
    const Eigen::Matrix<double, 3, 2> sol = a.ldlt().solve(rhs);
    u->scanner_from_session = sol.topRows(2).transpose();
    u->scanner_offset = sol.row(2).transpose();
  } else if (u->frame_index == 0) {
    // Too few corner holes for a fit: the frame's own map at its centre.
    u->scanner_from_session = view.scan.linear *
                              Jacobian(view.image_from_model, centre_model) *
                              Rotation(pl.rotation_steps).transpose();
    u->scanner_offset = view.Uncompensated(view.Centre()) -
                        u->scanner_from_session * pl.centre_session_nm;
  }
}

// kOk when everything the update stores is within TrackerStateLimits.
Status CheckUpdate(const SessionUpdate& u,
                   const FrameView& view,
                   const std::vector<DriftPoint>& own,
                   const FrameSites& sites,
                   const LatticeSymmetry& sym,
                   const Placement& pl) {
  Status s = CheckScannerMap(u.scanner_from_session, u.scanner_offset);
  if (s.ok()) s = CheckTime("frame start", view.start_s);
  if (s.ok()) s = CheckTime("frame centre", u.centre_s);
  if (s.ok()) s = CheckScanner("scan offset", view.scan.offset_nm);
  for (size_t k = 0; k < own.size() && s.ok(); ++k) {
    const std::string field = "corner hole " + std::to_string(k);
    s = CheckCell(field, CellI(own[k].key), CellJ(own[k].key));
    if (s.ok()) s = CheckTime(field, own[k].t_s);
    if (s.ok()) s = CheckScanner(field, own[k].scanner_nm);
  }
  for (size_t k = 0; k < sites.used.size() && s.ok(); ++k) {
    const UsedSite& us = sites.used[k];
    const SiteKey key =
        MapSite(sym, us.site->i, us.site->j, us.basis, pl.n1, pl.n2);
    s = CheckCell("site " + std::to_string(k), key.i, key.j);
  }
  return s;
}

}  // namespace

Status PrepareUpdate(const SessionState& st,
                     const FrameView& view,
                     const FrameSites& sites,
                     const Vec2& centre_model,
                     bool timed,
                     const DriftOptions& drift,
                     const LatticeModel& model,
                     Placement* pl,
                     SessionUpdate* update) {
  const LatticeSymmetry& sym = st.symmetries[pl->rotation_steps];
  const Mat2 rot = Rotation(pl->rotation_steps);
  const Vec2 translation = model.ModelFromLattice(pl->n1, pl->n2);
  pl->session_from_model = AffineTransform(rot, translation);
  pl->centre_session_nm = rot * centre_model + translation;

  SessionUpdate u;
  u.frame_index = st.frames_placed;
  // Scan offset change: the creep clock restarts.
  u.offset_change_s = st.offset_change_s;
  if (st.have_offset &&
      (view.scan.offset_nm - st.last_offset_nm).norm() > 1e-6) {
    u.offset_change_s = view.start_s;
  }
  const std::vector<DriftPoint> own =
      CornerHolePoints(view, sym, *pl, u.frame_index);
  u.centre_s = view.TimeOf(view.Centre());
  u.points = WindowPoints(st, own, timed, u.frame_index, u.centre_s, drift);
  u.aligned_points = AlignedInWindow(st.aligned_points, u.centre_s, drift);
  std::vector<DriftPoint> all = u.points;
  all.insert(all.end(), u.aligned_points.begin(), u.aligned_points.end());
  u.fit =
      FitDrift(all, u.offset_change_s, FitOptions(st, u.aligned_points, drift));
  FitScannerMap(st, view, own, timed, centre_model, *pl, model, &u);
  if (Status s = CheckUpdate(u, view, own, sites, sym, *pl); !s.ok()) {
    return s;
  }
  *update = std::move(u);
  return Status::Ok();
}

void CommitUpdate(SessionUpdate update,
                  const FrameView& view,
                  bool timed,
                  bool decisive,
                  SessionState* st) {
  if (update.frame_index == 0) st->faulted_decisive = decisive;
  ++st->frames_placed;
  st->started = true;
  st->offset_change_s = update.offset_change_s;
  st->have_offset = true;
  st->last_offset_nm = view.scan.offset_nm;
  st->points = std::move(update.points);
  st->aligned_points = std::move(update.aligned_points);
  st->fit = std::move(update.fit);
  st->scanner_from_session = update.scanner_from_session;
  st->scanner_offset = update.scanner_offset;
  if (timed) {
    st->last_centre_s = update.centre_s;
    st->frame_starts_s.push_back(view.start_s);
    while (st->frame_starts_s.size() >
           static_cast<size_t>(Limits::kMaxFrameStarts)) {
      st->frame_starts_s.pop_front();
    }
    st->last_duration_s = FrameDuration(*view.frame);
  }
}

void UpdateSiteMap(const FrameView& view,
                   const FrameSites& sites,
                   const Placement& pl,
                   int frame_index,
                   const LatticeModel& model,
                   SessionState* st,
                   std::vector<TrackedDefect>* defects) {
  const LatticeSymmetry& sym = st->symmetries[pl.rotation_steps];
  const double sigma_nm =
      std::max(view.result->registration.residual_rms_nm, 0.005);
  for (const UsedSite& us : sites.used) {
    const SiteKey key =
        MapSite(sym, us.site->i, us.site->j, us.basis, pl.n1, pl.n2);
    CellState& cell = st->cells[CellKey(key.i, key.j)];
    cell.last_frame = frame_index;
    auto& count =
        us.site->occupied ? cell.present[key.site] : cell.vacant[key.site];
    if (count < std::numeric_limits<uint16_t>::max()) ++count;
    ++(us.site->occupied ? st->present_observations : st->vacant_observations);
    if (us.site->occupied) continue;
    TrackedDefect d;
    d.kind = TrackedDefectKind::kVacancy;
    d.i = key.i;
    d.j = key.j;
    d.site = key.site;
    const BasisSite& b = model.sites[key.site];
    d.session_nm =
        model.ModelFromLattice(key.i + b.frac.x(), key.j + b.frac.y());
    d.sigma_nm = sigma_nm;
    d.p_px = us.site->p_px;
    defects->push_back(d);
  }
}

void AddFeatures(const FrameView& view,
                 const FrameSites& sites,
                 const Placement& pl,
                 const TrackOptions& options,
                 TrackResult* out) {
  const Mat2 rot = pl.session_from_model.topLeftCorner<2, 2>();
  const Vec2 translation = pl.session_from_model.topRightCorner<2, 1>();
  const double sigma_nm =
      std::max(view.result->registration.residual_rms_nm, 0.005);
  for (const AdatomSite* a : sites.undecided) {
    out->undecided_session_nm.push_back(rot * a->model_nm + translation);
  }
  for (const OffLatticeFeature& f : view.result->sites.off_lattice) {
    if (f.confidence < options.min_site_confidence) continue;
    if (!Inside(f.p_px, view.size(), options.border_px)) continue;
    TrackedDefect d;
    d.kind = TrackedDefectKind::kOffLattice;
    d.session_nm = rot * f.model_nm + translation;
    d.sigma_nm = std::max(sigma_nm, options.feature_sigma_nm);
    d.p_px = f.p_px;
    out->defects.push_back(d);
  }
  for (const Vec2& corner : FootprintCorners(view.size(), options.border_px)) {
    out->footprint_session_nm.push_back(
        rot * Apply(view.model_from_image, corner) + translation);
  }
}

void BoundSiteMap(int max_cells, SessionState* st) {
  const size_t limit = static_cast<size_t>(max_cells);
  if (st->cells.size() <= limit) return;
  std::vector<std::pair<int, int64_t>> age;
  for (const auto& [key, c] : st->cells) age.emplace_back(c.last_frame, key);
  const size_t excess = st->cells.size() - limit;
  std::nth_element(age.begin(), age.begin() + excess, age.end());
  for (size_t k = 0; k < excess; ++k) st->cells.erase(age[k].second);
}

}  // namespace anchord::internal
