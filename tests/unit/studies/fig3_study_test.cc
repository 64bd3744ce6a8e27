// The Fig. 3 study of Diao et al., Sci. Rep. 15, 13486 (2025): metric
// definitions on hand-computed cases, the sample construction, and the
// whole study on tiny configurations.

#include "anchord/studies/fig3_study.h"

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

namespace anchord {
namespace {

Fig3Options Tiny() {
  Fig3Options o;
  o.sigmas = {0.0};
  o.counts = {4, 9, 16};
  o.samples = 20;
  o.estimators = {Fig3Estimator::kLmeds, Fig3Estimator::kAnchord,
                  Fig3Estimator::kLeastSquares};
  return o;
}

TEST_CASE("OKS@0.95 is d <= 0.0320 unit spacings with kappa 0.1") {
  Fig3Accumulator acc(0.1);
  // OKS(0.032) = exp(−0.0512) = 0.95009 ≥ 0.95; OKS(0.0321) = 0.94978.
  acc.AddSample({0.032, 0.0321});
  Fig3Row row;
  acc.Finish(row);
  CHECK(row.oks95 == doctest::Approx(0.5));
}

TEST_CASE("Fig3Accumulator: pooled MAE, median sample MAE, recalls") {
  Fig3Accumulator acc(0.1);
  // OKS of 0, 0.02, 0.05, 0.2: 1, exp(−0.02) = 0.980, exp(−0.125) = 0.882,
  // exp(−2) = 0.135. Of 0.1: exp(−0.5) = 0.607.
  acc.AddSample({0.0, 0.02, 0.05, 0.2});
  acc.AddSample({0.1});
  Fig3Row row;
  acc.Finish(row);
  CHECK(row.mae == doctest::Approx(0.37 / 5));
  // Per-sample MAEs 0.0675 and 0.1: the midpoint.
  CHECK(row.mae_median == doctest::Approx(0.08375));
  CHECK(row.oks50 == doctest::Approx(4.0 / 5));
  CHECK(row.oks75 == doctest::Approx(3.0 / 5));
  CHECK(row.oks95 == doctest::Approx(2.0 / 5));
  CHECK(row.samples == 2);
  CHECK(row.failures == 0);

  // A failed sample: all its points miss, the MAE figures ignore it.
  acc.AddFailure(4);
  acc.Finish(row);
  CHECK(row.mae == doctest::Approx(0.37 / 5));
  CHECK(row.mae_median == doctest::Approx(0.08375));
  CHECK(row.oks50 == doctest::Approx(4.0 / 9));
  CHECK(row.oks95 == doctest::Approx(2.0 / 9));
  CHECK(row.samples == 3);
  CHECK(row.failures == 1);
}

TEST_CASE("Fig3Accumulator with failures only") {
  Fig3Accumulator acc(0.1);
  acc.AddFailure(9);
  Fig3Row row;
  acc.Finish(row);
  CHECK(std::isnan(row.mae));
  CHECK(std::isnan(row.mae_median));
  CHECK(row.oks50 == 0.0);
  CHECK(row.samples == 1);
}

TEST_CASE("ReconstructionErrors are model-plane distances") {
  // Truth: scale 2 and a flip. The estimate is off by 0.1 image units
  // along x, i.e. 0.05 model units.
  Mat3 truth = Mat3::Identity();
  truth(0, 0) = 2;
  truth(1, 1) = -2;
  Mat3 estimated = truth;
  estimated(0, 2) = 0.1;
  const std::vector<Vec2> points = {Vec2(0, 0), Vec2(1, -3), Vec2(-2, 5)};
  for (double e : ReconstructionErrors(estimated, truth, points)) {
    CHECK(e == doctest::Approx(0.05));
  }
  for (double e : ReconstructionErrors(truth, truth, points)) {
    CHECK(e == doctest::Approx(0.0));
  }
  // A point on the estimate's line at infinity: w = 1 − x = 0 at x = 1.
  Mat3 singular = Mat3::Identity();
  singular(2, 0) = -1;
  const std::vector<double> e =
      ReconstructionErrors(singular.inverse(), Mat3::Identity(), {Vec2(1, 0)});
  CHECK(std::isinf(e[0]));
}

TEST_CASE("AnchorGrid and FieldGrid") {
  const std::vector<Vec2> four = AnchorGrid(4);
  REQUIRE(four.size() == 4);
  CHECK(four[0].isApprox(Vec2(-0.5, -0.5)));
  CHECK(four[3].isApprox(Vec2(0.5, 0.5)));
  const std::vector<Vec2> nine = AnchorGrid(9);
  REQUIRE(nine.size() == 9);
  CHECK(nine[0].isApprox(Vec2(-1, -1)));
  CHECK((nine[1] - nine[0]).norm() == doctest::Approx(1.0));
  CHECK(nine[4].norm() < 1e-12);

  Fig3Options o;
  o.field_grid = 3;
  o.field_margin = 0.5;
  const std::vector<Vec2> field = FieldGrid(4, o);
  REQUIRE(field.size() == 9);
  // Anchors at ±0.5, half a spacing beyond: ±1, centre 0.
  CHECK(field[0].isApprox(Vec2(-1, -1)));
  CHECK(field[4].norm() < 1e-12);
  CHECK(field[8].isApprox(Vec2(1, 1)));
}

TEST_CASE("Random homographies are moderate and reverse orientation") {
  Fig3Options o;
  for (int k = 0; k < 200; ++k) {
    const Fig3Sample s = MakeFig3Sample(o, 100, 0.0, k);
    const Mat3& h = s.image_from_model;
    CHECK(h(2, 2) == doctest::Approx(1.0));
    for (const Vec2& corner : {Vec2(-5, -5), Vec2(5, 5), Vec2(-5, 5)}) {
      const Mat2 j = Jacobian(h, corner);
      CHECK(j.determinant() < 0);
      const Eigen::JacobiSVD<Mat2> svd(j);
      CHECK(svd.singularValues()(0) < 1.8);
      CHECK(svd.singularValues()(1) > 0.5);
    }
    // σ = 0: the image points are the true ones.
    for (size_t p = 0; p < s.model.size(); ++p) {
      CHECK((s.image[p] - Apply(h, s.model[p])).norm() < 1e-12);
    }
  }
}

TEST_CASE("Samples are reproducible and share draws across sigma") {
  Fig3Options o;
  const Fig3Sample a = MakeFig3Sample(o, 16, 0.1, 7);
  const Fig3Sample b = MakeFig3Sample(o, 16, 0.1, 7);
  const Fig3Sample c = MakeFig3Sample(o, 16, 0.2, 7);
  const Fig3Sample d = MakeFig3Sample(o, 16, 0.1, 8);
  CHECK(a.image_from_model == b.image_from_model);
  CHECK(a.image_from_model == c.image_from_model);
  CHECK_FALSE(a.image_from_model.isApprox(d.image_from_model));
  for (size_t p = 0; p < a.model.size(); ++p) {
    CHECK(a.image[p] == b.image[p]);
    const Vec2 truth = Apply(a.image_from_model, a.model[p]);
    // Twice the σ, twice the same unit draw.
    CHECK((c.image[p] - truth).isApprox(2 * (a.image[p] - truth), 1e-9));
  }
}

TEST_CASE("sigma 0: every estimator reconstructs exactly") {
  const Fig3Options o = Tiny();
  const std::vector<Fig3Row> rows = RunFig3Study(o);
  // 3 counts × 3 estimators × {fitted, field}.
  REQUIRE(rows.size() == 18);
  for (const Fig3Row& r : rows) {
    CAPTURE(Fig3EstimatorName(r.estimator));
    CAPTURE(r.count);
    CAPTURE(Fig3WhereName(r.where));
    CHECK(r.mae < 1e-6);
    CHECK(r.oks50 == 1.0);
    CHECK(r.oks95 == 1.0);
    CHECK(r.samples == 20);
    CHECK(r.failures == 0);
  }
}

TEST_CASE("The study is reproducible with a seed") {
  Fig3Options o = Tiny();
  o.sigmas = {0.05};
  o.counts = {9};
  const std::vector<Fig3Row> a = RunFig3Study(o);
  const std::vector<Fig3Row> b = RunFig3Study(o);
  REQUIRE(a.size() == b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].mae == b[k].mae);
    CHECK(a[k].oks95 == b[k].oks95);
  }
  o.seed = 2;
  const std::vector<Fig3Row> c = RunFig3Study(o);
  CHECK(c[0].mae != a[0].mae);
}

