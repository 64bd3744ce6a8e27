#include "anchord/quality/image_quality.h"

#include "anchord/correct/unit_cell.h"
#include "anchord/util/validation.h"

#include "util/robust.h"
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

namespace anchord {
namespace {

// The template's shapes: typical apparent widths on Si(111)-7×7 (the
// synthetic generator's defaults, anchord/synth/synthetic_scan.h).
constexpr double kAdatomSigmaNm = 0.17;
constexpr double kHoleSigmaNm = 0.30;
constexpr double kHoleDepth = 1.6;

// One cell of the model's height on bins × bins lattice coordinates (bin
// centres), periodic: the sites of the cell and its neighbours, each
// Gaussian cut at 4σ.
cv::Mat1f ModelCell(const LatticeModel& model,
                    int bins,
                    double faulted_contrast) {
  struct Bump {
    Vec2 p;
    double amplitude, inv_two_var, reach2;
  };
  std::vector<Bump> bumps;
  const double adatom = 1.0 / (2 * kAdatomSigmaNm * kAdatomSigmaNm);
  const double hole = 1.0 / (2 * kHoleSigmaNm * kHoleSigmaNm);
  for (int di = -1; di <= 1; ++di) {
    for (int dj = -1; dj <= 1; ++dj) {
      for (const BasisSite& s : model.sites) {
        bumps.push_back(
            {model.ModelFromLattice(s.frac.x() + di, s.frac.y() + dj),
             1.0 + (s.half == Half::kT1 ? faulted_contrast : 0.0), adatom,
             16 * kAdatomSigmaNm * kAdatomSigmaNm});
      }
    }
  }
  for (int di = -1; di <= 2; ++di) {
    for (int dj = -1; dj <= 2; ++dj) {
      bumps.push_back({model.ModelFromLattice(di, dj), -kHoleDepth, hole,
                       16 * kHoleSigmaNm * kHoleSigmaNm});
    }
  }
  cv::Mat1f cell(bins, bins, 0.0f);
  for (int bv = 0; bv < bins; ++bv) {
    for (int bu = 0; bu < bins; ++bu) {
      const Vec2 m =
          model.ModelFromLattice((bu + 0.5) / bins, (bv + 0.5) / bins);
      double h = 0;
      for (const Bump& b : bumps) {
        const double d2 = (m - b.p).squaredNorm();
        if (d2 < b.reach2) h += b.amplitude * std::exp(-d2 * b.inv_two_var);
      }
      cell(bv, bu) = static_cast<float>(h);
    }
  }
  return cell - cv::mean(cell)[0];
}

// Zero mean, unit standard deviation (unchanged when flat).
cv::Mat1f Standardise(const cv::Mat1f& img) {
  cv::Scalar mean, sd;
  cv::meanStdDev(img, mean, sd);
  cv::Mat1f out = img - mean[0];
  if (sd[0] > 0) out *= 1.0 / sd[0];
  return out;
}

// Minimum-cost assignment of the rows of a square cost matrix (the
// Hungarian method with potentials, O(n³)); returns the total cost.
double AssignmentCost(const std::vector<double>& cost, int n) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(n + 1, 0), way_min(n + 1);
  std::vector<int> p(n + 1, 0), way(n + 1, 0);
  std::vector<bool> used(n + 1);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::fill(way_min.begin(), way_min.end(), inf);
    std::fill(used.begin(), used.end(), false);
    // Each pass fixes one more column; at most n + 1 passes per row.
    for (int pass = 0; pass <= n; ++pass) {
      used[j0] = true;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= n; ++j) {
        if (used[j]) continue;
        const double cur = cost[(i0 - 1) * n + (j - 1)] - u[i0] - v[j];
        if (cur < way_min[j]) {
          way_min[j] = cur;
          way[j] = j0;
        }
        if (way_min[j] < delta) {
          delta = way_min[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= n; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          way_min[j] -= delta;
        }
      }
      j0 = j1;
      if (p[j0] == 0) break;
    }
    for (int pass = 0; pass <= n && j0 != 0; ++pass) {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    }
  }
  double total = 0;
  for (int j = 1; j <= n; ++j) {
    if (p[j] > 0) total += cost[(p[j] - 1) * n + (j - 1)];
  }
  return total;
}

