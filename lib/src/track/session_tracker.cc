#include "anchord/track/session_tracker.h"

#include "anchord/util/check.h"
#include "anchord/util/checked_round.h"
#include "anchord/util/validation.h"

#include "track/state_limits.h"
#include "util/robust.h"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <unordered_map>

namespace anchord {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr int kSitesPerCell = kTrackerSitesPerCell;
using Limits = TrackerStateLimits;
constexpr const char* kStateMagic = "anchord-track-state";
constexpr int kStateVersion = 1;

int64_t CellKey(int i, int j) {
  return (static_cast<int64_t>(i) << 32) ^
         static_cast<int64_t>(static_cast<uint32_t>(j));
}
int CellI(int64_t key) { return static_cast<int>(key >> 32); }
int CellJ(int64_t key) {
  return static_cast<int>(static_cast<int32_t>(key & 0xffffffffLL));
}

Mat2 Rotation(int steps) {
  const double a = steps * kPi / 3.0;
  Mat2 r;
  r << std::cos(a), -std::sin(a), std::sin(a), std::cos(a);
  return r;
}

// A site of the session lattice: cell and basis index.
struct SiteKey {
  int i = 0, j = 0, site = 0;
};

// How a rotation by a multiple of 60° acts on lattice and basis: cell
// (i, j) goes to cell_map·(i, j) and basis site k of it to basis site
// site_map[k] of that cell plus cell_shift[k].
struct LatticeSymmetry {
  Eigen::Matrix2i cell_map = Eigen::Matrix2i::Identity();
  std::vector<Eigen::Vector2i> cell_shift;
  std::vector<int> site_map;
};

// The basis site nearest to model point m (sites are 0.768 nm apart; a
// symmetry image lands within rounding of one).
bool NearestSite(const LatticeModel& model, const Vec2& m, SiteKey* key) {
  const Vec2 f = model.LatticeFromModel(m);
  const std::optional<int> fi = FloorToInt(f.x()), fj = FloorToInt(f.y());
  // Within a cell of the int range, i0 ± 1 would overflow.
  if (!fi || !fj || std::abs(static_cast<int64_t>(*fi)) >= INT_MAX - 1 ||
      std::abs(static_cast<int64_t>(*fj)) >= INT_MAX - 1) {
    return false;
  }
  const int i0 = *fi, j0 = *fj;
  double best = 0.05 * 0.05;
  bool found = false;
  for (int i = i0 - 1; i <= i0 + 1; ++i) {
    for (int j = j0 - 1; j <= j0 + 1; ++j) {
      for (size_t k = 0; k < model.sites.size(); ++k) {
        const Vec2 p = model.ModelFromLattice(i + model.sites[k].frac.x(),
                                              j + model.sites[k].frac.y());
        const double d2 = (p - m).squaredNorm();
        if (d2 < best) {
          best = d2;
          *key = {i, j, static_cast<int>(k)};
          found = true;
        }
      }
    }
  }
  return found;
}

LatticeSymmetry MakeSymmetry(const LatticeModel& model, int steps) {
  LatticeSymmetry s;
  const Mat2 r = Rotation(steps);
  for (int c = 0; c < 2; ++c) {
    const Vec2 v = r * (c == 0 ? model.a1_nm : model.a2_nm);
    const Vec2 f = model.LatticeFromModel(v);
    const std::optional<int> x = RoundToInt(f.x()), y = RoundToInt(f.y());
    ANCHORD_CHECK(x && y && std::abs(*x) <= 2 && std::abs(*y) <= 2)
        << "a 60° turn of a lattice vector is not a lattice vector";
    s.cell_map(0, c) = *x;
    s.cell_map(1, c) = *y;
  }
  for (const BasisSite& site : model.sites) {
    SiteKey key;
    const bool ok = NearestSite(
        model, r * model.ModelFromLattice(site.frac.x(), site.frac.y()), &key);
    ANCHORD_CHECK(ok) << "the model basis is not symmetric under 60° turns";
    s.cell_shift.emplace_back(key.i, key.j);
    s.site_map.push_back(key.site);
  }
  return s;
}

SiteKey Apply(
    const LatticeSymmetry& s, int i, int j, int site, int n1, int n2) {
  const Eigen::Vector2i c = s.cell_map * Eigen::Vector2i(i, j) +
                            s.cell_shift[site] + Eigen::Vector2i(n1, n2);
  return {c.x(), c.y(), s.site_map[site]};
}

// Scanner position (nm, x right, y up) commanded at pixel p of `frame`.
struct ScanGeometry {
  Vec2 offset_nm;
  Mat2 linear;  // scanner offset per pixel offset from the centre
  Vec2 centre_px;

