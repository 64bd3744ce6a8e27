#include "anchord/register/homography.h"

#include <doctest/doctest.h>

#include <random>

namespace anchord {
namespace {

// A map that reverses orientation, as image_from_model does (model y up,
// image y down), with a little perspective.
Mat3 TrueMap() {
  Mat3 h;
  h << 20.0, 3.0, 100.0, 2.0, -19.0, 120.0, 0.001, -0.0005, 1.0;
  return h;
}

TEST_CASE("every estimator recovers an orientation-reversing map") {
  std::vector<Vec2> model, image;
  for (int i = -3; i <= 3; ++i) {
    for (int j = -3; j <= 3; ++j) {
      model.emplace_back(i, j);
      image.push_back(Apply(TrueMap(), model.back()));
    }
  }
  for (const auto method : {HomographyMethod::kLmeds, HomographyMethod::kRansac,
                            HomographyMethod::kUsac}) {
    CAPTURE(std::string(HomographyMethodName(method)));
    Mat3 h;
    REQUIRE(EstimateHomography(model, image, method, 1.0, h));
    for (size_t k = 0; k < model.size(); ++k) {
      // Exact data: the fit is exact to OpenCV's numerical precision of
      // its minimal-sample solutions (~1e-6 px here).
      CHECK((Apply(h, model[k]) - image[k]).norm() < 1e-4);
    }
  }
}

TEST_CASE("a fit that would send an input point to infinity is refused") {
  // Three of four points collinear: the least-squares fit is degenerate;
  // whatever comes back must keep every point finite, or be refused.
  const std::vector<Vec2> model = {{0, 0}, {1, 0}, {2, 0}, {0, 1}};
  const std::vector<Vec2> image = {{0, 0}, {10, 0}, {25, 0}, {0, 10}};
  Mat3 h = Mat3::Zero();
  if (EstimateHomography(model, image, std::nullopt, 0.0, h)) {
    for (const Vec2& m : model) {
      CHECK(std::abs(h.row(2).dot(Eigen::Vector3d(m.x(), m.y(), 1))) > 1e-6);
    }
  }
  // Under four points there is no homography at all.
  CHECK_FALSE(EstimateHomography({{0, 0}, {1, 0}, {0, 1}},
                                 {{0, 0}, {1, 0}, {0, 1}}, std::nullopt, 0.0,
                                 h));
}

TEST_CASE("ResidualInliers: k sigma of the robust spread, floored and capped") {
  std::vector<Vec2> r;
  std::mt19937 rng(3);
  std::normal_distribution<double> n(0.0, 0.2);
  for (int k = 0; k < 400; ++k) r.emplace_back(n(rng), n(rng));
  r.emplace_back(5.0, 0.0);  // an outlier
  const std::vector<bool> in = ResidualInliers(r, 3.5, 0.01, 100.0);
  CHECK_FALSE(in.back());
  int kept = 0;
  for (size_t k = 0; k + 1 < in.size(); ++k) kept += in[k];
  CHECK(kept >= 395);  // 3.5 σ keeps > 99 % of a 2-D Gaussian
  // The floor wins over a tiny spread; the cap over a huge one.
  const std::vector<Vec2> exact(10, Vec2(0.3, 0.0));
  CHECK(ResidualInliers(exact, 3.5, 0.5, 100.0)[0]);
  CHECK_FALSE(ResidualInliers(exact, 3.5, 0.1, 0.2)[0]);
}

}  // namespace
}  // namespace anchord
