#include "sites/occupancy_template.h"

#include "util/image_sample.h"
#include "util/robust.h"

#include <algorithm>
#include <cmath>

namespace anchord::internal {
namespace {

// Bilinear interpolation at a point known to lie in [0, cols − 1] ×
// [0, rows − 1] (an image of at least 2 × 2 px): internal::Bilinear
// without its NaN and border clamps, which the callers' inside test makes
// redundant; on the last column or row it reads the cell before it.
inline double BilinearInside(const cv::Mat1f& img, const Vec2& p) {
  const int x0 = std::min(static_cast<int>(p.x()), img.cols - 2);
  const int y0 = std::min(static_cast<int>(p.y()), img.rows - 2);
  const double fx = p.x() - x0, fy = p.y() - y0;
  const float* r0 = img[y0] + x0;
  const float* r1 = img[y0 + 1] + x0;
  return (1 - fy) * ((1 - fx) * r0[0] + fx * r0[1]) +
         fy * ((1 - fx) * r1[0] + fx * r1[1]);
}

// The patch: offsets d (canonical site frame, nm) on a square grid of
// kSide × kSide points half the window σ apart, row-major, with Gaussian
// weights, 0 beyond two σ (those points are never sampled).
constexpr int kHalf = 4;  // 2σ / (σ / 2)
constexpr int kSide = 2 * kHalf + 1;

struct PatchGrid {
  std::vector<Vec2> offset_nm;
  std::vector<double> weight;
  std::vector<int> active;  // the points of non-zero weight
};

PatchGrid MakeGrid(double sigma_nm) {
  PatchGrid g;
  const double step = sigma_nm / 2.0;
  for (int iy = -kHalf; iy <= kHalf; ++iy) {
    for (int ix = -kHalf; ix <= kHalf; ++ix) {
      const Vec2 d(ix * step, iy * step);
      const double r2 = d.squaredNorm() / (sigma_nm * sigma_nm);
      if (r2 <= 4.0) g.active.push_back(static_cast<int>(g.weight.size()));
      g.offset_nm.push_back(d);
      g.weight.push_back(r2 > 4.0 ? 0.0 : std::exp(-0.5 * r2));
    }
  }
  return g;
}

// The template with its adatom taken out: inside `radius_nm` of the site
// the values are replaced by the harmonic fill-in of the values around
// (Jacobi iterations, bounded), which keeps whatever varies linearly
// across the patch — the flank of a nearby corner hole, a slope — and
// removes the bump. What a vacancy at this site would look like if the
// adatom left nothing behind.
std::vector<double> RemoveAdatom(const std::vector<double>& t,
                                 const PatchGrid& grid,
                                 double radius_nm) {
  std::vector<bool> inner(t.size());
  double ring = 0;
  int ring_n = 0;
  for (size_t m = 0; m < t.size(); ++m) {
    inner[m] = grid.offset_nm[m].norm() < radius_nm;
    const int ix = static_cast<int>(m) % kSide,
              iy = static_cast<int>(m) / kSide;
    const bool edge = ix == 0 || iy == 0 || ix == kSide - 1 || iy == kSide - 1;
    inner[m] = inner[m] && !edge;
    if (!inner[m] && grid.offset_nm[m].norm() < radius_nm * 1.5) {
      ring += t[m];
      ++ring_n;
    }
  }
  std::vector<double> v = t;
  for (size_t m = 0; m < t.size(); ++m) {
    if (inner[m]) v[m] = ring_n ? ring / ring_n : 0.0;
  }
  constexpr int kIterations = 100;  // ≫ kSide², converged
  std::vector<double> next = v;
  for (int it = 0; it < kIterations; ++it) {
    for (size_t m = 0; m < v.size(); ++m) {
      if (!inner[m]) continue;
      next[m] = 0.25 * (v[m - 1] + v[m + 1] + v[m - kSide] + v[m + kSide]);
    }
    v.swap(next);
  }
  return v;
}

// One site's patch at one alignment: values and weights (0 where the
// sample falls outside the frame).
struct Patch {
  std::vector<double> value;
  std::vector<double> weight;
  bool complete = true;  // every sample inside the frame
};

// The patch points of site s in image px relative to its position, one
// per active grid point (the map applied once per site), and their
// bounding box.
struct PatchOffsets {
  std::vector<Vec2> px;
  Vec2 lo = Vec2::Zero(), hi = Vec2::Zero();
};

PatchOffsets PixelOffsets(const TemplateSite& s, const PatchGrid& grid) {
  PatchOffsets out;
  out.px.reserve(grid.active.size());
  for (const int m : grid.active) {
    out.px.push_back(s.image_from_site * grid.offset_nm[m]);
  }
  if (!out.px.empty()) out.lo = out.hi = out.px.front();
  for (const Vec2& d : out.px) {
    out.lo = out.lo.cwiseMin(d);
    out.hi = out.hi.cwiseMax(d);
  }
  return out;
}

// Samples site s's patch at `shift_nm` into p (its buffers reused);
// `offsets` = PixelOffsets(s, grid).
void SamplePatchInto(const cv::Mat1f& img,
                     const TemplateSite& s,
                     const PatchOffsets& offsets,
                     const Vec2& shift_nm,
                     const PatchGrid& grid,
                     Patch& p) {
  p.complete = true;
  // Points outside the active set are never written: zero once.
  if (p.value.size() != grid.offset_nm.size()) {
    p.value.assign(grid.offset_nm.size(), 0.0);
    p.weight.assign(grid.offset_nm.size(), 0.0);
  }
  const Vec2 base = s.p_px + s.image_from_site * shift_nm;
  const double x_max = img.cols - 1, y_max = img.rows - 1;
  for (size_t a = 0; a < grid.active.size(); ++a) {
    const int m = grid.active[a];
    const Vec2 q = base + offsets.px[a];
    const bool inside =
        q.x() >= 0 && q.y() >= 0 && q.x() <= x_max && q.y() <= y_max;
    if (!inside) {
      p.complete = false;
      p.value[m] = 0.0;
      p.weight[m] = 0.0;
      continue;
    }
    p.value[m] = BilinearInside(img, q);
    p.weight[m] = grid.weight[m];
  }
}

// Removes the patch's weighted mean (the local background level).
void Centre(std::vector<double>& v, const std::vector<double>& w) {
  double sw = 0, swv = 0;
  for (size_t m = 0; m < v.size(); ++m) {
    sw += w[m];
    swv += w[m] * v[m];
  }
  const double mean = sw > 0 ? swv / sw : 0.0;
  for (double& x : v) x -= mean;
}

// The patch fitted between the two references, weighted least squares
// over its samples inside the frame: c ≈ V + α·(T − V) + offset, so α = 1
// is the occupied template and α = 0 the adatom-free one; r is the
// weighted Pearson correlation of c with T (the alignment's score).
struct Projection {
  double alpha = 0;
  double r = -2;
};

// The projection's weighted sums, one term at a time; centring by the
// covariance identities.
struct ProjectionSums {
  double sw = 0, sc = 0, st = 0, sv = 0;
  double scc = 0, stt = 0, svv = 0, sct = 0, scv = 0, stv = 0;