TEST_CASE("Noise: errors grow with sigma and shrink with N (least squares)") {
  Fig3Options o;
  o.estimators = {Fig3Estimator::kLeastSquares};
  o.samples = 60;
  const auto fitted_mae = [&](int count, double sigma) {
    return RunFig3Cell(o, count, sigma)[0].mae;
  };
  CHECK(fitted_mae(16, 0.02) < fitted_mae(16, 0.05));
  CHECK(fitted_mae(64, 0.05) < fitted_mae(9, 0.05));
  // Four anchors: the homography interpolates the noisy points, so the
  // reconstruction error is the noise itself, order σ.
  const double four = fitted_mae(4, 0.05);
  CHECK(four > 0.02);
  CHECK(four < 0.2);
}

TEST_CASE("N = 4: the error at the anchors is the noise itself") {
  // Four pairs fix a homography exactly, so H_est⁻¹(P_e) − P_m is the noise
  // mapped back through a map of local scale ≈ 1: a 2-D Gaussian of std σ,
  // whose length is Rayleigh. Recall at OKS ≥ 0.95 (d ≤ 0.0320) is then
  // 1 − exp(−0.0320² / (2σ²)) = 0.185 for σ = 0.05 (the random scales
  // between 0.8 and 1.25 move it by about a hundredth).
  Fig3Options o;
  o.estimators = {Fig3Estimator::kLmeds};
  o.samples = 800;
  const Fig3Row fitted = RunFig3Cell(o, 4, 0.05)[0];
  const double d95 = 0.1 * std::sqrt(-2 * std::log(0.95));
  const double rayleigh = 1 - std::exp(-d95 * d95 / (2 * 0.05 * 0.05));
  CHECK(rayleigh == doctest::Approx(0.185).epsilon(0.01));
  CHECK(fitted.oks95 == doctest::Approx(rayleigh).epsilon(0.15));
  // Mean length of a 2-D Gaussian: σ·√(π/2) = 0.0627.
  CHECK(fitted.mae ==
        doctest::Approx(0.05 * std::sqrt(3.14159265 / 2)).epsilon(0.15));
}

TEST_CASE("Fig3Options::Validate lists every violation") {
  Fig3Options o;
  o.counts = {5, 16};
  o.sigmas = {-0.1};
  o.samples = 0;
  o.estimators = {Fig3Estimator::kLmeds, Fig3Estimator::kLmeds};
  const Status s = o.Validate();
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("counts[] = 5") != std::string::npos);
  CHECK(s.message().find("sigmas[] = -0.1") != std::string::npos);
  CHECK(s.message().find("samples = 0") != std::string::npos);
  CHECK(s.message().find("estimators") != std::string::npos);
  CHECK(Fig3Options().Validate().ok());
}

TEST_CASE("Estimator names round-trip") {
  for (Fig3Estimator e : {Fig3Estimator::kLmeds, Fig3Estimator::kAnchord,
                          Fig3Estimator::kLeastSquares, Fig3Estimator::kRansac,
                          Fig3Estimator::kUsac}) {
    CHECK(ParseFig3Estimator(Fig3EstimatorName(e)) == e);
  }
  CHECK_FALSE(ParseFig3Estimator("magic").has_value());
}

}  // namespace
}  // namespace anchord
