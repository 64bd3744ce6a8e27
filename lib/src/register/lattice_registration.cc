#include "anchord/register/lattice_registration.h"

#include "anchord/util/validation.h"

#include "util/point_index.h"
#include "util/robust.h"
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

namespace anchord {
namespace {

using internal::PointIndex;

struct Context {
  const LatticeModel& model;
  const PointIndex& index;
  cv::Size size;
  double gate_px;
};

// Lattice index range whose points can map into the frame under `t`.
struct IndexRange {
  int i0, i1, j0, j1;
};

// Empty (i0 > i1) when a corner maps to a non-finite point or beyond
// ±2^30 cells.
IndexRange RangeInFrame(const Context& ctx, const Mat3& image_from_model) {
  const Mat3 model_from_image = image_from_model.inverse();
  constexpr int kLimit = 1 << 30;
  IndexRange r{kLimit, -kLimit, kLimit, -kLimit};
  const double w = ctx.size.width, h = ctx.size.height;
  for (const Vec2& c : {Vec2(0, 0), Vec2(w, 0), Vec2(0, h), Vec2(w, h)}) {
    const Vec2 f = ctx.model.LatticeFromModel(Apply(model_from_image, c));
    // NaN fails; within ±2^30 the casts, the ±1 and the spans stay in int.
    if (!(std::abs(f.x()) < kLimit && std::abs(f.y()) < kLimit)) {
      return IndexRange{0, -1, 0, -1};
    }
    r.i0 = std::min(r.i0, static_cast<int>(std::floor(f.x())) - 1);
    r.i1 = std::max(r.i1, static_cast<int>(std::ceil(f.x())) + 1);
    r.j0 = std::min(r.j0, static_cast<int>(std::floor(f.y())) - 1);
    r.j1 = std::max(r.j1, static_cast<int>(std::ceil(f.y())) + 1);
  }
  return r;
}

bool InFrame(const Vec2& p, cv::Size size, double margin) {
  return p.x() >= -margin && p.y() >= -margin &&
         p.x() <= size.width - 1 + margin && p.y() <= size.height - 1 + margin;
}

// Pairs lattice points predicted inside the frame (and inside the window
// around `centre`, if radius > 0) with their nearest candidate within the
// gate; a candidate pairs at most once (the closest lattice point wins).
std::vector<HolePair> Pair(const Context& ctx,
                           const Mat3& image_from_model,
                           const Vec2& centre,
                           double radius) {
  struct Match {
    double dist;
    int i, j, cand;
    Vec2 model;
  };
  std::vector<Match> matches;
  const IndexRange r = RangeInFrame(ctx, image_from_model);
  // Guard against a degenerate transform enumerating absurd ranges.
  if (r.i1 < r.i0 || (static_cast<int64_t>(r.i1) - r.i0) *
                             (static_cast<int64_t>(r.j1) - r.j0) >
                         4000000) {
    return {};
  }
  for (int i = r.i0; i <= r.i1; ++i) {
    for (int j = r.j0; j <= r.j1; ++j) {
      const Vec2 m = ctx.model.ModelFromLattice(i, j);
      const Vec2 p = Apply(image_from_model, m);
      if (!InFrame(p, ctx.size, ctx.gate_px)) continue;
      if (radius > 0 && (p - centre).norm() > radius) continue;
      const auto [cand, d] = ctx.index.Nearest(p);
      if (cand >= 0 && d <= ctx.gate_px) matches.push_back({d, i, j, cand, m});
    }
  }
  std::sort(matches.begin(), matches.end(),
            [](const Match& a, const Match& b) { return a.dist < b.dist; });
  std::set<int> used;
  std::vector<HolePair> pairs;
  for (const Match& m : matches) {
    if (!used.insert(m.cand).second) continue;
    HolePair p;
    p.i = m.i;
    p.j = m.j;
    p.model_nm = m.model;
    p.detected_px = ctx.index.points()[m.cand];
    p.candidate = m.cand;
    pairs.push_back(p);
  }
  return pairs;
}

// Least-squares affine model nm → px; false when under-determined.
bool FitAffine(const std::vector<HolePair>& pairs, Mat3& out) {
  if (pairs.size() < 3) return false;
  Eigen::Matrix3d ata = Eigen::Matrix3d::Zero();
  Eigen::Matrix<double, 3, 2> atb = Eigen::Matrix<double, 3, 2>::Zero();
  for (const HolePair& p : pairs) {
    const Eigen::Vector3d a(p.model_nm.x(), p.model_nm.y(), 1.0);
    ata += a * a.transpose();
    atb += a * p.detected_px.transpose();
  }
  if (std::abs(ata.determinant()) < 1e-9) return false;
  const Eigen::Matrix<double, 3, 2> x = ata.ldlt().solve(atb);
  out = Mat3::Identity();
  out.topRows<2>() = x.transpose();
  return true;
}

// Homography of the pairs (robust when `robust` is set).
bool FitHomography(const std::vector<HolePair>& pairs,
                   std::optional<HomographyMethod> robust,
                   double threshold_px,
                   Mat3& out) {
  std::vector<Vec2> model, image;
  for (const HolePair& p : pairs) {
    model.push_back(p.model_nm);
    image.push_back(p.detected_px);
  }
  return EstimateHomography(model, image, robust, threshold_px, out);
}

// Recomputes every residual under `h` and flags inliers by the rule of
// ResidualInliers. Returns the number of inliers.
int MarkInliers(std::vector<HolePair>& pairs,
                const Mat3& h,
                const RegisterOptions& o,
                double gate_px) {
  std::vector<Vec2> residuals;
  for (HolePair& p : pairs) {
    p.residual_px = p.detected_px - Apply(h, p.model_nm);
    residuals.push_back(p.residual_px);
  }
  const std::vector<bool> inlier =
      ResidualInliers(residuals, o.inlier_sigmas, o.min_inlier_px, gate_px);
  int n = 0;
  for (size_t k = 0; k < pairs.size(); ++k) {
    pairs[k].inlier = inlier[k];
    n += inlier[k];
  }
  return n;
}

std::vector<HolePair> Inliers(const std::vector<HolePair>& pairs) {
  std::vector<HolePair> out;
  for (const HolePair& p : pairs) {
    if (p.inlier) out.push_back(p);
  }
  return out;
}

// Translation search over one cell (Diao et al., Sci. Rep. 15, 13486
// (2025): brute force over x0, y0): every voted candidate near the frame
// centre is tried as the image of the lattice origin; the one that pairs
// most candidates nearby wins.
Mat3 PlaceRoughly(const Context& ctx,
                  const Mat2& linear,
                  double cell_max_px,
                  double window_px) {
  const Vec2 centre(0.5 * (ctx.size.width - 1), 0.5 * (ctx.size.height - 1));
  auto hypotheses = ctx.index.Within(centre, cell_max_px);
  if (hypotheses.size() < 3) hypotheses = ctx.index.KNearest(centre, 3);
  Mat3 best = AffineTransform(linear, centre);
  size_t best_count = 0;
  for (const auto& [k, d] : hypotheses) {
    const Vec2 origin = ctx.index.points()[k];
    const Mat3 t = AffineTransform(linear, origin);
    const size_t count = Pair(ctx, t, origin, window_px).size();
    if (count > best_count) {
      best_count = count;
      best = t;
    }
  }
  return best;
}

// Pairs lattice points that H alone misses (creep at the start of a
// frame): a point is predicted from H plus its paired neighbours'
// residuals (extrapolated linearly where possible), repeatedly, so smooth
// deformations of any size are followed.
void PropagateResiduals(const Context& ctx,
                        const Mat3& h,
                        std::vector<HolePair>& pairs) {
  std::map<std::pair<int, int>, Vec2> residual;
  std::set<int> used;
  for (const HolePair& p : pairs) {
    residual[{p.i, p.j}] = p.residual_px;
    used.insert(p.candidate);
  }
  const IndexRange r = RangeInFrame(ctx, h);
  const int di[6] = {1, -1, 0, 0, 1, -1};
  const int dj[6] = {0, 0, 1, -1, -1, 1};
  for (bool grew = true; grew;) {
    grew = false;
    std::vector<HolePair> found;
    for (int i = r.i0; i <= r.i1; ++i) {
      for (int j = r.j0; j <= r.j1; ++j) {
        if (residual.count({i, j})) continue;
        Vec2 sum = Vec2::Zero();
        int n = 0;
        for (int k = 0; k < 6; ++k) {
          const auto near = residual.find({i + di[k], j + dj[k]});
          if (near == residual.end()) continue;
          // Extrapolate linearly along the row of lattice points when the
          // next one is known too: creep changes fast near row 0.
          const auto far = residual.find({i + 2 * di[k], j + 2 * dj[k]});
          sum += far == residual.end() ? near->second
                                       : Vec2(2.0 * near->second - far->second);
          ++n;
        }
        if (n == 0) continue;
        const Vec2 m = ctx.model.ModelFromLattice(i, j);
        const Vec2 p = Apply(h, m) + sum / n;
        // A hole cut by the frame edge is detected off-centre: it would
        // pull the displacement field, so propagation stays half a gate in.
        if (!InFrame(p, ctx.size, -0.5 * ctx.gate_px)) continue;
        const auto [cand, d] = ctx.index.Nearest(p);
        if (cand < 0 || d > 0.5 * ctx.gate_px || used.count(cand)) continue;
        HolePair hp;
        hp.i = i;
        hp.j = j;
        hp.model_nm = m;
        hp.detected_px = ctx.index.points()[cand];
        hp.candidate = cand;
        hp.residual_px = hp.detected_px - Apply(h, m);
        found.push_back(hp);
      }
    }
    for (const HolePair& hp : found) {
      if (!used.insert(hp.candidate).second) continue;
      residual[{hp.i, hp.j}] = hp.residual_px;
      pairs.push_back(hp);
      grew = true;
    }
  }
}

// Lattice points whose image under h lies inside the frame, at least half
// a gate from its edge (where a hole is detectable).
int LatticePointsInFrame(const Context& ctx, const Mat3& h) {
  const IndexRange r = RangeInFrame(ctx, h);
  int n = 0;
  for (int i = r.i0; i <= r.i1; ++i) {
    for (int j = r.j0; j <= r.j1; ++j) {
      n += InFrame(Apply(h, ctx.model.ModelFromLattice(i, j)), ctx.size,
                   -0.5 * ctx.gate_px);
    }
  }
  return n;
}

void ComputeFigures(RegisterResult& res) {
  const Mat3 model_from_image = res.image_from_model.inverse();
  double sum_px = 0, sum_nm = 0;
  int n = 0;
  for (const HolePair& p : res.pairs) {
    if (!p.inlier) continue;
    sum_px += p.residual_px.squaredNorm();
    sum_nm +=
        (Apply(model_from_image, p.detected_px) - p.model_nm).squaredNorm();
    ++n;
  }
  res.inliers = n;
  res.residual_rms_px = n ? std::sqrt(sum_px / n) : 0.0;
  res.residual_rms_nm = n ? std::sqrt(sum_nm / n) : 0.0;
}

}  // namespace

Status RegisterOptions::Validate() const {
  Violations v("homography");
  ANCHORD_OPTION_IN_OPEN(v, gate_fraction, 0.0, 0.5);
  ANCHORD_OPTION_GT(v, initial_window_cells, 1.0);
  ANCHORD_OPTION_GT(v, window_growth, 1.0);
  ANCHORD_OPTION_IN_OPEN(v, ransac_threshold_fraction, 0.0, 0.5);
  ANCHORD_OPTION_GT(v, inlier_sigmas, 0.0);
  ANCHORD_OPTION_GT(v, min_inlier_px, 0.0);
  ANCHORD_OPTION_GE(v, max_iterations, 1);
  ANCHORD_OPTION_GE(v, min_inliers, 4);
  v.Require(min_paired_fraction > 0 && min_paired_fraction <= 1,
            "min_paired_fraction", min_paired_fraction, "in (0, 1]");
  return v.ToStatus();
}

RegisterResult RegisterLattice(const std::vector<Candidate>& candidates,
                               const LatticeEstimate& lattice,
                               const LatticeModel& model,
                               cv::Size frame_size,
                               const RegisterOptions& o) {
  RegisterResult res;
  std::vector<Vec2> pts;
  for (const Candidate& c : candidates) pts.push_back(c.p_px);
  const PointIndex index(pts);
  const Vec2 b1 = lattice.b1_px, b2 = lattice.b2_px;
  const double cell_min = std::min({b1.norm(), b2.norm(), (b2 - b1).norm()});
  const double cell_max = std::max({b1.norm(), b2.norm(), (b2 - b1).norm()});
  const Context ctx{model, index, frame_size, o.gate_fraction * cell_min};

  // Rough placement A (Diao et al. 2025, Eq. 1): the linear part maps the
  // model basis onto the estimated pixel basis.
  Mat2 model_basis, pixel_basis;
  model_basis << model.a1_nm, model.a2_nm;
  pixel_basis << b1, b2;
  const Mat2 linear = pixel_basis * model_basis.inverse();
  const double window0 = o.initial_window_cells * cell_max;
  Mat3 t = PlaceRoughly(ctx, linear, cell_max, window0);

  // Grow the pairing window from the centre, refitting an affine map, so
  // that the lattice estimate's small errors never accumulate over the
  // frame into a wrong pairing.
  const Vec2 centre = Apply(t, Vec2::Zero());
  const double diagonal = std::hypot(frame_size.width, frame_size.height);
  for (double radius = window0;; radius *= o.window_growth) {
    Mat3 next;
    if (FitAffine(Pair(ctx, t, centre, radius), next)) t = next;
    if (radius > diagonal) break;
  }

  std::vector<HolePair> pairs = Pair(ctx, t, centre, 0.0);
  Mat3 h;
  if (!FitHomography(pairs, o.method, o.ransac_threshold_fraction * cell_min,
                     h)) {
    res.status = Status::NoLattice("register: robust homography failed on " +
                                   std::to_string(pairs.size()) + " pairs");
    return res;
  }
  // Pair → fit over the whole frame until the inlier set is stable.
  std::vector<std::pair<int, int>> previous;
  for (res.iterations = 1; res.iterations <= o.max_iterations;
       ++res.iterations) {
    MarkInliers(pairs, h, o, ctx.gate_px);
    Mat3 refit;
    if (!FitHomography(Inliers(pairs), std::nullopt, 0.0, refit)) break;
    h = refit;
    pairs = Pair(ctx, h, centre, 0.0);
    MarkInliers(pairs, h, o, ctx.gate_px);
    std::vector<std::pair<int, int>> current;
    for (const HolePair& p : pairs) {
      if (p.inlier) current.emplace_back(p.i, p.j);
    }
    if (current == previous) break;
    previous = std::move(current);
  }
  res.image_from_model = h;
  pairs = Inliers(pairs);
  if (o.propagate_residuals) PropagateResiduals(ctx, h, pairs);
  res.pairs = std::move(pairs);
  ComputeFigures(res);
  if (res.inliers < o.min_inliers) {
    std::ostringstream s;
    s << "register: only " << res.inliers
      << " corner holes fit one homography (need " << o.min_inliers << ")";
    res.status = Status::NoLattice(s.str());
    return res;
  }
  const int points = LatticePointsInFrame(ctx, h);
  if (res.pairs.size() < o.min_paired_fraction * points) {
    std::ostringstream s;
    s << "register: only " << res.pairs.size() << " of " << points
      << " lattice points in the frame have a corner hole (need "
      << 100 * o.min_paired_fraction << " %)";
    res.status = Status::NoLattice(s.str());
  }
  return res;
}

}  // namespace anchord