  void Add(double w, double c, double tm, double vm) {
    sw += w;
    sc += w * c;
    st += w * tm;
    sv += w * vm;
    scc += w * c * c;
    stt += w * tm * tm;
    svv += w * vm * vm;
    sct += w * c * tm;
    scv += w * c * vm;
    stv += w * tm * vm;
  }

  Projection Solve() const {
    Projection out;
    if (sw <= 0) return out;
    const auto cov = [this](double ab, double a, double b) {
      return ab - a * b / sw;
    };
    const double ct = cov(sct, sc, st), tt = cov(stt, st, st);
    const double cc = cov(scc, sc, sc), cv = cov(scv, sc, sv);
    const double tv = cov(stv, st, sv), vv = cov(svv, sv, sv);
    const double rd = ct - cv - tv + vv;  // ⟨c − V, T − V⟩, centred
    const double dd = tt - 2 * tv + vv;   // ⟨T − V, T − V⟩, centred
    if (tt <= 0 || dd <= 0) return out;
    out.alpha = rd / dd;
    out.r = cc > 0 ? ct / std::sqrt(cc * tt) : 0.0;
    return out;
  }
};

// The two classes' references of one group: the occupied template and
// the same with the adatom taken out (RemoveAdatom).
struct Templates {
  std::vector<double> occupied;
  std::vector<double> vacant;
  // The template-only sums (sw, st, sv, stt, svv, stv) over every active
  // grid point in grid order, the patch's four left 0: a patch inside the
  // frame starts from these (ProjectAt).
  ProjectionSums complete;
  // Weight, occupied and vacant value per active grid point, in the
  // order of grid.active (ProjectAt's inner loop reads them in a row).
  std::vector<double> active_weight, active_occupied, active_vacant;
};

// Fills t.complete and the active arrays from t.occupied and t.vacant.
void CompleteSums(const PatchGrid& grid, Templates& t) {
  t.complete = ProjectionSums{};
  t.active_weight.clear();
  t.active_occupied.clear();
  t.active_vacant.clear();
  for (const int m : grid.active) {
    t.complete.Add(grid.weight[m], 0.0, t.occupied[m], t.vacant[m]);
    t.active_weight.push_back(grid.weight[m]);
    t.active_occupied.push_back(t.occupied[m]);
    t.active_vacant.push_back(t.vacant[m]);
  }
  t.complete.sc = t.complete.scc = t.complete.sct = t.complete.scv = 0;
}

// Shifts of the alignment search: a grid of half the search radius.
std::vector<Vec2> Shifts(double max_shift_nm) {
  std::vector<Vec2> out{Vec2::Zero()};
  if (max_shift_nm <= 0) return out;
  const double step = 0.5 * max_shift_nm;
  for (int iy = -2; iy <= 2; ++iy) {
    for (int ix = -2; ix <= 2; ++ix) {
      if (ix == 0 && iy == 0) continue;
      const Vec2 d(ix * step, iy * step);
      if (d.norm() <= max_shift_nm * (1 + 1e-9)) out.push_back(d);
    }
  }
  return out;
}

// The best-correlated alignment of site s to template t.
struct Aligned {
  Patch patch;
  Projection fit;
  Vec2 shift_nm = Vec2::Zero();
};

// The sums of the projection of site s's patch at `shift_nm` onto t,
// sampled and summed in one pass without storing the patch: the
// alignment search's inner loop. The same terms in the same order as
// sampling the patch and summing over it, so the same result. A patch
// inside the frame (nearly all; its bounding box tells, rounding being
// monotone) is summed without a per-point test.
Projection ProjectAt(const cv::Mat1f& img,
                     const TemplateSite& s,
                     const PatchOffsets& offsets,
                     const Vec2& shift_nm,
                     const Templates& t,
                     const PatchGrid& grid) {
  const Vec2 base = s.p_px + s.image_from_site * shift_nm;
  const double x_max = img.cols - 1, y_max = img.rows - 1;
  const Vec2 lo = base + offsets.lo, hi = base + offsets.hi;
  const std::vector<Vec2>& px = offsets.px;
  if (lo.x() >= 0 && lo.y() >= 0 && hi.x() <= x_max && hi.y() <= y_max) {
    // The template's sums are t.complete; only the patch's four are
    // accumulated.
    ProjectionSums z = t.complete;
    const double* w = t.active_weight.data();
    const double* to = t.active_occupied.data();
    const double* tv = t.active_vacant.data();
    for (size_t a = 0; a < px.size(); ++a) {
      const double c = BilinearInside(img, base + px[a]);
      const double wc = w[a] * c;
      z.sc += wc;
      z.scc += wc * c;
      z.sct += wc * to[a];
      z.scv += wc * tv[a];
    }
    return z.Solve();
  }
  const auto inside = [&](const Vec2& q) {
    return q.x() >= 0 && q.y() >= 0 && q.x() <= x_max && q.y() <= y_max;
  };
  ProjectionSums z;
  for (size_t a = 0; a < grid.active.size(); ++a) {
    const Vec2 q = base + px[a];
    if (!inside(q)) continue;
    const int m = grid.active[a];
    z.Add(grid.weight[m], BilinearInside(img, q), t.occupied[m], t.vacant[m]);
  }
  return z.Solve();
}

// The best-scoring alignment over `shifts` (the first of equal scores;
// the first shift when none scores); best.patch keeps its buffers across
// calls and is sampled once, at the winning shift.
void Align(const cv::Mat1f& img,
           const TemplateSite& s,
           const PatchOffsets& px,
           const Templates& t,
           const std::vector<Vec2>& shifts,
           const PatchGrid& grid,
           Aligned& best) {
  best.fit = Projection{};
  best.shift_nm = shifts.front();
  for (const Vec2& d : shifts) {
    const Projection f = ProjectAt(img, s, px, d, t, grid);
    if (f.r > best.fit.r) {
      best.fit = f;
      best.shift_nm = d;
    }
  }
  SamplePatchInto(img, s, px, best.shift_nm, grid, best.patch);
}

// The group's template: the mean (or, with no labels yet, the
// per-sample median) of its complete centred patches; empty when fewer
// than kMinSites are complete.
constexpr int kMinSites = 8;

std::vector<double> BuildTemplate(const std::vector<Patch>& patches,
                                  const std::vector<int>& members,
                                  const std::vector<bool>* occupied,
                                  const PatchGrid& grid) {
  std::vector<std::vector<double>> centred;
  for (int k : members) {
    if (!patches[k].complete) continue;
    if (occupied != nullptr && !(*occupied)[k]) continue;
    std::vector<double> c = patches[k].value;
    Centre(c, grid.weight);
    centred.push_back(std::move(c));
  }
  if (static_cast<int>(centred.size()) < kMinSites) return {};
  const size_t n = grid.weight.size();
  std::vector<double> t(n, 0.0);
  std::vector<double> column(centred.size());
  for (size_t m = 0; m < n; ++m) {
    for (size_t k = 0; k < centred.size(); ++k) column[k] = centred[k][m];
    if (occupied == nullptr) {
      t[m] = Median(column);
    } else {
      double sum = 0;
      for (double v : column) sum += v;
      t[m] = sum / static_cast<double>(column.size());
    }
  }
  Centre(t, grid.weight);
  return t;
}

// The two-class fit of one group (see the file comment); writes each
// member's posterior probability of a vacancy into `p_vacant`.
void TwoClassFit(const std::vector<double>& alpha,
                 const std::vector<int>& members,
                 std::vector<double>& p_vacant,
                 double& prior) {
  std::vector<double> a;
  for (int k : members) a.push_back(alpha[k]);
  std::vector<double> tmp = a;
  const double mu_o = Median(tmp);
  tmp = a;
  const double sd = std::max(RobustSigma(tmp), 0.02 * std::abs(mu_o) + 1e-9);
  // The vacancy class: no bump (at most 0) and well apart from the
  // occupied class (3 spreads below its centre).
  const double cap = std::min(0.0, mu_o - 3.0 * sd);
  double mu_v = cap;
  prior = 0.05;
  constexpr int kIterations = 100;
  std::vector<double> post(a.size(), 0.0);
  for (int it = 0; it < kIterations; ++it) {
    double sum = 0, sum_a = 0;
    for (size_t k = 0; k < a.size(); ++k) {
      // Log-likelihood ratio vacant : occupied, equal spreads.
      const double zo = (a[k] - mu_o) / sd, zv = (a[k] - mu_v) / sd;
      const double lo =
          std::log(prior / (1 - prior)) + 0.5 * (zo * zo - zv * zv);
      post[k] = 1.0 / (1.0 + std::exp(-std::clamp(lo, -700.0, 700.0)));
      sum += post[k];
      sum_a += post[k] * a[k];
    }
    const double next_prior =
        std::clamp(sum / std::max<size_t>(1, a.size()), 1e-4, 0.5);
    const double next_mu = sum > 1e-9 ? std::min(cap, sum_a / sum) : cap;
    const bool converged = std::abs(next_prior - prior) < 1e-7 &&
                           std::abs(next_mu - mu_v) < 1e-7 * sd;
    prior = next_prior;
    mu_v = next_mu;
    if (converged) break;
  }
  for (size_t k = 0; k < members.size(); ++k) p_vacant[members[k]] = post[k];
}

}  // namespace

OccupancyFit FitOccupancyTemplates(const cv::Mat1f& smooth,
                                   const std::vector<TemplateSite>& sites,
                                   const TemplateFitOptions& o) {
  const size_t n = sites.size();
  OccupancyFit fit;
  fit.amplitude.assign(n, 1.0);
  fit.occupied.assign(n, true);
  fit.confidence.assign(n, 0.5);
  fit.vacancy_prior.assign(o.groups, 0.0);
  const PatchGrid grid = MakeGrid(o.window_sigma_nm);
  const std::vector<Vec2> shifts = Shifts(o.max_shift_nm);
  std::vector<std::vector<int>> members(o.groups);
  for (size_t k = 0; k < n; ++k) {
    if (sites[k].group >= 0 && sites[k].group < o.groups) {
      members[sites[k].group].push_back(static_cast<int>(k));
    }
  }
  std::vector<Patch> patches(n);
  std::vector<PatchOffsets> px(n);
  for (size_t k = 0; k < n; ++k) {
    px[k] = PixelOffsets(sites[k], grid);
    SamplePatchInto(smooth, sites[k], px[k], Vec2::Zero(), grid, patches[k]);
  }
  std::vector<double> p_vacant(n, 0.0);
  // Per group: a first template from the per-sample median patch (most
  // sites are occupied), then three rounds of: align every site to the
  // template, fit the two classes, rebuild the template from the sites
  // found occupied. The image is its own reference, whatever the tip,
  // bias or channel made of an adatom.
  constexpr int kRounds = 3;
  std::vector<Patch> aligned(n);
  std::vector<Vec2> shift(n, Vec2::Zero());
  Aligned best;
  for (int g = 0; g < o.groups; ++g) {
    Templates t;
    t.occupied = BuildTemplate(patches, members[g], nullptr, grid);
    if (t.occupied.empty()) continue;
    t.vacant = RemoveAdatom(t.occupied, grid, o.adatom_radius_nm);
    CompleteSums(grid, t);
    for (int round = 0; round < kRounds; ++round) {
      for (int k : members[g]) {
        // The alignment is searched against the first template and kept.
        const std::vector<Vec2> kept{shift[k]};
        Align(smooth, sites[k], px[k], t, round != 1 ? shifts : kept, grid,
              best);
        fit.amplitude[k] = best.fit.alpha;
        aligned[k] = best.patch;
        shift[k] = best.shift_nm;
      }
      TwoClassFit(fit.amplitude, members[g], p_vacant, fit.vacancy_prior[g]);
      for (int k : members[g]) fit.occupied[k] = p_vacant[k] < 0.5;
      if (round + 1 == kRounds) break;
      std::vector<double> next =
          BuildTemplate(aligned, members[g], &fit.occupied, grid);
      if (next.empty()) break;
      t.occupied = std::move(next);
      t.vacant = RemoveAdatom(t.occupied, grid, o.adatom_radius_nm);
      CompleteSums(grid, t);
    }
    for (int k : members[g]) {
      fit.confidence[k] = std::max(p_vacant[k], 1.0 - p_vacant[k]);
    }
  }
  return fit;
}

}  // namespace anchord::internal
