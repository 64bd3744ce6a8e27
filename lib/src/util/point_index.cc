#include "util/point_index.h"

#include <cmath>
#include <limits>

namespace anchord::internal {

PointIndex::PointIndex(std::vector<Vec2> points) : points_(std::move(points)) {
  tree_ = std::make_unique<Tree>(2, *this,
                                 nanoflann::KDTreeSingleIndexAdaptorParams(10));
  if (!points_.empty()) tree_->buildIndex();
}

PointIndex::~PointIndex() = default;

std::pair<int, double> PointIndex::Nearest(const Vec2& q) const {
  if (points_.empty()) return {-1, std::numeric_limits<double>::infinity()};
  int index = -1;
  double dist2 = 0;
  nanoflann::KNNResultSet<double, int> result(1);
  result.init(&index, &dist2);
  const double query[2] = {q.x(), q.y()};
  tree_->findNeighbors(result, query, nanoflann::SearchParams());
  return {index, std::sqrt(dist2)};
}

std::vector<std::pair<int, double>> PointIndex::KNearest(const Vec2& q,
                                                         int k) const {
  std::vector<std::pair<int, double>> out;
  if (points_.empty() || k <= 0) return out;
  const int n = std::min<int>(k, static_cast<int>(points_.size()));
  std::vector<int> idx(n);
  std::vector<double> d2(n);
  const double query[2] = {q.x(), q.y()};
  const int found =
      static_cast<int>(tree_->knnSearch(query, n, idx.data(), d2.data()));
  for (int i = 0; i < found; ++i) out.emplace_back(idx[i], std::sqrt(d2[i]));
  return out;
}

std::vector<std::pair<int, double>> PointIndex::Within(const Vec2& q,
                                                       double radius) const {
  std::vector<std::pair<int, double>> out;
  if (points_.empty()) return out;
  std::vector<std::pair<int, double>> hits;
  const double query[2] = {q.x(), q.y()};
  nanoflann::SearchParams params;
  params.sorted = true;
  tree_->radiusSearch(query, radius * radius, hits, params);
  for (const auto& [i, d2] : hits) out.emplace_back(i, std::sqrt(d2));
  return out;
}

}  // namespace anchord::internal
