#pragma once

#include "anchord/model/lattice_model.h"
#include "anchord/register/lattice_registration.h"
#include "anchord/util/geometry.h"

#include <vector>

namespace anchord {

// The homography plus a smooth residual field defined on the lattice
// points: H alone cannot model creep at the start of a frame (the
// displacement field of Zhang et al., "A Hybrid Deep Feature-Based
// Deformable Image Registration Method for Pathological Images", here on
// the corner-hole lattice). The residual of each paired corner hole is
// averaged with its paired neighbours; lattice points without a pair take
// the mean of their neighbours' values, propagated outward. Between
// lattice points the field is interpolated linearly over the triangle (T1
// or T2) that contains the point.
class DisplacementField {
 public:
  DisplacementField(const LatticeModel& model,
                    const Mat3& image_from_model,
                    const std::vector<HolePair>& pairs);

  // Model nm → raw image px, field included.
  Vec2 ImageFromModel(const Vec2& model_nm) const;
  // The field alone at a model point, px.
  Vec2 Residual(const Vec2& model_nm) const;

 private:
  // Smoothed residual at lattice point (i, j); outside the grid, the value
  // of the nearest grid node (indices clamped); zero without pairs.
  Vec2 Node(int i, int j) const;

  LatticeModel model_;
  Mat3 image_from_model_;
  // Node residuals on the index box [i0, i0 + ni) × [j0, j0 + nj).
  int i0_ = 0, j0_ = 0, ni_ = 0, nj_ = 0;
  std::vector<Vec2> node_;
};

}  // namespace anchord
