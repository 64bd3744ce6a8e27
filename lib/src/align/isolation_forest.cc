#include "anchord/align/isolation_forest.h"

#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace anchord {

Status IsolationForestOptions::Validate() const {
  Violations v("align.isolation_forest");
  ANCHORD_OPTION_IN_CLOSED(v, trees, 1, 10000);
  ANCHORD_OPTION_IN_CLOSED(v, subsample, 2, 1 << 20);
  return v.ToStatus();
}

double AveragePathLength(double n) {
  if (n <= 1) return 0.0;
  if (n <= 2) return 1.0;
  constexpr double kEulerGamma = 0.5772156649015329;
  const double harmonic = std::log(n - 1.0) + kEulerGamma;
  return 2.0 * harmonic - 2.0 * (n - 1.0) / n;
}

namespace {

// One node of an isolation tree: internal (split on `attribute` at
// `split`) or external (left < 0) holding `size` points.
struct Node {
  int attribute = 0;
  double split = 0;
  int left = -1, right = -1;
  int size = 0;
  double leaf_length = 0;  // c(size), for an external node
};

class TreeBuilder {
 public:
  TreeBuilder(const std::vector<Vec2>& points, std::mt19937_64& rng, int psi)
      : points_(points), rng_(rng) {
    nodes_.reserve(2 * static_cast<size_t>(psi));
  }

  // Algorithm 2 (iTree): grows the subtree of indices [begin, end) at
  // height e and returns its node index. The recursion depth is bounded by
  // the height limit (<= 20 for ψ <= 2^20).
  int Grow(std::vector<int>& idx, int begin, int end, int e, int limit) {
    const int node = static_cast<int>(nodes_.size());
    nodes_.push_back({});
    nodes_[node].size = end - begin;
    nodes_[node].leaf_length = AveragePathLength(end - begin);
    if (e >= limit || end - begin <= 1) return node;
    double lo[2], hi[2];
    for (int a = 0; a < 2; ++a) {
      lo[a] = hi[a] = points_[idx[begin]][a];
      for (int k = begin + 1; k < end; ++k) {
        lo[a] = std::min(lo[a], points_[idx[k]][a]);
        hi[a] = std::max(hi[a], points_[idx[k]][a]);
      }
    }
    // An attribute with spread, picked at random; none: all points equal.
    const bool spread[2] = {hi[0] > lo[0], hi[1] > lo[1]};
    if (!spread[0] && !spread[1]) return node;
    int a = std::uniform_int_distribution<int>(0, 1)(rng_);
    if (!spread[a]) a = 1 - a;
    const double p = std::uniform_real_distribution<double>(lo[a], hi[a])(rng_);
    const auto mid = std::partition(idx.begin() + begin, idx.begin() + end,
                                    [&](int k) { return points_[k][a] < p; });
    const int split_at = static_cast<int>(mid - idx.begin());
    const int left = Grow(idx, begin, split_at, e + 1, limit);
    const int right = Grow(idx, split_at, end, e + 1, limit);
    nodes_[node].attribute = a;
    nodes_[node].split = p;
    nodes_[node].left = left;
    nodes_[node].right = right;
    return node;
  }

  std::vector<Node> Take() { return std::move(nodes_); }

 private:
  const std::vector<Vec2>& points_;
  std::mt19937_64& rng_;
  std::vector<Node> nodes_;
};

// Algorithm 3 (PathLength), iterative: edges to the external node plus
// c(size) of that node.
double PathLength(const std::vector<Node>& tree, const Vec2& x) {
  int node = 0;
  int edges = 0;
  while (tree[node].left >= 0) {
    const Node& n = tree[node];
    node = x[n.attribute] < n.split ? n.left : n.right;
    ++edges;
  }
  return edges + tree[node].leaf_length;
}

}  // namespace

std::vector<double> IsolationForestScores(
    const std::vector<Vec2>& points, const IsolationForestOptions& options) {
  ANCHORD_CHECK(options.Validate().ok());
  for (const Vec2& p : points) ANCHORD_CHECK(p.allFinite());
  const int n = static_cast<int>(points.size());
  std::vector<double> scores(points.size(), 0.0);
  if (n < 3) return scores;
  const int psi = std::min(n, options.subsample);
  const int limit = static_cast<int>(std::ceil(std::log2(psi)));
  std::mt19937_64 rng(options.seed);
  std::vector<int> all(points.size());
  std::iota(all.begin(), all.end(), 0);
  std::vector<double> total(points.size(), 0.0);
  // Algorithm 1 (iForest): t trees, each on ψ points drawn without
  // replacement (a partial Fisher–Yates shuffle).
  for (int t = 0; t < options.trees; ++t) {
    for (int k = 0; k < psi; ++k) {
      const int pick = std::uniform_int_distribution<int>(k, n - 1)(rng);
      std::swap(all[k], all[pick]);
    }
    std::vector<int> sample(all.begin(), all.begin() + psi);
    TreeBuilder builder(points, rng, psi);
    builder.Grow(sample, 0, psi, 0, limit);
    const std::vector<Node> tree = builder.Take();
    for (int k = 0; k < n; ++k) total[k] += PathLength(tree, points[k]);
  }
  const double c = AveragePathLength(psi);
  for (int k = 0; k < n; ++k) {
    scores[k] = std::exp2(-(total[k] / options.trees) / c);
  }
  return scores;
}

}  // namespace anchord