  explicit ScanGeometry(const Frame& f) {
    offset_nm = Vec2(f.scan_offset_x_nm, f.scan_offset_y_nm);
    const double a = f.scan_angle_deg * kPi / 180.0;
    Mat2 rot;
    rot << std::cos(a), -std::sin(a), std::sin(a), std::cos(a);
    Mat2 axes = Mat2::Zero();
    axes(0, 0) = f.pixel_size_x_nm;
    axes(1, 1) = -f.pixel_size_y_nm;
    linear = rot * axes;
    centre_px = Vec2(0.5 * (f.image.cols - 1), 0.5 * (f.image.rows - 1));
  }
  Vec2 ScannerFromImage(const Vec2& p) const {
    return offset_nm + linear * (p - centre_px);
  }
};

// Acquisition time of pixel p, s after frame start: the row's start plus
// the fraction of the trace (forward: left to right in half a line).
double PixelTime(const Frame& f, const Vec2& p) {
  if (f.line_times_s.empty()) return 0.0;
  const int rows = static_cast<int>(f.line_times_s.size());
  // In [0, rows - 1] (NaN to 0): the row index below is in range.
  const double y = std::isfinite(p.y())
                       ? std::clamp(p.y(), 0.0, static_cast<double>(rows - 1))
                       : 0.0;
  const int r0 = static_cast<int>(std::floor(y));
  const int r1 = std::min(r0 + 1, rows - 1);
  const double w = y - r0;
  const double row_t = (1 - w) * f.line_times_s[r0] + w * f.line_times_s[r1];
  const double along = f.image.cols > 1 ? p.x() / (f.image.cols - 1) : 0.0;
  const double frac = f.direction == "backward" ? 1.0 - along : along;
  return row_t + 0.5 * f.line_time_s * std::clamp(frac, 0.0, 1.0);
}

double FrameDuration(const Frame& f) {
  if (f.line_times_s.empty()) return 0.0;
  return *std::max_element(f.line_times_s.begin(), f.line_times_s.end()) +
         f.line_time_s;
}

// Why the frame's times cannot be tracked, or "" when they can: per-line
// times (when given) and the line period in [0, max_duration_s], the
// frame no longer than max_duration_s, the acquisition time (when given)
// within TrackerStateLimits::kMaxUnixS.
std::string TimingIssue(const Frame& f, double max_duration_s) {
  char buf[240];
  if (!f.line_times_s.empty()) {
    if (!(f.line_time_s >= 0 && f.line_time_s <= max_duration_s)) {
      std::snprintf(buf, sizeof buf,
                    "frame times out of range: line_time_s = %g s, not in "
                    "[0, max_frame_duration_s = %g s]",
                    f.line_time_s, max_duration_s);
      return buf;
    }
    for (size_t r = 0; r < f.line_times_s.size(); ++r) {
      const double t = f.line_times_s[r];
      if (!(t >= 0 && t <= max_duration_s)) {
        std::snprintf(buf, sizeof buf,
                      "frame times out of range: line_times_s[%zu] = %g s, "
                      "not in [0, max_frame_duration_s = %g s]",
                      r, t, max_duration_s);
        return buf;
      }
    }
    const double duration = FrameDuration(f);
    if (!(duration <= max_duration_s)) {
      std::snprintf(buf, sizeof buf,
                    "frame times out of range: the frame takes %g s (line "
                    "times plus line_time_s), more than "
                    "max_frame_duration_s = %g s",
                    duration, max_duration_s);
      return buf;
    }
  }
  if (std::isfinite(f.acquired_unix_s) &&
      f.acquired_unix_s > Limits::kMaxUnixS) {
    std::snprintf(buf, sizeof buf,
                  "frame times out of range: acquired_unix_s = %g s, after "
                  "%g s (year 2286)",
                  f.acquired_unix_s, Limits::kMaxUnixS);
    return buf;
  }
  return "";
}

bool Inside(const Vec2& p, const cv::Size& size, double border) {
  return std::isfinite(p.x()) && std::isfinite(p.y()) && p.x() >= border &&
         p.y() >= border && p.x() <= size.width - 1 - border &&
         p.y() <= size.height - 1 - border;
}

struct CellState {
  std::array<uint16_t, kSitesPerCell> vacant{};
  std::array<uint16_t, kSitesPerCell> present{};
  int last_frame = 0;
  uint16_t VacantMask() const {
    uint16_t m = 0;
    for (int k = 0; k < kSitesPerCell; ++k) {
      if (vacant[k] > present[k]) m |= static_cast<uint16_t>(1u << k);
    }
    return m;
  }
  uint16_t PresentMask() const {
    uint16_t m = 0;
    for (int k = 0; k < kSitesPerCell; ++k) {
      if (present[k] > vacant[k]) m |= static_cast<uint16_t>(1u << k);
    }
    return m;
  }
};

// One frame's classified sites folded into cells (frame-model keys after
// the rotation, before the translation).
struct FrameCell {
  int64_t key = 0;
  uint16_t vacant = 0, present = 0;
};

std::string Hex(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

}  // namespace

struct SessionTracker::State {
  bool started = false;
  int frames_seen = 0;
  int frames_placed = 0;
  double t0_unix_s = 0;  // session reference time
  bool faulted_decisive = false;
  // scanner = L · session + b + D(t), the fixed scanner map.
  Mat2 scanner_from_session = Mat2::Identity();
  Vec2 scanner_offset = Vec2::Zero();
  double offset_change_s = std::numeric_limits<double>::quiet_NaN();
  bool have_offset = false;
  Vec2 last_offset_nm = Vec2::Zero();
  double last_centre_s = 0;           // centre time of the last placed frame
  std::deque<double> frame_starts_s;  // recent placed frame starts
  double last_duration_s = 0;
  std::vector<DriftPoint> points;
  DriftFit fit;
  std::unordered_map<int64_t, CellState> cells;
  uint64_t vacant_observations = 0, present_observations = 0;
  std::vector<LatticeSymmetry> symmetries;
};

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
      state_(std::make_unique<State>()) {
  const Status valid = options_.Validate();
  ANCHORD_CHECK(valid.ok()) << valid.message();
  ANCHORD_CHECK(static_cast<int>(model_.sites.size()) <= kSitesPerCell)
      << "the tracker's site map holds at most 12 sites per cell";
  for (int r = 0; r < 6; ++r) {
    state_->symmetries.push_back(MakeSymmetry(model_, r));
  }
}

SessionTracker::~SessionTracker() = default;
SessionTracker::SessionTracker(SessionTracker&&) noexcept = default;
SessionTracker& SessionTracker::operator=(SessionTracker&&) noexcept = default;

int SessionTracker::frames_seen() const { return state_->frames_seen; }
int SessionTracker::frames_placed() const { return state_->frames_placed; }
const DriftFit& SessionTracker::drift() const { return state_->fit; }

namespace {

// Everything Track() derives from one registered frame before placing it.
struct FrameView {
  const Frame* frame = nullptr;
  const FrameResult* result = nullptr;
  ScanGeometry scan;
  Mat3 image_from_model;
  Mat3 model_from_image;
  double start_s = 0;  // frame start, s after the session reference
  Vec2 comp_velocity = Vec2::Zero();
  Vec2 comp_offset = Vec2::Zero();

