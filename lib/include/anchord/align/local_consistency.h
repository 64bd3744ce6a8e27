#pragma once

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <vector>

namespace anchord {

// Options of the local consistency check of matches (Zhang et al., "A
// Hybrid Deep Feature-Based Deformable Image Registration Method for
// Pathological Images", Sec. 2.3, the local affine correction model;
// here the affine of each match's Delaunay neighbours).
struct LocalConsistencyOptions {
  // A match is dropped when its displacement differs from the prediction
  // of its neighbours' affine by more than max(min_residual_px, median +
  // residual_sigmas × robust σ), median and σ over all the residuals of
  // the round. Defaults 0.75 px and 4; both > 0.
  double min_residual_px = 0.75;
  double residual_sigmas = 4.0;
  // Rounds of triangulate → fit → drop; a round that drops nothing ends
  // the check. Default 3; [1, 20].
  int rounds = 3;

  Status Validate() const;
};

// For each match (fixed position p, displacement d: the matched point in
// the other frame is p + d), the displacement predicted at p by an affine
// map fitted to the displacements of its neighbours: the two nearest rings
// of the Delaunay triangulation, the match itself left out, the 8
// nearest kept. The fit is least median of squares over every triple of
// neighbours, so up to half of a neighbourhood may be outliers. NaN where fewer
// than 3 neighbours in general position exist. Points must be finite;
// duplicates share one vertex (each gets the prediction of that vertex's
// neighbours).
std::vector<Vec2> NeighbourAffinePredictions(
    const std::vector<Vec2>& fixed_px,
    const std::vector<Vec2>& displacement_px);

// The matches that pass the check: true where kept. A match without a
// prediction (too few neighbours) is kept; with fewer than 4 matches
// nothing is dropped. Requires options.Validate().ok() (checked).
std::vector<bool> LocallyConsistent(const std::vector<Vec2>& fixed_px,
                                    const std::vector<Vec2>& displacement_px,
                                    const LocalConsistencyOptions& options);

}  // namespace anchord