// Union-find over point indices.
int Root(std::vector<int>& parent, int k) {
  while (parent[k] != k) {
    parent[k] = parent[parent[k]];
    k = parent[k];
  }
  return k;
}

}  // namespace

Status QualityOptions::Validate() const {
  Violations v("quality");
  ANCHORD_OPTION_IN_CLOSED(v, ssim_window_nm, 0.05, 2.0);
  ANCHORD_OPTION_IN_CLOSED(v, low_cell_ssim, -1.0, 1.0);
  v.Require(emd_cap_nm > 0 && emd_cap_nm <= 2, "emd_cap_nm", emd_cap_nm,
            "in (0, 2]");
  return v.ToStatus();
}

Status TipChangeOptions::Validate() const {
  Violations v("tip_change");
  v.Require(drop > 0 && drop <= 2, "drop", drop, "in (0, 2]");
  ANCHORD_OPTION_IN_CLOSED(v, history, 1, 1000);
  v.Require(min_history >= 1 && min_history <= history, "min_history",
            min_history, "in [1, history]");
  return v.ToStatus();
}

cv::Mat1f RenderModelTemplate(const LatticeModel& model,
                              const Mat3& image_from_model,
                              cv::Size size,
                              double pixel_nm,
                              double faulted_contrast) {
  if (!(pixel_nm > 0) || size.empty()) return cv::Mat1f();
  const double cell_px = model.lattice_constant_nm() / pixel_nm;
  const int bins = std::clamp(static_cast<int>(std::ceil(cell_px)), 16, 64);
  UnitCellMean cell;
  cell.bins = bins;
  cell.mean = ModelCell(model, bins,
                        std::isfinite(faulted_contrast) ? faulted_contrast : 0);
  cell.filled_fraction = 1;
  return RenderUnitCell(cell, size, image_from_model, model);
}

cv::Mat1f SsimMap(const cv::Mat1f& a,
                  const cv::Mat1f& b,
                  double window_px,
                  int shrink) {
  const cv::Mat1f x = Standardise(a), y = Standardise(b);
  const int f = std::max(1, shrink);
  const cv::Size small(std::max(1, a.cols / f), std::max(1, a.rows / f));
  // An f × f box mean has variance f²/12 per axis: the Gaussian after it
  // supplies the rest of window².
  const double sigma =
      std::max(0.5, std::sqrt(std::max(0.0, window_px * window_px -
                                                (f > 1 ? f * f / 12.0 : 0))) /
                        f);
  const auto local_mean = [&](const cv::Mat1f& m) {
    cv::Mat1f shrunk = m, out;
    if (f > 1) cv::resize(m, shrunk, small, 0, 0, cv::INTER_AREA);
    cv::GaussianBlur(shrunk, out, cv::Size(), sigma, sigma, cv::BORDER_REFLECT);
    return out;
  };
  const cv::Mat1f mx = local_mean(x), my = local_mean(y);
  const cv::Mat1f sxx = local_mean(x.mul(x)) - mx.mul(mx);
  const cv::Mat1f syy = local_mean(y.mul(y)) - my.mul(my);
  const cv::Mat1f sxy = local_mean(x.mul(y)) - mx.mul(my);
  constexpr double kRange = 6.0;
  const float c1 = static_cast<float>(std::pow(0.01 * kRange, 2));
  const float c2 = static_cast<float>(std::pow(0.03 * kRange, 2));
  cv::Mat1f num = (2 * mx.mul(my) + c1).mul(2 * sxy + c2);
  cv::Mat1f den = (mx.mul(mx) + my.mul(my) + c1).mul(sxx + syy + c2);
  cv::Mat1f out;
  cv::divide(num, den, out);
  return out;
}