  FrameView(const Frame& f, const FrameResult& r, double t0)
      : frame(&f), result(&r), scan(f) {
    image_from_model = r.image_from_model;
    model_from_image = image_from_model.inverse();
    start_s =
        std::isfinite(f.acquired_unix_s) && f.acquired_unix_s > 0 && t0 > 0
            ? f.acquired_unix_s - t0
            : 0.0;
    comp_velocity = f.drift_compensation_nm_per_s;
    comp_offset = f.drift_compensation_offset_nm;
  }
  double TimeOf(const Vec2& p) const { return start_s + PixelTime(*frame, p); }
  // Scanner position of pixel p as it would be without compensation.
  Vec2 Uncompensated(const Vec2& p) const {
    return scan.ScannerFromImage(p) + comp_offset +
           comp_velocity * (TimeOf(p) - start_s);
  }
  Vec2 Centre() const { return scan.centre_px; }
  cv::Size size() const { return frame->image.size(); }
};

}  // namespace

TrackResult SessionTracker::Track(const Frame& frame,
                                  const FrameResult& result) {
  State& st = *state_;
  ++st.frames_seen;
  TrackResult out;
  auto report = [&](const FrameView* view) {
    DriftReport d;
    const DriftFit& fit = st.fit;
    d.frames = fit.frames;
    d.residual_rms_nm = fit.residual_rms_nm;
    if (!fit.valid) {
      d.message =
          st.frames_placed == 0
              ? "no frame placed yet"
              : (fit.message.empty() ? "one frame placed so far" : fit.message);
      return d;
    }
    d.valid = true;
    d.velocity_nm_per_s = fit.velocity_nm_per_s;
    d.velocity_sigma_nm_per_s = fit.velocity_sigma_nm_per_s;
    const double now = view ? view->TimeOf(view->Centre()) : st.last_centre_s;
    d.creep_rate_nm_per_s = fit.Rate(now) - fit.velocity_nm_per_s;
    if (fit.has_creep) {
      // A·g(now) of the creep term is still to decay to 0: the drift has
      // that much left to go, with the opposite sign.
      d.creep_remaining_nm =
          -(fit.Displacement(now) - fit.velocity_nm_per_s * now);
    }
    const Vec2 comp = view ? view->comp_velocity : Vec2::Zero();
    d.apparent_velocity_nm_per_s = fit.Rate(now) - comp;
    if (view && view->frame->acquired_unix_s > 0 &&
        !st.frame_starts_s.empty()) {
      double period = st.last_duration_s;
      if (st.frame_starts_s.size() >= 2) {
        std::vector<double> gaps;
        for (size_t k = 1; k < st.frame_starts_s.size(); ++k) {
          gaps.push_back(st.frame_starts_s[k] - st.frame_starts_s[k - 1]);
        }
        period = internal::Median(gaps);
      }
      const double next_centre = now + period;
      d.next_frame_unix_s = st.t0_unix_s + view->start_s + period;
      d.centre_correction_nm =
          fit.Displacement(next_centre) - fit.Displacement(now) - comp * period;
      d.next_scan_offset_nm = view->scan.offset_nm + d.centre_correction_nm;
    }
    return d;
  };

  if (!result.status.ok()) {
    out.placement.message = "frame not registered: " + result.status.message();
    out.drift = report(nullptr);
    return out;
  }
  if (std::string issue = TimingIssue(frame, options_.max_frame_duration_s);
      !issue.empty()) {
    out.placement.message = std::move(issue);
    out.drift = report(nullptr);
    return out;
  }
  // Frames without a (finite) acquisition time are placed by their codes
  // and add nothing to the drift; the session clock starts at the first
  // timed frame.
  const bool timed =
      std::isfinite(frame.acquired_unix_s) && frame.acquired_unix_s > 0;
  if (timed && !(st.t0_unix_s > 0)) st.t0_unix_s = frame.acquired_unix_s;
  const FrameView view(frame, result, st.t0_unix_s);
  const LatticeModel& model = model_;
  const bool decisive =
      std::abs(result.sites.faulted_contrast) >= options_.min_faulted_contrast;

  // Classified sites of this frame (inside the border, confident).
  struct UsedSite {
    const AdatomSite* site;
    int basis;
  };
  std::vector<UsedSite> used;
  std::vector<const AdatomSite*> undecided;
  for (const AdatomSite& a : result.sites.adatoms) {
    if (!Inside(a.p_px, view.size(), options_.border_px)) continue;
    if (a.confidence < options_.min_site_confidence) {
      undecided.push_back(&a);
      continue;
    }
    int basis = -1;
    for (size_t k = 0; k < model.sites.size(); ++k) {
      if (model.sites[k].half == a.half &&
          model.sites[k].code_index == a.code_index) {
        basis = static_cast<int>(k);
      }
    }
    if (basis >= 0) used.push_back({&a, basis});
  }

  Placement& pl = out.placement;
  const Vec2 centre_model = Apply(view.model_from_image, view.Centre());
  if (!st.started) {
    pl.placed = true;
    pl.method = PlacementMethod::kFirst;
    pl.confidence = 1.0;
    st.faulted_decisive = decisive;
  } else {
    // Rotation: the one whose scanner-from-session map matches.
    const Mat2 scanner_from_model =
        view.scan.linear * Jacobian(view.image_from_model, centre_model);
    const bool thirds = decisive && st.faulted_decisive;
    double best_score = 1e300;
    for (int r = 0; r < 6; ++r) {
      if (thirds && r % 2 != 0) continue;
      const Mat2 candidate = scanner_from_model * Rotation(r).transpose();
      const double score = (candidate - st.scanner_from_session).norm() /
                           st.scanner_from_session.norm();
      if (score < best_score) {
        best_score = score;
        pl.rotation_steps = r;
      }
    }
    if (!(best_score < 0.3)) {
      pl.message =
          "the frame's scan geometry matches no lattice rotation of "
          "the session (scanner map mismatch " +
          std::to_string(best_score) + ")";
    }
    const LatticeSymmetry& sym = st.symmetries[pl.rotation_steps];
    const Mat2 rot = Rotation(pl.rotation_steps);

    // Prediction of the frame centre in the session frame.
    const double t_c = view.TimeOf(view.Centre());
    const Vec2 q_c = view.Uncompensated(view.Centre());
    // Untimed frames: the scanner map of the newest frame already holds
    // its drift; the best guess is "where the last frame was".
    const Vec2 drift_c = timed ? st.fit.Displacement(t_c) : Vec2::Zero();
    const Vec2 s_pred =
        st.scanner_from_session.inverse() * (q_c - drift_c - st.scanner_offset);
    const double dt = std::abs(t_c - st.last_centre_s);
    double sigma = st.fit.valid ? st.fit.velocity_sigma_nm_per_s.norm() * dt
                                : options_.prior_velocity_sigma_nm_per_s * dt;
    sigma = std::max(sigma, options_.min_prediction_sigma_nm);
    // Without acquisition times nothing predicts the drift between frames:
    // a prior as wide as the search, so the codes decide.
    if (!timed || !std::isfinite(sigma)) {
      sigma = 0.5 * options_.max_search_cells * model.lattice_constant_nm();
    }
    const Vec2 tau = s_pred - rot * centre_model;
    const Vec2 u = model.LatticeFromModel(tau);
    const double cell_nm = model.lattice_constant_nm();
    if (!u.allFinite()) {
      pl.message = "no finite prediction of the frame's position";
      out.drift = report(&view);
      return out;
    }
    // Half the index range: the rounded centre ± reach, and a frame's cell
    // plus a candidate, stay far inside int.
    if (!(std::abs(u.x()) <= Limits::kMaxCellIndex / 2 &&
          std::abs(u.y()) <= Limits::kMaxCellIndex / 2)) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "the predicted position (%g, %g) cells is beyond the "
                    "lattice index range ±%d",
                    u.x(), u.y(), Limits::kMaxCellIndex / 2);
      pl.message = buf;
      out.drift = report(&view);
      return out;
    }
    // 4σ in cells, + 1, at most the search. In double: a huge σ means the
    // whole search (a flat prior: the codes decide), never an overflow.
    const double wanted_reach = std::ceil(4.0 * sigma / cell_nm) + 1.0;
    const int reach = wanted_reach < options_.max_search_cells
                          ? static_cast<int>(wanted_reach)
                          : options_.max_search_cells;

