#pragma once

// Internal: a 2-D k-d tree over points (nanoflann), used by the vote
// filter and the pairing. Not part of the public API.

#include "anchord/util/geometry.h"

#include <nanoflann.hpp>

#include <memory>
#include <utility>
#include <vector>

namespace anchord::internal {

class PointIndex {
 public:
  explicit PointIndex(std::vector<Vec2> points);
  ~PointIndex();
  PointIndex(const PointIndex&) = delete;
  PointIndex& operator=(const PointIndex&) = delete;

  // Index of the nearest point and its distance; {-1, inf} when empty.
  std::pair<int, double> Nearest(const Vec2& q) const;
  // Up to k nearest points as (index, distance), nearest first.
  std::vector<std::pair<int, double>> KNearest(const Vec2& q, int k) const;
  // All points within `radius` as (index, distance), nearest first.
  std::vector<std::pair<int, double>> Within(const Vec2& q,
                                             double radius) const;
  const std::vector<Vec2>& points() const { return points_; }
  size_t size() const { return points_.size(); }

  // nanoflann dataset adaptor interface.
  size_t kdtree_get_point_count() const { return points_.size(); }
  double kdtree_get_pt(size_t i, size_t dim) const { return points_[i][dim]; }
  template <class BBox>
  bool kdtree_get_bbox(BBox&) const {
    return false;
  }

 private:
  using Tree = nanoflann::KDTreeSingleIndexAdaptor<
      nanoflann::L2_Simple_Adaptor<double, PointIndex>,
      PointIndex,
      2,
      int>;
  std::vector<Vec2> points_;
  std::unique_ptr<Tree> tree_;
};

}  // namespace anchord::internal
