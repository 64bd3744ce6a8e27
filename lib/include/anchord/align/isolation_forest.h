#pragma once

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <vector>

namespace anchord {

// Options of the isolation forest (Liu, Ting & Zhou, ICDM 2008; used on
// match displacements by Zhang et al., "A Hybrid Deep Feature-Based
// Deformable Image Registration Method for Pathological Images",
// Sec. 2.3, Algorithms 1–3).
struct IsolationForestOptions {
  // Number of trees t. Default 100 (Liu et al.: path lengths converge
  // well before 100 trees); [1, 10000].
  int trees = 100;
  // Sub-sampling size ψ: points drawn without replacement for each tree;
  // capped at the number of points. Default 256 (Liu et al.); [2, 1 << 20].
  int subsample = 256;
  // Seed of the random sub-samples and splits; the scores are a function
  // of the points and this seed only. Default 1.
  uint64_t seed = 1;

  Status Validate() const;
};

// c(n): the average path length of an unsuccessful search in a binary
// search tree of n points, 2 H(n − 1) − 2 (n − 1) / n with the harmonic
// number H(i) ≈ ln i + 0.5772156649; c(n) = 0 for n <= 1 and 1 for n = 2.
// The normaliser of the anomaly score.
double AveragePathLength(double n);

// Anomaly score s(x, ψ) = 2^(−E(h(x)) / c(ψ)) of each point: the mean path
// length E(h(x)) over the trees, each tree grown on a random sub-sample
// of ψ points with random axis-aligned splits to the height limit
// ceil(log2 ψ), and an external node of `size` points adding c(size).
// Scores near 1 mark points isolated early (anomalies); scores well below
// 0.5 mark points in dense regions. Fewer than 3 points: all scores 0
// (nothing to isolate from). Requires options.Validate().ok() and finite
// points (both checked).
std::vector<double> IsolationForestScores(
    const std::vector<Vec2>& points, const IsolationForestOptions& options);

}  // namespace anchord