    // The frame's cells (rotated, untranslated) with their codes.
    std::unordered_map<int64_t, FrameCell> fcells;
    for (const UsedSite& us : used) {
      const SiteKey key = Apply(sym, us.site->i, us.site->j, us.basis, 0, 0);
      FrameCell& c = fcells[CellKey(key.i, key.j)];
      c.key = CellKey(key.i, key.j);
      const uint16_t bit = static_cast<uint16_t>(1u << key.site);
      (us.site->occupied ? c.present : c.vacant) |= bit;
    }
    const double total_obs =
        static_cast<double>(st.vacant_observations + st.present_observations);
    const double rho = std::clamp(
        total_obs > 0 ? st.vacant_observations / total_obs : 0.05, 0.005, 0.5);
    const double eps = options_.site_error_rate;
    const double llr_vv = std::log((1 - eps) / rho);
    const double llr_vp = std::log(eps / rho);
    const double llr_pp = std::log((1 - eps) / (1 - rho));
    const double llr_pv = std::log(eps / (1 - rho));

    struct Candidate {
      int n1, n2;
      double log_prior, llr;
      int compared;
    };
    std::vector<Candidate> cands;
    // |u| <= kMaxCellIndex / 2 (checked above).
    const int c1 = static_cast<int>(std::lround(u.x()));
    const int c2 = static_cast<int>(std::lround(u.y()));
    for (int n1 = c1 - reach; n1 <= c1 + reach; ++n1) {
      for (int n2 = c2 - reach; n2 <= c2 + reach; ++n2) {
        const Vec2 miss = model.ModelFromLattice(n1 - u.x(), n2 - u.y());
        if (miss.norm() > (reach + 0.5) * cell_nm) continue;
        Candidate c{n1, n2, -miss.squaredNorm() / (2 * sigma * sigma), 0, 0};
        for (const auto& [key, fc] : fcells) {
          auto it = st.cells.find(CellKey(CellI(key) + n1, CellJ(key) + n2));
          if (it == st.cells.end()) continue;
          const uint16_t sv = it->second.VacantMask();
          const uint16_t sp = it->second.PresentMask();
          const int vv = std::popcount(static_cast<unsigned>(fc.vacant & sv));
          const int vp = std::popcount(static_cast<unsigned>(fc.vacant & sp));
          const int pp = std::popcount(static_cast<unsigned>(fc.present & sp));
          const int pv = std::popcount(static_cast<unsigned>(fc.present & sv));
          c.llr += vv * llr_vv + vp * llr_vp + pp * llr_pp + pv * llr_pv;
          c.compared += vv + vp + pp + pv;
        }
        cands.push_back(c);
      }
    }
    pl.candidates = static_cast<int>(cands.size());
    auto posterior_best = [&](bool with_codes, size_t* best_index) {
      double top = -1e300;
      for (const Candidate& c : cands) {
        top = std::max(top, c.log_prior + (with_codes ? c.llr : 0.0));
      }
      double z = 0;
      size_t best = 0;
      double best_lp = -1e300;
      for (size_t k = 0; k < cands.size(); ++k) {
        const double lp =
            cands[k].log_prior + (with_codes ? cands[k].llr : 0.0);
        z += std::exp(lp - top);
        if (lp > best_lp) {
          best_lp = lp;
          best = k;
        }
      }
      *best_index = best;
      return std::exp(best_lp - top) / z;
    };
    if (cands.empty()) {
      pl.message = "no lattice translation within the search";
      out.drift = report(&view);
      return out;
    }
    size_t best = 0, prior_best = 0;
    const double confidence = posterior_best(true, &best);
    const double prior_confidence = posterior_best(false, &prior_best);
    pl.confidence = confidence;
    pl.n1 = cands[best].n1;
    pl.n2 = cands[best].n2;
    pl.code_sites_compared = cands[best].compared;
    pl.method =
        (prior_best == best && prior_confidence >= options_.min_confidence)
            ? PlacementMethod::kPrediction
            : PlacementMethod::kCodes;
    if (pl.message.empty() && !(confidence >= options_.min_confidence)) {
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "ambiguous lattice translation: best posterior %.4f < "
                    "%.4f (%d candidates, %d sites compared, prediction "
                    "sigma %.2f nm)",
                    confidence, options_.min_confidence, pl.candidates,
                    pl.code_sites_compared, sigma);
      pl.message = buf;
    }
    pl.placed = pl.message.empty();
  }
  if (!pl.placed) {
    out.drift = report(&view);
    return out;
  }

  // The session transform.
  const LatticeSymmetry& sym = st.symmetries[pl.rotation_steps];
  const Mat2 rot = Rotation(pl.rotation_steps);
  const Vec2 translation = model.ModelFromLattice(pl.n1, pl.n2);
  pl.session_from_model = AffineTransform(rot, translation);
  pl.centre_session_nm = rot * centre_model + translation;
  const int frame_index = st.frames_placed;

  // What the placement changes, computed before anything is stored: a
  // frame that would put a value outside TrackerStateLimits into the
  // state is refused instead.
  // Scan offset change: the creep clock restarts.
  double offset_change_s = st.offset_change_s;
  if (st.have_offset &&
      (view.scan.offset_nm - st.last_offset_nm).norm() > 1e-6) {
    offset_change_s = view.start_s;
  }

  // The detected corner holes: drift points of timed frames, and this
  // frame's own scanner map.
  std::vector<DriftPoint> own;
  for (const CornerHoleSite& h : result.sites.corner_holes) {
    if (!h.detected || !Inside(h.p_px, view.size(), 0.0)) continue;
    const Eigen::Vector2i c = sym.cell_map * Eigen::Vector2i(h.i, h.j) +
                              Eigen::Vector2i(pl.n1, pl.n2);
    own.push_back(DriftPoint{CellKey(c.x(), c.y()), frame_index,
                             view.TimeOf(h.p_px), view.Uncompensated(h.p_px)});
  }
  std::vector<DriftPoint> points = st.points;
  if (timed) points.insert(points.end(), own.begin(), own.end());
  // Window: the newest max_frames frames within window_s (and at most
  // kMaxPoints points, the oldest dropped first).
  const double newest = view.TimeOf(view.Centre());
  const int oldest_frame = frame_index - options_.drift.max_frames + 1;
  std::erase_if(points, [&](const DriftPoint& p) {
    return p.frame < oldest_frame || newest - p.t_s > options_.drift.window_s;
  });
  if (points.size() > static_cast<size_t>(Limits::kMaxPoints)) {
    points.erase(points.begin(), points.end() - Limits::kMaxPoints);
  }
  DriftFit fit = FitDrift(points, offset_change_s, options_.drift);

  // The fixed scanner map: scanner − D(t) = L · session + b over the
  // window's points; this frame's alone (without D) while D is unknown or
  // the frame untimed: frames are displaced against each other by the
  // unmodelled drift.
  Mat2 scanner_from_session = st.scanner_from_session;
  Vec2 scanner_offset = st.scanner_offset;
  {
    const bool windowed = timed && fit.valid;
    Eigen::Matrix3d a = Eigen::Matrix3d::Zero();
    Eigen::Matrix<double, 3, 2> rhs = Eigen::Matrix<double, 3, 2>::Zero();
    for (const DriftPoint& p : windowed ? points : own) {
      const Vec2 s = model.ModelFromLattice(CellI(p.key), CellJ(p.key));
      const Eigen::Vector3d x(s.x(), s.y(), 1.0);
      a += x * x.transpose();
      const Vec2 drift = windowed ? fit.Displacement(p.t_s) : Vec2::Zero();
      rhs += x * (p.scanner_nm - drift).transpose();
    }
    if (std::abs(a.determinant()) > 1e-9) {
      const Eigen::Matrix<double, 3, 2> sol = a.ldlt().solve(rhs);
      scanner_from_session = sol.topRows(2).transpose();
      scanner_offset = sol.row(2).transpose();
    } else if (frame_index == 0) {
      // Too few corner holes for a fit: the frame's own map at its centre.
      scanner_from_session = view.scan.linear *
                             Jacobian(view.image_from_model, centre_model) *
                             rot.transpose();
      scanner_offset = view.Uncompensated(view.Centre()) -
                       scanner_from_session * pl.centre_session_nm;
    }
  }
  Status in_range =
      internal::CheckScannerMap(scanner_from_session, scanner_offset);
  if (in_range.ok())
    in_range = internal::CheckTime("frame start", view.start_s);
  if (in_range.ok()) in_range = internal::CheckTime("frame centre", newest);
  if (in_range.ok()) {
    in_range = internal::CheckScanner("scan offset", view.scan.offset_nm);
  }
  for (size_t k = 0; k < own.size() && in_range.ok(); ++k) {
    const std::string field = "corner hole " + std::to_string(k);
    in_range = internal::CheckCell(field, CellI(own[k].key), CellJ(own[k].key));
    if (in_range.ok()) in_range = internal::CheckTime(field, own[k].t_s);
    if (in_range.ok()) {
      in_range = internal::CheckScanner(field, own[k].scanner_nm);
    }
  }
  for (size_t k = 0; k < used.size() && in_range.ok(); ++k) {
    const SiteKey key = Apply(sym, used[k].site->i, used[k].site->j,
                              used[k].basis, pl.n1, pl.n2);
    in_range = internal::CheckCell("site " + std::to_string(k), key.i, key.j);
  }
  if (!in_range.ok()) {
    pl.placed = false;
    pl.message =
        "not placed: the placement would store a value out of "
        "range (" +
        in_range.message() + ")";
    out.drift = report(&view);
    return out;
  }

  // Commit.
  ++st.frames_placed;
  st.started = true;
  st.offset_change_s = offset_change_s;
  st.have_offset = true;
  st.last_offset_nm = view.scan.offset_nm;
  st.points = std::move(points);
  st.fit = std::move(fit);
  st.scanner_from_session = scanner_from_session;
  st.scanner_offset = scanner_offset;
  if (timed) {
    st.last_centre_s = newest;
    st.frame_starts_s.push_back(view.start_s);
    while (st.frame_starts_s.size() >
           static_cast<size_t>(Limits::kMaxFrameStarts)) {
      st.frame_starts_s.pop_front();
    }
    st.last_duration_s = FrameDuration(frame);
  }

  // Session map and defects.
  const double sigma_nm = std::max(result.registration.residual_rms_nm, 0.005);
  for (const UsedSite& us : used) {
    const SiteKey key =
        Apply(sym, us.site->i, us.site->j, us.basis, pl.n1, pl.n2);
    CellState& cell = st.cells[CellKey(key.i, key.j)];
    cell.last_frame = frame_index;
    auto& count =
        us.site->occupied ? cell.present[key.site] : cell.vacant[key.site];
    if (count < std::numeric_limits<uint16_t>::max()) ++count;
    ++(us.site->occupied ? st.present_observations : st.vacant_observations);
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
    out.defects.push_back(d);
  }
  for (const AdatomSite* a : undecided) {
    out.undecided_session_nm.push_back(rot * a->model_nm + translation);
  }
  for (const OffLatticeFeature& f : result.sites.off_lattice) {
    if (f.confidence < options_.min_site_confidence) continue;
    if (!Inside(f.p_px, view.size(), options_.border_px)) continue;
    TrackedDefect d;
    d.kind = TrackedDefectKind::kOffLattice;
    d.session_nm = rot * f.model_nm + translation;
    d.sigma_nm = std::max(sigma_nm, options_.feature_sigma_nm);
    d.p_px = f.p_px;
    out.defects.push_back(d);
  }
  const double b = options_.border_px;
  const double w = view.size().width - 1 - b, h = view.size().height - 1 - b;
  for (const Vec2& corner : {Vec2(b, b), Vec2(w, b), Vec2(w, h), Vec2(b, h)}) {
    out.footprint_session_nm.push_back(
        rot * Apply(view.model_from_image, corner) + translation);
  }
  // Bound the map: drop the cells seen longest ago.
  if (st.cells.size() > static_cast<size_t>(options_.max_session_cells)) {
    std::vector<std::pair<int, int64_t>> age;
    for (const auto& [key, c] : st.cells) age.emplace_back(c.last_frame, key);
    const size_t excess =
        st.cells.size() - static_cast<size_t>(options_.max_session_cells);
    std::nth_element(age.begin(), age.begin() + excess, age.end());
    for (size_t k = 0; k < excess; ++k) st.cells.erase(age[k].second);
  }
  out.drift = report(&view);
  return out;
}

