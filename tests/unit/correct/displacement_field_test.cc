// DisplacementField: H plus a residual field on the corner-hole lattice.
// Expectations follow from the header's definition: each paired node's
// residual is averaged with its paired neighbours (the six lattice
// neighbours ±(1,0), ±(0,1), ±(1,−1)); unpaired nodes take the mean of
// their neighbours; between nodes the field is linear over the T1 / T2
// triangle holding the point.

#include "anchord/correct/displacement_field.h"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <utility>
#include <vector>

namespace anchord {
namespace {

constexpr int kDi[6] = {1, -1, 0, 0, 1, -1};
constexpr int kDj[6] = {0, 0, 1, -1, -1, 1};

// A projective map model nm → px: scale ≈ 13 px/nm, a y flip, rotation,
// shear and a perspective term, so that no identity in the field can
// hide behind an affine H.
Mat3 SomeHomography() {
  Mat3 h;
  h << 12.1, 3.4, 160.0,  //
      2.2, -13.6, 150.0,  //
      2e-4, -3e-4, 1.0;
  return h;
}

HolePair MakePair(const LatticeModel& model,
                  const Mat3& h,
                  int i,
                  int j,
                  const Vec2& residual) {
  HolePair p;
  p.i = i;
  p.j = j;
  p.model_nm = model.ModelFromLattice(i, j);
  p.residual_px = residual;
  p.detected_px = Apply(h, p.model_nm) + residual;
  p.inlier = true;
  return p;
}

// Pairs on the index box [0, n] × [0, n] except `skip`, with residual f.
std::vector<HolePair> GridPairs(
    const LatticeModel& model,
    const Mat3& h,
    int n,
    const std::function<Vec2(int, int)>& f,
    const std::vector<std::pair<int, int>>& skip = {}) {
  std::vector<HolePair> pairs;
  for (int i = 0; i <= n; ++i) {
    for (int j = 0; j <= n; ++j) {
      bool skipped = false;
      for (const auto& s : skip) skipped |= s == std::make_pair(i, j);
      if (!skipped) pairs.push_back(MakePair(model, h, i, j, f(i, j)));
    }
  }
  return pairs;
}

Vec2 At(const DisplacementField& field,
        const LatticeModel& model,
        double u,
        double v) {
  return field.Residual(model.ModelFromLattice(u, v));
}

TEST_CASE("no pairs: a zero field, ImageFromModel is H") {
  const LatticeModel model = MakeSi7x7Model();
  const Mat3 h = SomeHomography();
  const DisplacementField field(model, h, {});
  for (const Vec2& m :
       {Vec2(0, 0), Vec2(5.3, -2.1), Vec2(-40, 31), Vec2(1e3, 2e2)}) {
    CHECK(field.Residual(m).norm() == 0.0);
    CHECK((field.ImageFromModel(m) - Apply(h, m)).norm() < 1e-12);
  }
}

TEST_CASE("a constant residual r: ImageFromModel = H·m + r everywhere") {
  const LatticeModel model = MakeSi7x7Model();
  const Mat3 h = SomeHomography();
  const Vec2 r(0.7, -1.3);
  // An irregular paired set with gaps: every paired node's neighbourhood
  // mean is r, so every filled node is r too.
  std::vector<HolePair> pairs =
      GridPairs(model, h, 7, [&](int, int) { return r; },
                {{3, 3}, {3, 4}, {6, 1}, {0, 7}});
  const DisplacementField field(model, h, pairs);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> in(-0.5, 7.5), out(-60, 60);
  for (int k = 0; k < 300; ++k) {
    const Vec2 m = model.ModelFromLattice(in(rng), in(rng));
    CHECK((field.ImageFromModel(m) - (Apply(h, m) + r)).norm() < 1e-9);
  }
  // Far outside the paired lattice points the nodes are clamped: still r.
  for (int k = 0; k < 100; ++k) {
    const Vec2 m = model.ModelFromLattice(out(rng), out(rng));
    CHECK((field.Residual(m) - r).norm() < 1e-9);
  }
}

TEST_CASE("far and non-finite points: the edge value, and NaN") {
  const LatticeModel model = MakeSi7x7Model();
  const Mat3 h = SomeHomography();
  const DisplacementField field(model, h,
                                GridPairs(model, h, 5, [](int i, int j) {
                                  return Vec2(0.1 * i, -0.2 * j);
                                }));
  // Beyond the grid the field holds its edge: a point 50 cells out and
  // one 1e300 nm out read the same.
  CHECK((field.Residual(model.ModelFromLattice(60, 2.5)) -
         field.Residual(Vec2(1e300, 0) + model.ModelFromLattice(0, 2.5)))
            .norm() < 1e-12);
  CHECK(field.Residual(Vec2(-1e300, 1e300)).allFinite());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK(field.Residual(Vec2(nan, 0)).array().isNaN().all());
}

TEST_CASE("a residual linear in the position is reproduced exactly inside") {
  const LatticeModel model = MakeSi7x7Model();
  const Mat3 h = SomeHomography();
  Mat2 a;
  a << 0.31, -0.12,  //
      0.05, 0.22;    // px per lattice index
  const Vec2 c(-0.4, 0.9);
  const auto linear = [&](double u, double v) {
    return Vec2(a * Vec2(u, v) + c);
  };
  const int n = 10;
  const DisplacementField field(
      model, h,
      GridPairs(model, h, n, [&](int i, int j) { return linear(i, j); }));

  // Interior nodes (all six neighbours paired): the neighbour offsets are
  // symmetric, so their mean with the centre is the centre value; any
  // point in a triangle of interior nodes is then exact.
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> in(1.0, n - 1.0);
  for (int k = 0; k < 500; ++k) {
    const double u = in(rng), v = in(rng);
    CAPTURE(u);
    CAPTURE(v);
    CHECK((At(field, model, u, v) - linear(u, v)).norm() < 1e-9);
    const Vec2 m = model.ModelFromLattice(u, v);
    CHECK((field.ImageFromModel(m) - (Apply(h, m) + linear(u, v))).norm() <
          1e-9);
  }

  // Boundary nodes average over a one-sided neighbourhood: a node whose
  // paired neighbours have offsets d_1 … d_k is biased by A·Σd / (k + 1).
  struct Boundary {
    int i, j;
    Vec2 bias_index;  // Σd / (k + 1)
  };
  const Boundary cases[] = {
      {0, 0, Vec2(1, 1) / 3.0},    // (1,0), (0,1)
      {n, n, Vec2(-1, -1) / 3.0},  // (−1,0), (0,−1)
      {0, n, Vec2(2, -2) / 4.0},   // (1,0), (0,−1), (1,−1)
      {n, 0, Vec2(-2, 2) / 4.0},   // (−1,0), (0,1), (−1,1)
      {0, 4, Vec2(2, -1) / 5.0},   // (1,0), (0,±1), (1,−1)
      {n, 6, Vec2(-2, 1) / 5.0},   // (−1,0), (0,±1), (−1,1)
      {3, 0, Vec2(-1, 2) / 5.0},   // (±1,0), (0,1), (−1,1)
      {7, n, Vec2(1, -2) / 5.0},   // (±1,0), (0,−1), (1,−1)
  };
  for (const Boundary& b : cases) {
    CAPTURE(b.i);
    CAPTURE(b.j);
    CHECK((At(field, model, b.i, b.j) - (linear(b.i, b.j) + a * b.bias_index))
              .norm() < 1e-9);
  }

  // Outside the paired box the field is not extrapolated: far enough out
  // the nodes are clamped, so it is constant along a line of points
  // going away from the box.
  const Vec2 far1 = At(field, model, -20, 4.3),
             far2 = At(field, model, -45, 4.3);
  CHECK((far1 - far2).norm() < 1e-12);
  const Vec2 far3 = At(field, model, 5.5, 30), far4 = At(field, model, 5.5, 80);
  CHECK((far3 - far4).norm() < 1e-12);
  // Every node value is a mean of paired residuals or of other node
  // values, so far out the field stays within the paired residuals' range.
  Vec2 lo = linear(0, 0), hi = lo;
  for (int i = 0; i <= n; ++i) {
    for (int j = 0; j <= n; ++j) {
      lo = lo.cwiseMin(linear(i, j));
      hi = hi.cwiseMax(linear(i, j));
    }
  }
  for (const Vec2& f : {far1, far3, At(field, model, 60, -70)}) {
    CHECK(f.x() >= lo.x() - 1e-9);
    CHECK(f.y() >= lo.y() - 1e-9);
    CHECK(f.x() <= hi.x() + 1e-9);
    CHECK(f.y() <= hi.y() + 1e-9);
  }
}

TEST_CASE(
    "node values: paired nodes average their paired neighbours, an unpaired "
    "node the mean of its neighbours") {
  const LatticeModel model = MakeSi7x7Model();
  const Mat3 h = SomeHomography();
  std::mt19937_64 rng(17);
  std::normal_distribution<double> g(0.0, 1.0);
  const int n = 8;
  const std::pair<int, int> hole(4, 3);
  std::map<std::pair<int, int>, Vec2> raw;
  for (int i = 0; i <= n; ++i) {
    for (int j = 0; j <= n; ++j) {
      if (std::make_pair(i, j) != hole) raw[{i, j}] = Vec2(g(rng), g(rng));
    }
  }
  std::vector<HolePair> pairs;
  for (const auto& [ij, r] : raw) {
    pairs.push_back(MakePair(model, h, ij.first, ij.second, r));
  }
  const DisplacementField field(model, h, pairs);

  // Reference from the definition.
  const auto smoothed = [&](int i, int j) {
    Vec2 sum = raw.at({i, j});
    int count = 1;
    for (int k = 0; k < 6; ++k) {
      const auto it = raw.find({i + kDi[k], j + kDj[k]});
      if (it == raw.end()) continue;
      sum += it->second;
      ++count;
    }
    return Vec2(sum / count);
  };
  for (const auto& [ij, r] : raw) {
    CAPTURE(ij.first);
    CAPTURE(ij.second);
    CHECK(
        (At(field, model, ij.first, ij.second) - smoothed(ij.first, ij.second))
            .norm() < 1e-9);
  }
  Vec2 mean = Vec2::Zero();
  for (int k = 0; k < 6; ++k) {
    mean += smoothed(hole.first + kDi[k], hole.second + kDj[k]);
  }
  mean /= 6.0;
  CHECK((At(field, model, hole.first, hole.second) - mean).norm() < 1e-9);

  // A linear field with the same hole: the neighbours' one-sided averages
  // are biased away from the hole by A·d/6, symmetric, so the hole gets
  // the exact value.
  Mat2 a;
  a << -0.2, 0.45,  //
      0.3, 0.1;
  const auto linear = [&](double u, double v) { return Vec2(a * Vec2(u, v)); };
  const DisplacementField lin(
      model, h,
      GridPairs(model, h, n, [&](int i, int j) { return linear(i, j); },
                {hole}));
  CHECK((At(lin, model, hole.first, hole.second) -
         linear(hole.first, hole.second))
            .norm() < 1e-9);
  // Its neighbours are biased by A·d/6, d their offset from the hole.
  for (int k = 0; k < 6; ++k) {
    const int i = hole.first + kDi[k], j = hole.second + kDj[k];
    CHECK(
        (At(lin, model, i, j) - (linear(i, j) + a * Vec2(kDi[k], kDj[k]) / 6.0))
            .norm() < 1e-9);
  }
}

TEST_CASE("between nodes the field is linear over the T1 or T2 triangle") {
  const LatticeModel model = MakeSi7x7Model();
  const Mat3 h = SomeHomography();
  std::mt19937_64 rng(29);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<HolePair> pairs;
  for (int i = -3; i <= 4; ++i) {
    for (int j = -2; j <= 5; ++j) {
      if ((i * 7 + j * 3) % 5 == 0) continue;  // some unpaired nodes
      pairs.push_back(MakePair(model, h, i, j, Vec2(g(rng), g(rng))));
    }
  }
  const DisplacementField field(model, h, pairs);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> ci(-3, 3), cj(-2, 4);
  for (int k = 0; k < 400; ++k) {
    const int i = ci(rng), j = cj(rng);
    double u = unit(rng), v = unit(rng);
    const Vec2 n00 = At(field, model, i, j), n10 = At(field, model, i + 1, j);
    const Vec2 n01 = At(field, model, i, j + 1);
    const Vec2 n11 = At(field, model, i + 1, j + 1);
    Vec2 expected;
    if (u + v < 1.0) {  // T1: vertices (i, j), (i+1, j), (i, j+1)
      expected = (1 - u - v) * n00 + u * n10 + v * n01;
    } else {  // T2: vertices (i+1, j+1), (i+1, j), (i, j+1)
      expected = (u + v - 1) * n11 + (1 - v) * n10 + (1 - u) * n01;
    }
    CAPTURE(i);
    CAPTURE(j);
    CAPTURE(u);
    CAPTURE(v);
    CHECK((At(field, model, i + u, j + v) - expected).norm() < 1e-9);
    // The field is continuous across the shared diagonal.
    const double w = unit(rng);
    const Vec2 below = At(field, model, i + w, j + (1 - w) - 1e-9);
    const Vec2 above = At(field, model, i + w, j + (1 - w) + 1e-9);
    CHECK((below - above).norm() < 1e-6);
    // ImageFromModel is H plus the field.
    const Vec2 m = model.ModelFromLattice(i + u, j + v);
    CHECK((field.ImageFromModel(m) - (Apply(h, m) + field.Residual(m))).norm() <
          1e-9);
  }
  // Not a bilinear interpolation: at the cell centre only the diagonal
  // nodes count.
  const Vec2 centre = At(field, model, 0.5, 0.5);
  CHECK((centre - 0.5 * (At(field, model, 1, 0) + At(field, model, 0, 1)))
            .norm() < 1e-9);
}

}  // namespace
}  // namespace anchord
