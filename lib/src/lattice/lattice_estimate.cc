#include "anchord/lattice/lattice_estimate.h"

#include "anchord/util/validation.h"

#include "util/point_index.h"
#include <Eigen/Dense>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

namespace anchord {
namespace {

// Folds a vector into the upper half plane (v and −v are one direction).
Vec2 Fold(const Vec2& v) {
  return (v.y() < 0 || (v.y() == 0 && v.x() < 0)) ? Vec2(-v) : v;
}

struct Cluster {
  Vec2 sum = Vec2::Zero();
  int count = 0;
  Vec2 mean() const { return sum / count; }
};

// Greedy clustering of folded neighbour vectors; a vector joins a cluster
// when it or its negative is within `tol` × its length of the mean.
std::vector<Cluster> ClusterVectors(const std::vector<Vec2>& vectors,
                                    double tol) {
  std::vector<Cluster> clusters;
  for (const Vec2& v : vectors) {
    bool placed = false;
    for (Cluster& c : clusters) {
      const Vec2 m = c.mean();
      const double limit = tol * v.norm();
      if ((v - m).norm() < limit) {
        c.sum += v;
      } else if ((v + m).norm() < limit) {
        c.sum -= v;
      } else {
        continue;
      }
      ++c.count;
      placed = true;
      break;
    }
    if (!placed) clusters.push_back({v, 1});
  }
  std::sort(
      clusters.begin(), clusters.end(),
      [](const Cluster& a, const Cluster& b) { return a.count > b.count; });
  return clusters;
}

// The six first-shell vectors ±b1, ±b2, ±(b2 − b1) with their (m, n)
// coefficients in b1, b2.
std::array<std::pair<Vec2, Eigen::Vector2i>, 6> Shell(const Vec2& b1,
                                                      const Vec2& b2) {
  return {{{b1, {1, 0}},
           {-b1, {-1, 0}},
           {b2, {0, 1}},
           {-b2, {0, -1}},
           {b2 - b1, {-1, 1}},
           {b1 - b2, {1, -1}}}};
}

// Orders a 60° pair so that Cross(b1, b2) < 0 and b1 is the first-shell
// vector closest to the image +x axis (rotations by 60° of the lattice
// model are the same lattice).
void Canonicalise(Vec2& b1, Vec2& b2) {
  if (Cross(b1, b2) > 0) std::swap(b1, b2);
  Vec2 best1 = b1, best2 = b2;
  for (int k = 0; k < 6; ++k) {
    const Vec2 n1 = b2, n2 = b2 - b1;  // model rotation by +60°
    b1 = n1;
    b2 = n2;
    if (b1.x() > best1.x()) {
      best1 = b1;
      best2 = b2;
    }
  }
  b1 = best1;
  b2 = best2;
}

// Lagrange–Gauss reduction of a 2-D lattice basis, then the sign of b2
// chosen so that b2 − b1 (not b2 + b1) is the third shortest vector: the
// three first-shell directions of a (distorted) hexagonal lattice.
void ReduceToFirstShell(Vec2& b1, Vec2& b2) {
  for (int it = 0; it < 64; ++it) {
    if (b1.squaredNorm() > b2.squaredNorm()) std::swap(b1, b2);
    const double m = std::round(b1.dot(b2) / b1.squaredNorm());
    if (m == 0) break;
    b2 -= m * b1;
  }
  if ((b2 + b1).squaredNorm() < (b2 - b1).squaredNorm()) b2 = -b2;
}

// Least-squares refit of (b1, b2) from all neighbour vectors that match a
// first-shell vector within the tolerance. Returns the number used.
int RefineBasis(const std::vector<Vec2>& vectors,
                double tol,
                Vec2& b1,
                Vec2& b2) {
  Eigen::Matrix2d ata = Eigen::Matrix2d::Zero();
  Eigen::Matrix<double, 2, 2> atb = Eigen::Matrix2d::Zero();  // rows: b1, b2
  int used = 0;
  const auto shell = Shell(b1, b2);
  for (const Vec2& v : vectors) {
    for (const auto& [s, mn] : shell) {
      if ((v - s).norm() >= tol * s.norm()) continue;
      const Eigen::Vector2d a(mn.x(), mn.y());
      ata += a * a.transpose();
      atb += a * v.transpose();
      ++used;
      break;
    }
  }
  if (used < 4 || std::abs(ata.determinant()) < 1e-9) return used;
  const Eigen::Matrix2d sol = ata.ldlt().solve(atb);
  b1 = sol.row(0).transpose();
  b2 = sol.row(1).transpose();
  return used;
}

// The candidates most likely to be corner holes: the strongest, about 1.5
// per cell expected in the candidates' bounding box (candidates come
// strongest first).
std::vector<Vec2> StrongestPoints(const std::vector<Candidate>& candidates,
                                  double cell_px) {
  if (candidates.empty()) return {};
  Vec2 lo = candidates[0].p_px, hi = lo;
  for (const Candidate& c : candidates) {
    lo = lo.cwiseMin(c.p_px);
    hi = hi.cwiseMax(c.p_px);
  }
  const Vec2 extent = hi - lo + Vec2::Constant(cell_px);
  const double cells =
      extent.x() * extent.y() / (cell_px * cell_px * std::sqrt(3.0) / 2.0);
  // Compared in double: a tiny cell (or NaN) means all candidates.
  const double wanted = 1.5 * cells + 8;
  const size_t n = wanted < static_cast<double>(candidates.size())
                       ? static_cast<size_t>(wanted)
                       : candidates.size();
  std::vector<Vec2> pts;
  for (size_t k = 0; k < n; ++k) pts.push_back(candidates[k].p_px);
  return pts;
}

double AngleDeg(const Vec2& a, const Vec2& b) {
  return std::acos(std::clamp(a.dot(b) / (a.norm() * b.norm()), -1.0, 1.0)) *
         180.0 / 3.14159265358979323846;
}

}  // namespace

Status LatticeOptions::Validate() const {
  Violations v("lattice");
  ANCHORD_OPTION_IN_OPEN(v, min_scale_ratio, 0.0, 1.0);
  ANCHORD_OPTION_GT(v, max_scale_ratio, 1.0);
  ANCHORD_OPTION_IN_OPEN(v, cluster_tolerance, 0.0, 0.5);
  v.Require(min_support_fraction > 0 && min_support_fraction <= 1,
            "min_support_fraction", min_support_fraction, "in (0, 1]");
  ANCHORD_OPTION_IN_OPEN(v, vote_tolerance, 0.0, 0.5);
  return v.ToStatus();
}

LatticeEstimate EstimateLattice(const std::vector<Candidate>& candidates,
                                double cell_px,
                                const LatticeOptions& o) {
  LatticeEstimate est;
  // The strongest candidates are mostly corner holes; their neighbour
  // vectors sample the first shell of the lattice. Ten neighbours, not six:
  // on a sheared lattice the longest first-shell vector can be 1.4 × the
  // shortest, and false candidates take neighbour slots.
  const std::vector<Vec2> pts = StrongestPoints(candidates, cell_px);
  const internal::PointIndex index(pts);
  const double lo = o.min_scale_ratio * cell_px;
  const double hi = o.max_scale_ratio * cell_px;
  std::vector<Vec2> vectors;
  for (const Vec2& p : pts) {
    for (const auto& [j, d] : index.KNearest(p, 11)) {
      if (d < lo || d > hi) continue;
      vectors.push_back(Fold(pts[j] - p));
    }
  }
  std::vector<Cluster> clusters = ClusterVectors(vectors, o.cluster_tolerance);
  // At least 3, at most the points (NaN: 3), so the cast stays in int.
  const double support = std::min(o.min_support_fraction * pts.size(),
                                  static_cast<double>(pts.size()));
  const int min_support =
      support > 3 ? static_cast<int>(std::min(support, 1e9)) : 3;
  // Best-supported triple of directions with r ≈ ±(p ± q): a hexagonal
  // shell of the lattice the candidates sit on.
  const size_t n = std::min<size_t>(clusters.size(), 8);
  int best_score = 0;
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = a + 1; b < n; ++b) {
      for (size_t c = 0; c < n; ++c) {
        if (c == a || c == b) continue;
        const Cluster& ca = clusters[a];
        const Cluster& cb = clusters[b];
        const Cluster& cc = clusters[c];
        if (std::min({ca.count, cb.count, cc.count}) < min_support) continue;
        const Vec2 p = ca.mean(), q = cb.mean(), r = cc.mean();
        const double tol = o.cluster_tolerance * r.norm();
        const bool sum = (p + q - r).norm() < tol || (p + q + r).norm() < tol;
        const bool diff = (q - p - r).norm() < tol || (q - p + r).norm() < tol;
        const int score = ca.count + cb.count + cc.count;
        if ((sum || diff) && score > best_score) {
          best_score = score;
          est.b1_px = p;
          est.b2_px = q;
        }
      }
    }
  }
  // Any three lattice vectors can satisfy the sum rule (e.g. a √3
  // second-shell vector with two first-shell ones): reduce to the shortest
  // basis so that b1, b2 and b2 − b1 are the first shell.
  ReduceToFirstShell(est.b1_px, est.b2_px);
  if (best_score == 0) {
    std::ostringstream s;
    s << "lattice: no hexagonal set of neighbour directions among "
      << pts.size() << " candidates (" << vectors.size()
      << " neighbour vectors in " << clusters.size() << " clusters)";
    est.status = Status::NoLattice(s.str());
    return est;
  }
  est.support = RefineBasis(vectors, o.cluster_tolerance, est.b1_px, est.b2_px);
  Canonicalise(est.b1_px, est.b2_px);
  for (const Vec2& b : {est.b1_px, est.b2_px, Vec2(est.b2_px - est.b1_px)}) {
    const double ratio = b.norm() / cell_px;
    if (ratio < o.min_scale_ratio || ratio > o.max_scale_ratio) {
      std::ostringstream s;
      s << "lattice: a lattice vector is " << ratio
        << " × the expected length (accepted [" << o.min_scale_ratio << ", "
        << o.max_scale_ratio << "])";
      est.status = Status::NoLattice(s.str());
      return est;
    }
  }
  const double angle = AngleDeg(est.b1_px, est.b2_px);
  if (angle < 30.0 || angle > 120.0) {
    est.status =
        Status::NoLattice("lattice: angle between lattice vectors " +
                          std::to_string(angle) + "° is outside [30°, 120°]");
  }
  return est;
}