SessionTrackerState SessionTracker::ExportState() const {
  const State& st = *state_;
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
  auto fresh = std::make_unique<State>();
  fresh->symmetries = state_->symmetries;
  State& st = *fresh;
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

std::string SessionTracker::Serialize() const {
  const SessionTrackerState st = ExportState();
  std::ostringstream os;
  os << kStateMagic << ' ' << kStateVersion << '\n';
  os << st.started << ' ' << st.frames_seen << ' ' << st.frames_placed << ' '
     << Hex(st.t0_unix_s) << ' ' << st.faulted_decisive << '\n';
  const Mat2& l = st.scanner_from_session;
  os << Hex(l(0, 0)) << ' ' << Hex(l(0, 1)) << ' ' << Hex(l(1, 0)) << ' '
     << Hex(l(1, 1)) << ' ' << Hex(st.scanner_offset_nm.x()) << ' '
     << Hex(st.scanner_offset_nm.y()) << '\n';
  os << Hex(st.offset_change_s) << ' ' << st.have_offset << ' '
     << Hex(st.last_offset_nm.x()) << ' ' << Hex(st.last_offset_nm.y()) << ' '
     << Hex(st.last_centre_s) << ' ' << Hex(st.last_duration_s) << ' '
     << st.vacant_observations << ' ' << st.present_observations << '\n';
  os << st.frame_starts_s.size();
  for (double t : st.frame_starts_s) os << ' ' << Hex(t);
  os << '\n' << st.points.size() << '\n';
  for (const SessionTrackerPoint& p : st.points) {
    os << CellKey(p.i, p.j) << ' ' << p.frame << ' ' << Hex(p.t_s) << ' '
       << Hex(p.scanner_nm.x()) << ' ' << Hex(p.scanner_nm.y()) << '\n';
  }
  os << st.cells.size() << '\n';
  for (const SessionTrackerCell& c : st.cells) {
    os << CellKey(c.i, c.j) << ' ' << c.last_frame;
    for (int k = 0; k < kSitesPerCell; ++k) {
      os << ' ' << c.vacant[k] << ' ' << c.present[k];
    }
    os << '\n';
  }
  os << "end\n";
  return os.str();
}

Status SessionTracker::Restore(const std::string& text) {
  SessionTrackerState state;
  if (Status parsed = ParseLegacyTrackerState(text, &state); !parsed.ok()) {
    return parsed;
  }
  return RestoreState(state);
}

}  // namespace anchord
