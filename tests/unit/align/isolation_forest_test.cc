#include "anchord/align/isolation_forest.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>

namespace anchord {
namespace {

std::vector<Vec2> Cluster(int n, double sigma, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, sigma);
  std::vector<Vec2> out;
  for (int k = 0; k < n; ++k) out.emplace_back(5 + g(rng), -3 + g(rng));
  return out;
}

TEST_CASE("c(n) is the average path length of Liu et al.") {
  CHECK(AveragePathLength(1) == 0.0);
  CHECK(AveragePathLength(2) == 1.0);
  // 2 (ln 255 + γ) − 2 · 255 / 256
  CHECK(AveragePathLength(256) == doctest::Approx(10.2447).epsilon(1e-4));
}

TEST_CASE("isolation forest scores gross outliers high, the cluster low") {
  std::vector<Vec2> points = Cluster(300, 0.5, 3);
  std::mt19937_64 rng(4);
  std::uniform_real_distribution<double> u(-30, 30);
  for (int k = 0; k < 30; ++k) points.emplace_back(u(rng), u(rng));
  const std::vector<double> s =
      IsolationForestScores(points, IsolationForestOptions{});
  REQUIRE(s.size() == points.size());
  int inliers_flagged = 0, outliers_found = 0, outliers_far = 0;
  for (size_t k = 0; k < points.size(); ++k) {
    const bool far = (points[k] - Vec2(5, -3)).norm() > 4;  // 8 σ
    if (k < 300 && s[k] > 0.6) ++inliers_flagged;
    if (k >= 300 && far) {
      ++outliers_far;
      if (s[k] > 0.6) ++outliers_found;
    }
  }
  CHECK(inliers_flagged <= 3);  // 1 % of the cluster
  REQUIRE(outliers_far >= 25);
  CHECK(outliers_found >= outliers_far - 1);
  std::vector<double> cluster(s.begin(), s.begin() + 300);
  std::nth_element(cluster.begin(), cluster.begin() + 150, cluster.end());
  CHECK(cluster[150] < 0.5);
}

TEST_CASE("isolation forest: deterministic per seed, degenerate inputs") {
  const std::vector<Vec2> points = Cluster(50, 1.0, 5);
  IsolationForestOptions o;
  o.seed = 9;
  CHECK(IsolationForestScores(points, o) == IsolationForestScores(points, o));
  CHECK(IsolationForestScores({Vec2(1, 1), Vec2(2, 2)}, o) ==
        std::vector<double>{0.0, 0.0});
  // All equal: nothing is isolated, every score the same.
  const std::vector<double> same =
      IsolationForestScores(std::vector<Vec2>(20, Vec2(1, 2)), o);
  CHECK(std::all_of(same.begin(), same.end(),
                    [&](double v) { return v == same[0]; }));
  o.trees = 0;
  o.subsample = 1;
  const Status bad = o.Validate();
  CHECK(!bad.ok());
  CHECK(bad.message().find("trees") != std::string::npos);
  CHECK(bad.message().find("subsample") != std::string::npos);
}

}  // namespace
}  // namespace anchord
