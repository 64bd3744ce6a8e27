#include "anchord/align/local_consistency.h"

#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include "util/robust.h"
#include <Eigen/Dense>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace anchord {

Status LocalConsistencyOptions::Validate() const {
  Violations v("align.local_consistency");
  ANCHORD_OPTION_GT(v, min_residual_px, 0.0);
  ANCHORD_OPTION_GT(v, residual_sigmas, 0.0);
  ANCHORD_OPTION_IN_CLOSED(v, rounds, 1, 20);
  return v.ToStatus();
}

namespace {

constexpr int kMaxNeighbours = 8;
// Subdiv2D keeps a dummy vertex 0 and the three vertices of its outer
// triangle (1..3); inserted points start here.
constexpr int kFirstRealVertex = 4;

const Vec2 kNoPrediction(std::numeric_limits<double>::quiet_NaN(),
                         std::numeric_limits<double>::quiet_NaN());

// The Delaunay neighbours of every point (indices into `points`; a
// duplicate point is represented by the first of its copies). Empty lists
// when the triangulation cannot be built.
std::vector<std::vector<int>> DelaunayNeighbours(
    const std::vector<Vec2>& points) {
  std::vector<std::vector<int>> out(points.size());
  if (points.size() < 2) return out;
  double lo_x = points[0].x(), hi_x = lo_x, lo_y = points[0].y(), hi_y = lo_y;
  for (const Vec2& p : points) {
    lo_x = std::min(lo_x, p.x());
    hi_x = std::max(hi_x, p.x());
    lo_y = std::min(lo_y, p.y());
    hi_y = std::max(hi_y, p.y());
  }
  // Subdiv2D works in float and int rectangles: coordinates beyond ±1e7 px
  // are not matches of a real frame.
  if (lo_x < -1e7 || lo_y < -1e7 || hi_x > 1e7 || hi_y > 1e7) return out;
  const cv::Rect rect(static_cast<int>(std::floor(lo_x)) - 2,
                      static_cast<int>(std::floor(lo_y)) - 2,
                      static_cast<int>(std::ceil(hi_x - lo_x)) + 5,
                      static_cast<int>(std::ceil(hi_y - lo_y)) + 5);
  std::vector<int> vertex_of(points.size(), -1);
  std::vector<int> point_of_vertex;
  try {
    cv::Subdiv2D subdiv(rect);
    for (size_t k = 0; k < points.size(); ++k) {
      const int v =
          subdiv.insert(cv::Point2f(static_cast<float>(points[k].x()),
                                    static_cast<float>(points[k].y())));
      vertex_of[k] = v;
      if (v >= static_cast<int>(point_of_vertex.size())) {
        point_of_vertex.resize(v + 1, -1);
      }
      if (point_of_vertex[v] < 0) point_of_vertex[v] = static_cast<int>(k);
    }
    for (size_t k = 0; k < points.size(); ++k) {
      int first = 0;
      subdiv.getVertex(vertex_of[k], &first);
      int edge = first;
      // Around the vertex: at most one edge per other vertex.
      for (size_t turn = 0; turn <= point_of_vertex.size(); ++turn) {
        const int dst = subdiv.edgeDst(edge);
        if (dst >= kFirstRealVertex &&
            dst < static_cast<int>(point_of_vertex.size()) &&
            point_of_vertex[dst] >= 0 && dst != vertex_of[k]) {
          out[k].push_back(point_of_vertex[dst]);
        }
        edge = subdiv.nextEdge(edge);
        if (edge == first) break;
      }
    }
  } catch (const cv::Exception&) {
    return std::vector<std::vector<int>>(points.size());
  }
  return out;
}

// The neighbours of `k` and theirs, without `k`, each once.
std::vector<int> TwoRings(const std::vector<std::vector<int>>& ring, int k) {
  std::vector<int> out = ring[k];
  for (int n : ring[k]) out.insert(out.end(), ring[n].begin(), ring[n].end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  out.erase(std::remove(out.begin(), out.end(), k), out.end());
  return out;
}

// The affine d = A p + b through three (p, d) pairs, by barycentric
// coordinates; false when the three points are (nearly) collinear.
bool AffineThrough(const Vec2 p[3],
                   const Vec2 d[3],
                   Eigen::Matrix<double, 2, 3>* m) {
  const Vec2 e1 = p[1] - p[0], e2 = p[2] - p[0];
  const double det = Cross(e1, e2);
  if (!(std::abs(det) > 1e-3 * (e1.squaredNorm() + e2.squaredNorm()))) {
    return false;
  }
  // [e1 e2]⁻¹ rows, so that A [e1 e2] = [d1 − d0, d2 − d0].
  Mat2 inv;
  inv << e2.y(), -e2.x(), -e1.y(), e1.x();
  inv /= det;
  Mat2 dd;
  dd.col(0) = d[1] - d[0];
  dd.col(1) = d[2] - d[0];
  const Mat2 a = dd * inv;
  m->leftCols<2>() = a;
  m->col(2) = d[0] - a * p[0];
  return m->allFinite();
}

// Least median of squares over every triple of `nb`: the prediction at
// `at` of the best triple's affine.
Vec2 LmedsPrediction(const Vec2& at,
                     const std::vector<int>& nb,
                     const std::vector<Vec2>& p,
                     const std::vector<Vec2>& d) {
  const int n = static_cast<int>(nb.size());
  double best = std::numeric_limits<double>::infinity();
  Vec2 prediction = kNoPrediction;
  std::vector<double> r2(n);
  for (int a = 0; a < n; ++a) {
    for (int b = a + 1; b < n; ++b) {
      for (int c = b + 1; c < n; ++c) {
        const Vec2 tp[3] = {p[nb[a]], p[nb[b]], p[nb[c]]};
        const Vec2 td[3] = {d[nb[a]], d[nb[b]], d[nb[c]]};
        Eigen::Matrix<double, 2, 3> m;
        if (!AffineThrough(tp, td, &m)) continue;
        for (int k = 0; k < n; ++k) {
          const Vec2 q = m.leftCols<2>() * p[nb[k]] + m.col(2);
          r2[k] = (q - d[nb[k]]).squaredNorm();
        }
        std::nth_element(r2.begin(), r2.begin() + n / 2, r2.end());
        if (r2[n / 2] < best) {
          best = r2[n / 2];
          prediction = m.leftCols<2>() * at + m.col(2);
        }
      }
    }
  }
  return prediction;
}

}  // namespace

std::vector<Vec2> NeighbourAffinePredictions(
    const std::vector<Vec2>& fixed_px,
    const std::vector<Vec2>& displacement_px) {
  ANCHORD_CHECK(fixed_px.size() == displacement_px.size());
  for (const Vec2& p : fixed_px) ANCHORD_CHECK(p.allFinite());
  const std::vector<std::vector<int>> ring = DelaunayNeighbours(fixed_px);
  std::vector<Vec2> out(fixed_px.size(), kNoPrediction);
  for (size_t k = 0; k < fixed_px.size(); ++k) {
    std::vector<int> mine = TwoRings(ring, static_cast<int>(k));
    if (static_cast<int>(mine.size()) > kMaxNeighbours) {
      std::nth_element(mine.begin(), mine.begin() + kMaxNeighbours, mine.end(),
                       [&](int a, int b) {
                         return (fixed_px[a] - fixed_px[k]).squaredNorm() <
                                (fixed_px[b] - fixed_px[k]).squaredNorm();
                       });
      mine.resize(kMaxNeighbours);
    }
    if (mine.size() < 3) continue;
    out[k] = LmedsPrediction(fixed_px[k], mine, fixed_px, displacement_px);
  }
  return out;
}

std::vector<bool> LocallyConsistent(const std::vector<Vec2>& fixed_px,
                                    const std::vector<Vec2>& displacement_px,
                                    const LocalConsistencyOptions& options) {
  ANCHORD_CHECK(options.Validate().ok());
  ANCHORD_CHECK(fixed_px.size() == displacement_px.size());
  std::vector<bool> keep(fixed_px.size(), true);
  for (int round = 0; round < options.rounds; ++round) {
    std::vector<int> active;
    for (size_t k = 0; k < keep.size(); ++k) {
      if (keep[k]) active.push_back(static_cast<int>(k));
    }
    if (active.size() < 4) break;
    std::vector<Vec2> p, d;
    for (int k : active) {
      p.push_back(fixed_px[k]);
      d.push_back(displacement_px[k]);
    }
    const std::vector<Vec2> predicted = NeighbourAffinePredictions(p, d);
    std::vector<double> residual(active.size(), -1.0), finite;
    for (size_t k = 0; k < active.size(); ++k) {
      if (!predicted[k].allFinite()) continue;
      residual[k] = (predicted[k] - d[k]).norm();
      finite.push_back(residual[k]);
    }
    if (finite.size() < 4) break;
    std::vector<double> copy = finite;
    const double limit =
        std::max(options.min_residual_px,
                 internal::Median(copy) +
                     options.residual_sigmas * internal::RobustSigma(finite));
    int dropped = 0;
    for (size_t k = 0; k < active.size(); ++k) {
      if (residual[k] > limit) {
        keep[active[k]] = false;
        ++dropped;
      }
    }
    if (dropped == 0) break;
  }
  return keep;
}

}  // namespace anchord