std::vector<Vec2> DetectMaxima(const cv::Mat1f& smoothed,
                               double min_separation_px) {
  std::vector<Vec2> out;
  if (smoothed.rows < 5 || smoothed.cols < 5) return out;
  const int r =
      std::clamp(static_cast<int>(std::lround(min_separation_px)), 1, 64);
  cv::Mat1f dilated;
  cv::dilate(smoothed, dilated,
             cv::getStructuringElement(cv::MORPH_ELLIPSE,
                                       cv::Size(2 * r + 1, 2 * r + 1)));
  std::vector<double> sample;
  const int step = std::max(1, static_cast<int>(smoothed.total() / 8192));
  for (size_t k = 0; k < smoothed.total(); k += step) {
    sample.push_back(smoothed(static_cast<int>(k / smoothed.cols),
                              static_cast<int>(k % smoothed.cols)));
  }
  const double median = internal::Median(sample);
  for (int y = 2; y < smoothed.rows - 2; ++y) {
    for (int x = 2; x < smoothed.cols - 2; ++x) {
      const float c = smoothed(y, x);
      if (!(c > median) || c < dilated(y, x)) continue;
      // Plateaus: only the first pixel of equal maxima in raster order.
      if (smoothed(y, x - 1) == c || smoothed(y - 1, x) == c) continue;
      const double dx2 = smoothed(y, x + 1) - 2.0 * c + smoothed(y, x - 1);
      const double dy2 = smoothed(y + 1, x) - 2.0 * c + smoothed(y - 1, x);
      const double dx = 0.5 * (smoothed(y, x + 1) - smoothed(y, x - 1));
      const double dy = 0.5 * (smoothed(y + 1, x) - smoothed(y - 1, x));
      const double ox = dx2 < 0 ? std::clamp(-dx / dx2, -0.5, 0.5) : 0.0;
      const double oy = dy2 < 0 ? std::clamp(-dy / dy2, -0.5, 0.5) : 0.0;
      out.emplace_back(x + ox, y + oy);
    }
  }
  return out;
}

