#pragma once

// Ground truth across frames: the exact lattice isometry (a turn by a
// multiple of 60° and a lattice translation of the Si(111)-7×7 model)
// between two model frames of the same sample, as tests measure it from
// corresponding points.

#include "anchord/util/geometry.h"

#include <utility>
#include <vector>

namespace anchord::testing {

struct LatticeIsometry {
  Mat2 rotation = Mat2::Identity();
  Vec2 translation = Vec2::Zero();
  Vec2 operator()(const Vec2& m) const { return rotation * m + translation; }
};

// The isometry `to = rotation · from + translation` that fits the pairs
// (from, to) best over the six turns, its translation snapped to the
// nearest lattice vector (both frames have their origin on a corner hole).
// Requires at least one pair.
LatticeIsometry FitLatticeIsometry(
    const std::vector<std::pair<Vec2, Vec2>>& from_to);

}  // namespace anchord::testing
