#include "anchord/synth/simulated_instrument.h"

#include "anchord/model/lattice_model.h"
#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

namespace anchord {
namespace {

std::string Format(const Vec2& v) {
  std::ostringstream s;
  s << "(" << v.x() << ", " << v.y() << ")";
  return s.str();
}

// SplitMix64 over a few keys: the per-frame noise seed.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The scan options as the instrument uses them: the fields it sets per
// frame at their defaults, so that Validate() judges only the others.
SyntheticScanOptions SampleScanOptions(const SyntheticScanOptions& scan) {
  SyntheticScanOptions o = scan;
  const SyntheticScanOptions defaults;
  o.offset_nm = defaults.offset_nm;
  o.row_shift_nm.clear();
  o.noise_seed = 0;
  o.creep_px = 0;
  o.creep_tau_rows = defaults.creep_tau_rows;
  o.adsorbates = 0;
  return o;
}

// Linear interpolation in a table of values at t0 + n·dt, extrapolated
// beyond its ends with the given slopes.
Vec2 Interpolate(const std::vector<Vec2>& values,
                 double t0,
                 double dt,
                 double t,
                 const Vec2& slope_before,
                 const Vec2& slope_after) {
  const double u = (t - t0) / dt;
  const int n = static_cast<int>(values.size());
  if (!(u > 0)) return values.front() + slope_before * (t - t0);
  if (u >= n - 1) {
    return values.back() + slope_after * (t - (t0 + (n - 1) * dt));
  }
  const int k = static_cast<int>(std::floor(u));
  const double f = u - k;
  return (1.0 - f) * values[k] + f * values[k + 1];
}

}  // namespace

Status SimulatedInstrumentOptions::Validate() const {
  Violations v("instrument");
  v.Merge(SampleScanOptions(scan).Validate());
  v.Require(scan.perspective == 0, "scan.perspective", scan.perspective,
            "== 0");
  ANCHORD_OPTION_GT(v, line_time_s, 0.0);
  ANCHORD_OPTION_GE(v, frame_gap_s, 0.0);
  v.Require(drift_nm_per_s.allFinite(), "drift_nm_per_s",
            Format(drift_nm_per_s), "finite");
  ANCHORD_OPTION_GE(v, drift_walk_nm_per_s_per_sqrt_s, 0.0);
  ANCHORD_OPTION_IN_CLOSED(v, creep_fraction, 0.0, 0.5);
  ANCHORD_OPTION_GT(v, creep_tau_s, 0.0);
  ANCHORD_OPTION_GT(v, start_unix_s, 0.0);
  ANCHORD_OPTION_IN_CLOSED(v, unresolved_fraction, 0.0, 1.0);
  ANCHORD_OPTION_GT(v, unresolved_blur_nm, 0.0);
  // The drift must move the image by well under the generator's limit of
  // 0.5 px per row (room for the walk and the creep).
  if (line_time_s > 0 && scan.field_of_view_nm > 0 && scan.width_px > 0 &&
      drift_nm_per_s.allFinite()) {
    const double px_nm = scan.field_of_view_nm / scan.width_px;
    const double per_line = drift_nm_per_s.norm() * line_time_s / px_nm;
    v.Require(per_line < 0.25, "drift_nm_per_s · line_time_s (px)", per_line,
              "< 0.25");
  }
  return v.ToStatus();
}

struct SimulatedInstrument::State {
  // A change of the compensation velocity: c(t) = c + v·(t − t_start)
  // from t_start on.
  struct CompensationSegment {
    double t_start;
    Vec2 c;
    Vec2 v;
  };
  // A scan offset change Δ at t.
  struct OffsetChange {
    double t;
    Vec2 delta;
  };

  SimulatedInstrumentOptions o;
  SyntheticScanOptions sample;  // o.scan with the per-frame fields reset
  Mat2 model_from_scanner = Mat2::Identity();
  double px_nm = 0;

