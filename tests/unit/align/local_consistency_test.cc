#include "anchord/align/local_consistency.h"

#include <doctest/doctest.h>

#include <cmath>
#include <random>

namespace anchord {
namespace {

// A smooth field: affine plus a gentle bump.
Vec2 Field(const Vec2& p) {
  return Vec2(3 + 0.01 * p.x() - 0.004 * p.y(), -2 + 0.003 * p.x()) +
         Vec2(2, -1) * std::exp(-(p - Vec2(200, 150)).squaredNorm() / 2e4);
}

void Grid(std::vector<Vec2>* p, std::vector<Vec2>* d) {
  for (int y = 10; y < 400; y += 24) {
    for (int x = 10; x < 400; x += 24) {
      p->emplace_back(x, y);
      d->push_back(Field(p->back()));
    }
  }
}

TEST_CASE("neighbour affine predicts a smooth field") {
  std::vector<Vec2> p, d;
  Grid(&p, &d);
  const std::vector<Vec2> pred = NeighbourAffinePredictions(p, d);
  REQUIRE(pred.size() == p.size());
  int finite = 0;
  double worst = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    if (!pred[k].allFinite()) continue;
    ++finite;
    worst = std::max(worst, (pred[k] - d[k]).norm());
  }
  CHECK(finite == static_cast<int>(p.size()));
  CHECK(worst < 0.2);  // the bump's curvature over one grid step
}

TEST_CASE("local affine alone drops local outliers the global check keeps") {
  std::vector<Vec2> p, d;
  Grid(&p, &d);
  // Outliers of 2–4 px: within the global spread of the field (~6 px),
  // wrong for their neighbourhood. One in five, no two adjacent.
  std::mt19937_64 rng(2);
  std::uniform_real_distribution<double> angle(0, 2 * M_PI), size(2, 4);
  std::vector<bool> bad(p.size(), false);
  for (size_t k = 0; k < p.size(); k += 5) {
    const double a = angle(rng);
    d[k] += size(rng) * Vec2(std::cos(a), std::sin(a));
    bad[k] = true;
  }
  const std::vector<bool> keep =
      LocallyConsistent(p, d, LocalConsistencyOptions{});
  int dropped_bad = 0, dropped_good = 0, n_bad = 0;
  for (size_t k = 0; k < p.size(); ++k) {
    n_bad += bad[k];
    if (!keep[k]) (bad[k] ? dropped_bad : dropped_good)++;
  }
  CHECK(dropped_bad == n_bad);
  CHECK(dropped_good <= static_cast<int>(p.size()) / 50);
}

TEST_CASE("local consistency: too few matches, collinear, duplicates") {
  LocalConsistencyOptions o;
  const std::vector<Vec2> p3{{0, 0}, {10, 0}, {0, 10}};
  CHECK(LocallyConsistent(p3, {{1, 1}, {1, 1}, {9, 9}}, o) ==
        std::vector<bool>(3, true));
  std::vector<Vec2> line, dl;
  for (int k = 0; k < 10; ++k) {
    line.emplace_back(k * 10, 0);
    dl.emplace_back(1, 0);
  }
  const std::vector<Vec2> pred = NeighbourAffinePredictions(line, dl);
  for (const Vec2& v : pred) CHECK(!v.allFinite());
  std::vector<Vec2> dup{{0, 0}, {0, 0}, {10, 0}, {0, 10}, {10, 10}, {5, 5}};
  std::vector<Vec2> dd(dup.size(), Vec2(1, 2));
  const std::vector<bool> keep = LocallyConsistent(dup, dd, o);
  CHECK(keep == std::vector<bool>(dup.size(), true));
  o.rounds = 0;
  CHECK(!o.Validate().ok());
}

}  // namespace
}  // namespace anchord