std::vector<Candidate> VoteFilter(const std::vector<Candidate>& candidates,
                                  const LatticeEstimate& lattice,
                                  const LatticeOptions& o) {
  std::vector<Vec2> pts;
  for (const Candidate& c : candidates) pts.push_back(c.p_px);
  const internal::PointIndex index(pts);
  const auto shell = Shell(lattice.b1_px, lattice.b2_px);
  double radius = 0;
  for (const auto& [s, mn] : shell) radius = std::max(radius, s.norm());
  radius *= 1.0 + o.vote_tolerance;
  // The neighbourhood is the first-shell hexagon in lattice coordinates
  // (u, v) = [b1 b2]⁻¹ d: hex norm max(|u|, |v|, |u + v|) ≤ 1 + tolerance.
  // On a sheared lattice a circle of the longest shell vector's radius would
  // reach far past the short directions and count unrelated points.
  Mat2 basis;
  basis << lattice.b1_px, lattice.b2_px;
  const Mat2 lattice_from_pixel = basis.inverse();
  std::vector<Candidate> kept;
  for (size_t i = 0; i < pts.size(); ++i) {
    int score = 0;
    for (const auto& [j, d] : index.Within(pts[i], radius)) {
      if (static_cast<size_t>(j) == i) continue;
      const Vec2 v = pts[j] - pts[i];
      const Vec2 uv = lattice_from_pixel * v;
      const double hex = std::max(
          {std::abs(uv.x()), std::abs(uv.y()), std::abs(uv.x() + uv.y())});
      if (hex > 1.0 + o.vote_tolerance) continue;
      bool consistent = false;
      for (const auto& [s, mn] : shell) {
        if ((v - s).norm() < o.vote_tolerance * s.norm()) {
          consistent = true;
          break;
        }
      }
      score += consistent ? 1 : -1;
    }
    if (score >= 0) kept.push_back(candidates[i]);
  }
  return kept;
}