double SaturatedEmd(const std::vector<Vec2>& a,
                    const std::vector<Vec2>& b,
                    double cap,
                    bool* exact,
                    int max_cluster) {
  if (exact != nullptr) *exact = true;
  const size_t flow = std::min(a.size(), b.size());
  if (flow == 0 || !(cap > 0)) return 0.0;
  // The smaller set moves all its mass; within a cluster a point of it is
  // matched to a point of the other set at min(d, cap) or leaves it at
  // cap (matched to any leftover point elsewhere at the saturated cost).
  const bool a_small = a.size() <= b.size();
  const std::vector<Vec2>& s = a_small ? a : b;
  const std::vector<Vec2>& l = a_small ? b : a;
  const int ns = static_cast<int>(s.size()), nl = static_cast<int>(l.size());
  // Links below cap, found through a grid of cap-sized buckets.
  std::unordered_map<int64_t, std::vector<int>> buckets;
  const auto key = [cap](const Vec2& p, int dx, int dy) -> int64_t {
    const double bx = std::clamp(std::floor(p.x() / cap), -1e9, 1e9) + dx;
    const double by = std::clamp(std::floor(p.y() / cap), -1e9, 1e9) + dy;
    return static_cast<int64_t>(bx) * 4000000007LL + static_cast<int64_t>(by);
  };
  for (int k = 0; k < nl; ++k) buckets[key(l[k], 0, 0)].push_back(k);
  std::vector<int> parent(ns + nl);
  std::iota(parent.begin(), parent.end(), 0);
  for (int i = 0; i < ns; ++i) {
    for (int dx = -1; dx <= 1; ++dx) {
      for (int dy = -1; dy <= 1; ++dy) {
        const auto it = buckets.find(key(s[i], dx, dy));
        if (it == buckets.end()) continue;
        for (int k : it->second) {
          if ((s[i] - l[k]).norm() < cap) {
            parent[Root(parent, i)] = Root(parent, ns + k);
          }
        }
      }
    }
  }
  std::unordered_map<int, std::pair<std::vector<int>, std::vector<int>>> groups;
  for (int i = 0; i < ns; ++i) groups[Root(parent, i)].first.push_back(i);
  for (int k = 0; k < nl; ++k) {
    const int root = Root(parent, ns + k);
    const auto it = groups.find(root);
    if (it != groups.end()) it->second.second.push_back(k);
  }
  double total = 0;
  for (const auto& [root, members] : groups) {
    const std::vector<int>& si = members.first;
    const std::vector<int>& li = members.second;
    if (li.empty()) {
      total += cap * si.size();
      continue;
    }
    const int n = static_cast<int>(std::max(si.size(), li.size()));
    if (n > max_cluster) {
      // Greedy: each point of the smaller set takes its nearest free one.
      if (exact != nullptr) *exact = false;
      std::vector<bool> taken(li.size(), false);
      for (int i : si) {
        double best = cap;
        int pick = -1;
        for (size_t k = 0; k < li.size(); ++k) {
          const double d = (s[i] - l[li[k]]).norm();
          if (!taken[k] && d < best) {
            best = d;
            pick = static_cast<int>(k);
          }
        }
        if (pick >= 0) taken[pick] = true;
        total += best;
      }
      continue;
    }
    // Square: rows are the smaller set's points (missing rows cost 0),
    // columns the other's (missing columns, the exit, cost cap).
    std::vector<double> cost(static_cast<size_t>(n) * n, 0.0);
    for (int r = 0; r < n; ++r) {
      for (int c = 0; c < n; ++c) {
        double v = 0;
        if (r < static_cast<int>(si.size())) {
          v = c < static_cast<int>(li.size())
                  ? std::min(cap, (s[si[r]] - l[li[c]]).norm())
                  : cap;
        }
        cost[static_cast<size_t>(r) * n + c] = v;
      }
    }
    total += AssignmentCost(cost, n);
  }
  return total / static_cast<double>(flow);
}