  // Drift knots at o.start_unix_s + n·o.line_time_s: velocity and
  // displacement (trapezoidal integral of the velocity).
  std::vector<Vec2> drift_v;
  std::vector<Vec2> drift_d;
  std::mt19937_64 walk_rng;
  std::normal_distribution<double> gauss{0.0, 1.0};

  std::vector<CompensationSegment> compensation;
  Vec2 pending_compensation = Vec2::Zero();
  std::vector<OffsetChange> offset_changes;
  Vec2 offset = Vec2::Zero();
  Vec2 pending_offset = Vec2::Zero();

  double next_start = 0;
  double last_end = 0;  // end of the last scanned frame
  int64_t next_index = 0;

  // Extends the drift knots to cover t.
  void EnsureDriftUntil(double t) {
    const double dt = o.line_time_s;
    const double step = o.drift_walk_nm_per_s_per_sqrt_s * std::sqrt(dt);
    while (o.start_unix_s + (static_cast<double>(drift_v.size()) - 1) * dt <
           t) {
      const Vec2 v0 = drift_v.back();
      Vec2 v1 = v0;
      if (step > 0) {
        const double gx = gauss(walk_rng);
        const double gy = gauss(walk_rng);
        v1 += step * Vec2(gx, gy);
      }
      drift_d.push_back(drift_d.back() + 0.5 * dt * (v0 + v1));
      drift_v.push_back(v1);
    }
  }
  Vec2 Drift(double t) const {
    return Interpolate(drift_d, o.start_unix_s, o.line_time_s, t,
                       drift_v.front(), drift_v.back());
  }
  Vec2 DriftVelocity(double t) const {
    return Interpolate(drift_v, o.start_unix_s, o.line_time_s, t, Vec2::Zero(),
                       Vec2::Zero());
  }
  const CompensationSegment& SegmentAt(double t) const {
    // The last segment starting at or before t (the first one for t
    // before it).
    auto it = std::upper_bound(
        compensation.begin(), compensation.end(), t,
        [](double u, const CompensationSegment& s) { return u < s.t_start; });
    return it == compensation.begin() ? compensation.front() : *(it - 1);
  }
  Vec2 Compensation(double t) const {
    const CompensationSegment& s = SegmentAt(t);
    return s.c + s.v * (t - s.t_start);
  }
  Vec2 Lag(double t) const {
    Vec2 lag = Vec2::Zero();
    for (const OffsetChange& c : offset_changes) {
      if (t < c.t) break;  // sorted by time
      lag += o.creep_fraction * std::exp(-(t - c.t) / o.creep_tau_s) * c.delta;
    }
    return lag;
  }
  // d − c + lag: where a fixed sample point appears displaced to, scanner
  // nm.
  Vec2 Apparent(double t) const { return Drift(t) - Compensation(t) + Lag(t); }
};

SimulatedInstrument::SimulatedInstrument(SimulatedInstrumentOptions options)
    : state_(std::make_shared<State>()) {
  const Status valid = options.Validate();
  ANCHORD_CHECK(valid.ok()) << valid.message();
  State& s = *state_;
  s.o = std::move(options);
  s.sample = SampleScanOptions(s.o.scan);
  s.px_nm = s.sample.field_of_view_nm / s.sample.width_px;
  // Pixel offsets from the frame centre → scanner: diag(px, −px); the
  // generator's linear map: model → pixel offsets.
  const Mat2 pixel_from_scanner =
      Vec2(1.0 / s.px_nm, -1.0 / s.px_nm).asDiagonal();
  s.model_from_scanner =
      ImageFromModelLinear(s.sample).inverse() * pixel_from_scanner;
  s.drift_v.push_back(s.o.drift_nm_per_s);
  s.drift_d.push_back(Vec2::Zero());
  s.walk_rng.seed(s.o.seed);
  s.compensation.push_back({s.o.start_unix_s, Vec2::Zero(), Vec2::Zero()});
  s.next_start = s.o.start_unix_s;
}

void SimulatedInstrument::SetScanOffset(const Vec2& offset_nm) {
  ANCHORD_CHECK(offset_nm.allFinite()) << Format(offset_nm);
  state_->pending_offset = offset_nm;
}

void SimulatedInstrument::SetDriftCompensation(const Vec2& velocity_nm_per_s) {
  ANCHORD_CHECK(velocity_nm_per_s.allFinite()) << Format(velocity_nm_per_s);
  state_->pending_compensation = velocity_nm_per_s;
}

void SimulatedInstrument::SetDriftCompensationAt(const Vec2& velocity_nm_per_s,
                                                 double unix_s) {
  ANCHORD_CHECK(velocity_nm_per_s.allFinite()) << Format(velocity_nm_per_s);
  State& s = *state_;
  ANCHORD_CHECK(std::isfinite(unix_s) && unix_s >= s.last_end &&
                unix_s >= s.compensation.back().t_start)
      << "compensation change at " << unix_s << " before the last frame's end "
      << s.last_end << " or the latest change";
  if (unix_s == s.compensation.back().t_start) {
    s.compensation.back().v = velocity_nm_per_s;
  } else {
    s.compensation.push_back(
        {unix_s, s.Compensation(unix_s), velocity_nm_per_s});
  }
  s.pending_compensation = velocity_nm_per_s;
}

SimulatedFrame SimulatedInstrument::ScanNextFrame() {
  State& s = *state_;
  const double t0 = s.next_start;
  const int height = s.sample.height_px;
  const double lt = s.o.line_time_s;
  const double duration = height * lt;

  // Settings made since the last frame take effect now.
  if (s.pending_compensation != s.compensation.back().v) {
    if (s.compensation.back().t_start == t0) {
      s.compensation.back().v = s.pending_compensation;
    } else {
      s.compensation.push_back(
          {t0, s.Compensation(t0), s.pending_compensation});
    }
  }
  if (s.pending_offset != s.offset) {
    s.offset_changes.push_back({t0, s.pending_offset - s.offset});
    s.offset = s.pending_offset;
  }
  s.EnsureDriftUntil(t0 + duration);

  SyntheticScanOptions so = s.sample;
  so.offset_nm = s.model_from_scanner * s.offset;
  so.noise_seed = Mix(Mix(Mix(s.o.seed) ^ s.sample.seed) ^
                      static_cast<uint64_t>(s.next_index));
  if (so.noise_seed == 0) so.noise_seed = 1;
  so.row_shift_nm.resize(height);
  for (int y = 0; y < height; ++y) {
    // The tip passes the middle of row y on the forward trace.
    const double ty = t0 + y * lt + 0.25 * lt;
    so.row_shift_nm[y] = s.model_from_scanner * (-s.Apparent(ty));
  }
  const double share = s.o.unresolved_fraction;
  const double j = static_cast<double>(s.next_index) - 2;
  const bool unresolved =
      j >= 0 && std::floor((j + 1) * share) > std::floor(j * share);
  if (unresolved) so.blur_nm = s.o.unresolved_blur_nm;
  const Status valid = so.Validate();
  ANCHORD_CHECK(valid.ok())
      << "apparent motion too fast for the generator: " << valid.message();

  SimulatedFrame out;
  out.scan = MakeSyntheticScan(so);
  out.index = s.next_index;
  out.unresolved = unresolved;
  Frame& f = out.scan.frame;
  f.source = "simulated:seed=" + std::to_string(s.sample.seed) +
             ",frame=" + std::to_string(s.next_index);
  f.acquired_unix_s = t0;
  f.line_time_s = lt;
  f.line_times_s.resize(height);
  for (int y = 0; y < height; ++y) f.line_times_s[y] = y * lt;
  f.scan_offset_x_nm = s.offset.x();
  f.scan_offset_y_nm = s.offset.y();
  f.scan_angle_deg = 0;
  f.direction = "forward";
  f.pixel_size_x_nm = s.px_nm;
  f.pixel_size_y_nm = s.px_nm;
  f.drift_compensation_nm_per_s = s.SegmentAt(t0).v;
  f.drift_compensation_offset_nm = s.Compensation(t0);
  out.drift_velocity_nm_per_s = s.DriftVelocity(t0 + 0.5 * duration);
  out.apparent_start_nm = s.Apparent(t0);
  out.apparent_end_nm = s.Apparent(t0 + duration);

  s.last_end = t0 + duration;
  s.next_start = s.last_end + s.o.frame_gap_s;
  ++s.next_index;
  return out;
}

double SimulatedInstrument::now_unix_s() const { return state_->next_start; }

Vec2 SimulatedInstrument::DriftAt(double unix_s) const {
  return state_->Drift(unix_s);
}

Vec2 SimulatedInstrument::CompensationAt(double unix_s) const {
  return state_->Compensation(unix_s);
}

Vec2 SimulatedInstrument::LagAt(double unix_s) const {
  return state_->Lag(unix_s);
}

Vec2 SimulatedInstrument::ModelFromScanner(const Vec2& scanner_nm,
                                           double unix_s) const {
  return state_->model_from_scanner * (scanner_nm - state_->Apparent(unix_s));
}

const Mat2& SimulatedInstrument::model_from_scanner() const {
  return state_->model_from_scanner;
}

std::vector<SampleDefect> SimulatedInstrument::DefectsIn(
    const Vec2& lo_nm, const Vec2& hi_nm) const {
  std::vector<SampleDefect> out;
  if (!(lo_nm.array() <= hi_nm.array()).all()) return out;
  const SyntheticScanOptions& o = state_->sample;
  const LatticeModel model = MakeSi7x7Model();
  auto inside = [&](const Vec2& m) {
    return (m.array() >= lo_nm.array()).all() &&
           (m.array() <= hi_nm.array()).all();
  };
  const LatticeModel::CellRange cells = model.CellsCovering(lo_nm, hi_nm);
  for (int i = cells.i_min; i <= cells.i_max; ++i) {
    for (int j = cells.j_min; j <= cells.j_max; ++j) {
      const Vec2 origin = model.ModelFromLattice(i, j);
      if (o.vacancy_fraction > 0) {
        for (size_t k = 0; k < model.sites.size(); ++k) {
          const BasisSite& site = model.sites[k];
          // The same arithmetic as the generator's truth positions.
          const Vec2 m =
              origin + model.ModelFromLattice(site.frac.x(), site.frac.y());
          if (!inside(m) || SiteOccupied(o, i, j, static_cast<int>(k))) {
            continue;
          }
          SampleDefect d;
          d.kind = SampleDefect::Kind::kVacancy;
          d.model_nm = m;
          d.i = i;
          d.j = j;
          d.site = static_cast<int>(k);
          out.push_back(d);
        }
      }
      Vec2 m;
      if (FixedAdsorbateInCell(o, i, j, &m) && inside(m)) {
        SampleDefect d;
        d.kind = SampleDefect::Kind::kAdsorbate;
        d.model_nm = m;
        d.i = i;
        d.j = j;
        d.site = -1;
        out.push_back(d);
      }
    }
  }
  std::sort(out.begin(), out.end(),
            [](const SampleDefect& a, const SampleDefect& b) {
              return std::make_tuple(static_cast<int>(a.kind), a.i, a.j, a.site,
                                     a.model_nm.x(), a.model_nm.y()) <
                     std::make_tuple(static_cast<int>(b.kind), b.i, b.j, b.site,
                                     b.model_nm.x(), b.model_nm.y());
            });
  return out;
}

const SimulatedInstrumentOptions& SimulatedInstrument::options() const {
  return state_->o;
}

}  // namespace anchord