bool DetectRootThreeSublattice(const std::vector<int>& i,
                               const std::vector<int>& j,
                               const std::vector<double>& response,
                               const LatticeEstimate& lattice,
                               LatticeEstimate& corrected,
                               int* dark_coset) {
  double sum[3] = {0, 0, 0};
  int count[3] = {0, 0, 0};
  for (size_t k = 0; k < i.size(); ++k) {
    const int coset = (((i[k] - j[k]) % 3) + 3) % 3;
    sum[coset] += response[k];
    ++count[coset];
  }
  if (std::min({count[0], count[1], count[2]}) < 3) return false;
  double mean[3];
  for (int c = 0; c < 3; ++c) mean[c] = sum[c] / count[c];
  const int best = static_cast<int>(std::max_element(mean, mean + 3) - mean);
  for (int c = 0; c < 3; ++c) {
    if (c != best && mean[best] < 1.5 * std::max(mean[c], 1e-12)) return false;
  }
  if (dark_coset != nullptr) *dark_coset = best;
  corrected = lattice;
  corrected.b1_px = lattice.b1_px + lattice.b2_px;
  corrected.b2_px = 2.0 * lattice.b2_px - lattice.b1_px;
  Canonicalise(corrected.b1_px, corrected.b2_px);
  return true;
}

}  // namespace anchord