FrameQuality AssessQuality(const cv::Mat1f& levelled,
                           const SitesResult& sites,
                           const LatticeModel& model,
                           double pixel_nm,
                           const QualityOptions& o) {
  FrameQuality q;
  if (levelled.empty() || !(pixel_nm > 0) || !cv::checkRange(levelled)) {
    q.status = Status::InvalidInput("quality: empty or non-finite frame");
    return q;
  }
  const Mat3& h = sites.image_from_model;
  // The SSIM map on a grid shrunk by an integer factor f that keeps the
  // window at least 2 px there (the map is smooth on the window's scale);
  // the local moments still come from every pixel (SsimMap). Pixel
  // (xs, ys) of the map sits at f·xs + (f − 1)/2 of the frame.
  const double window_px = o.ssim_window_nm / pixel_nm;
  const int f = std::clamp(static_cast<int>(window_px / 2), 1, 16);
  Mat3 small_from_image = Mat3::Identity();
  small_from_image(0, 0) = small_from_image(1, 1) = 1.0 / f;
  small_from_image(0, 2) = small_from_image(1, 2) = -(f - 1) / (2.0 * f);
  const Mat3 small_h = small_from_image * h;
  const cv::Mat1f model_image = RenderModelTemplate(
      model, h, levelled.size(), pixel_nm, sites.faulted_contrast);
  if (model_image.empty()) {
    q.status = Status::InvalidInput("quality: H is singular");
    return q;
  }
  const cv::Mat1f map = SsimMap(levelled, model_image, window_px, f);
  const double small_window = window_px / f;
  const int border = static_cast<int>(std::ceil(2 * small_window));
  if (map.cols <= 2 * border || map.rows <= 2 * border) {
    q.status = Status::InvalidInput("quality: frame smaller than the window");
    return q;
  }
  q.ssim = cv::mean(map(cv::Rect(border, border, map.cols - 2 * border,
                                 map.rows - 2 * border)))[0];
  // Per cell: the map averaged over a cell-sized box at each cell centre.
  const double cell_px = model.lattice_constant_nm() / (pixel_nm * f);
  const int box = std::clamp(static_cast<int>(std::lround(cell_px)), 3, 1024);
  cv::Mat1f boxed;
  cv::boxFilter(map, boxed, -1, cv::Size(box, box), cv::Point(-1, -1), true,
                cv::BORDER_REFLECT);
  std::vector<double> cells;
  const double margin = 0.5 * box;
  for (const CornerHoleSite& c : sites.corner_holes) {
    const Vec2 centre =
        Apply(small_h, model.ModelFromLattice(c.i + 0.5, c.j + 0.5));
    if (!(centre.x() >= margin && centre.y() >= margin &&
          centre.x() < map.cols - margin && centre.y() < map.rows - margin)) {
      continue;
    }
    cells.push_back(
        boxed(static_cast<int>(centre.y()), static_cast<int>(centre.x())));
  }
  q.cells = static_cast<int>(cells.size());
  if (!cells.empty()) {
    int low = 0;
    for (double v : cells) low += v < o.low_cell_ssim;
    q.low_cell_fraction = double(low) / cells.size();
    q.cell_ssim_min = *std::min_element(cells.begin(), cells.end());
    std::vector<double> tmp = cells;
    q.cell_ssim_p10 = internal::Quantile(tmp, 0.1);
    tmp = cells;
    q.cell_ssim_median = internal::Median(tmp);
  }
  // EMD between the maxima and the model's sites, one adatom spacing in.
  const double spacing_px = kSi7x7AdatomSpacingNm / pixel_nm;
  const auto inside = [&](const Vec2& p) {
    return p.x() >= spacing_px && p.y() >= spacing_px &&
           p.x() < levelled.cols - spacing_px &&
           p.y() < levelled.rows - spacing_px;
  };
  const cv::Mat1f& smooth =
      sites.smoothed.size() == levelled.size() ? sites.smoothed : levelled;
  std::vector<Vec2> maxima_nm, sites_nm;
  for (const Vec2& p : DetectMaxima(smooth, 0.5 * spacing_px)) {
    q.maxima_px.push_back(p);
    if (inside(p)) maxima_nm.push_back(p * pixel_nm);
  }
  for (const AdatomSite& a : sites.adatoms) {
    if (inside(a.p_px)) sites_nm.push_back(a.p_px * pixel_nm);
  }
  q.maxima = static_cast<int>(maxima_nm.size());
  q.model_sites = static_cast<int>(sites_nm.size());
  q.emd_nm = SaturatedEmd(maxima_nm, sites_nm, o.emd_cap_nm, &q.emd_exact);
  return q;
}

TipChangeMonitor::TipChangeMonitor(TipChangeOptions options)
    : options_(options) {}

double TipChangeMonitor::reference() const {
  if (recent_.empty()) return 0.0;
  std::vector<double> v(recent_.begin(), recent_.end());
  return internal::Median(v);
}

bool TipChangeMonitor::Update(double ssim) {
  if (!std::isfinite(ssim)) return false;
  bool flag = false;
  if (static_cast<int>(recent_.size()) >= options_.min_history) {
    const double ref = reference();
    if (ssim < ref - options_.drop) {
      flag = !in_change_;
      in_change_ = true;
    } else if (ssim >= ref - 0.5 * options_.drop) {
      in_change_ = false;
    }
  }
  recent_.push_back(ssim);
  while (static_cast<int>(recent_.size()) > options_.history) {
    recent_.pop_front();
  }
  return flag;
}

}  // namespace anchord
