#pragma once

#include "anchord/detect/corner_hole_detector.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <vector>

namespace anchord {

// Options of the lattice estimate and of the vote filter (steps of the
// registration pipeline, anchord/pipeline/register_frame.h; Diao et al.,
// Sci. Rep. 15, 13486 (2025), Fig. 1b).
struct LatticeOptions {
  // Accepted ratio of an estimated lattice vector length to the prior.
  // Defaults 0.5 and 2.0: scanners are off by tens of percent per axis,
  // and shear adds to one diagonal (the real Si_7x7_051 frame shows 1.14,
  // 1.36 and 1.6 × nominal along its three directions).
  double min_scale_ratio = 0.5;
  double max_scale_ratio = 2.0;
  // Two neighbour vectors belong to one cluster when they differ by less
  // than this fraction of their length. Default 0.12; in (0, 0.5).
  double cluster_tolerance = 0.12;
  // Minimum share of the strongest candidates whose neighbour vectors
  // support each lattice direction. Default 0.25; in (0, 1].
  double min_support_fraction = 0.25;
  // Vote tolerance: a neighbour scores +1 when it lies within this
  // fraction of a lattice vector's length of that vector (the paper's
  // [0.9 L, 1.1 L] is 0.1), −1 otherwise. Default 0.12; in (0, 0.5).
  double vote_tolerance = 0.12;

  Status Validate() const;
};

// The two lattice vectors in raw pixels. Convention: b1, b2 are the images
// of a1, a2 with Cross(b1, b2) < 0 (a2 counter-clockwise from a1 on screen,
// whose y axis points down).
struct LatticeEstimate {
  Status status;
  Vec2 b1_px = Vec2::Zero();
  Vec2 b2_px = Vec2::Zero();
  int support = 0;  // neighbour vectors that agree with the estimate
};

// Estimates the lattice vectors from the candidates' nearest-neighbour
// vectors. `cell_px` is the prior lattice vector length in pixels.
LatticeEstimate EstimateLattice(const std::vector<Candidate>& candidates,
                                double cell_px,
                                const LatticeOptions& options);

// The paper's vote filter (Diao et al. 2025, Fig. 1b): every candidate
// scores +1 per neighbour at a lattice-consistent offset (±b1, ±b2,
// ±(b2 − b1) within the tolerance) and −1 per other neighbour inside the
// first-shell hexagon; candidates with a negative score are dropped.
// Returns the kept candidates in input order.
std::vector<Candidate> VoteFilter(const std::vector<Candidate>& candidates,
                                  const LatticeEstimate& lattice,
                                  const LatticeOptions& options);

// Corner holes and the centres of the two triangular halves together form
// a lattice √3 times finer than the 7×7 cell, rotated by 30°; a detector
// that also fires on the half centres (SIFT does) can lock onto it. Given
// the lattice indices (i, j) and responses of registered candidates, this
// returns true, with the coarser lattice in `corrected`, when one of the
// three cosets (i − j) mod 3 is clearly darker than the other two — the
// corner holes — so that the frame must be registered again on it. The
// dark coset's index goes to `dark_coset` when given.
bool DetectRootThreeSublattice(const std::vector<int>& i,
                               const std::vector<int>& j,
                               const std::vector<double>& response,
                               const LatticeEstimate& lattice,
                               LatticeEstimate& corrected,
                               int* dark_coset = nullptr);

}  // namespace anchord
