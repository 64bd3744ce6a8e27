#include "anchord/register/lattice_registration.h"

#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>

#include <random>

namespace anchord {
namespace {

struct Setup {
  SyntheticScan scan;
  std::vector<Candidate> candidates;
  LatticeEstimate lattice;
  int outliers = 0;
};

// Candidates at the true corner holes (with Gaussian noise) plus random
// outliers, and the true local lattice vectors as the lattice estimate.
Setup MakeSetup(double noise_px, double outlier_share, double creep_px) {
  SyntheticScanOptions o;
  o.width_px = 384;
  o.height_px = 384;
  o.field_of_view_nm = 40;
  o.rotation_deg = 37;
  o.scale_error_x = 0.12;
  o.scale_error_y = -0.1;
  o.shear = 0.1;
  o.perspective = 0.02;
  o.perspective_angle_deg = 30;
  o.creep_px = creep_px;
  o.creep_tau_rows = 40;
  o.noise = 0;
  o.seed = 11;
  Setup s;
  s.scan = MakeSyntheticScan(o);
  std::mt19937_64 rng(5);
  std::normal_distribution<double> n(0.0, noise_px);
  for (const TruthCornerHole& h : s.scan.corner_holes) {
    s.candidates.push_back({h.p_px + Vec2(n(rng), n(rng)), 1.0});
  }
  std::uniform_real_distribution<double> u(0, o.width_px - 1);
  s.outliers = static_cast<int>(outlier_share * s.scan.corner_holes.size());
  for (int k = 0; k < s.outliers; ++k) {
    s.candidates.push_back({Vec2(u(rng), u(rng)), 0.5});
  }
  const LatticeModel model = MakeSi7x7Model();
  const Mat2 j = Jacobian(s.scan.image_from_model, Vec2::Zero());
  s.lattice.b1_px = j * model.a1_nm;
  s.lattice.b2_px = j * model.a2_nm;
  return s;
}

// Largest distance between H's prediction of a true corner hole and the
// hole's true position, over holes the registration identified.
double MaxHoleError(const Setup& s, const RegisterResult& r) {
  double worst = 0;
  for (const HolePair& p : r.pairs) {
    if (!p.inlier) continue;
    const Vec2 predicted = Apply(r.image_from_model, p.model_nm);
    double best = 1e9;
    for (const TruthCornerHole& h : s.scan.corner_holes) {
      best = std::min(best, (h.p_px - predicted).norm());
    }
    worst = std::max(worst, best);
  }
  return worst;
}

TEST_CASE("every estimator recovers H through 30 % outliers") {
  const Setup s = MakeSetup(0.0, 0.3, 0.0);
  for (HomographyMethod m :
       {HomographyMethod::kLmeds, HomographyMethod::kRansac,
        HomographyMethod::kUsac}) {
    CAPTURE(std::string(HomographyMethodName(m)));
    RegisterOptions o;
    o.method = m;
    const RegisterResult r =
        RegisterLattice(s.candidates, s.lattice, MakeSi7x7Model(),
                        s.scan.frame.image.size(), o);
    CAPTURE(r.status.message());
    REQUIRE(r.status.ok());
    const int holes = static_cast<int>(s.scan.corner_holes.size());
    CHECK(r.inliers >= holes - 2);
    CHECK(r.inliers <= holes);  // no outlier counted as an inlier
    CHECK(MaxHoleError(s, r) < 0.01);
    CHECK(r.residual_rms_px < 0.01);
  }
}

TEST_CASE("with detection noise, H is far more precise than one detection") {
  const double sigma = 0.4;
  const Setup s = MakeSetup(sigma, 0.1, 0.0);
  const RegisterResult r =
      RegisterLattice(s.candidates, s.lattice, MakeSi7x7Model(),
                      s.scan.frame.image.size(), RegisterOptions());
  REQUIRE(r.status.ok());
  // A 2-D residual of std σ per axis has RMS σ√2 (8 parameters fitted to
  // ~2N coordinates barely change it).
  CHECK(r.residual_rms_px ==
        doctest::Approx(sigma * std::sqrt(2.0)).epsilon(0.15));
  // H averages over ~150 holes: its error at a hole is ~σ·√(8/2N).
  double sum = 0;
  int n = 0;
  for (const HolePair& p : r.pairs) {
    const Vec2 predicted = Apply(r.image_from_model, p.model_nm);
    double best = 1e9;
    for (const TruthCornerHole& h : s.scan.corner_holes) {
      best = std::min(best, (h.p_px - predicted).norm());
    }
    sum += best * best;
    ++n;
  }
  CHECK(std::sqrt(sum / n) < 0.25 * sigma);
}

TEST_CASE("residual propagation pairs the creep region H cannot model") {
  const Setup s = MakeSetup(0.05, 0.0, 12.0);
  RegisterOptions with;
  RegisterOptions without;
  without.propagate_residuals = false;
  const auto run = [&](const RegisterOptions& o) {
    return RegisterLattice(s.candidates, s.lattice, MakeSi7x7Model(),
                           s.scan.frame.image.size(), o);
  };
  const RegisterResult a = run(with);
  const RegisterResult b = run(without);
  REQUIRE(a.status.ok());
  REQUIRE(b.status.ok());
  const size_t holes = s.scan.corner_holes.size();
  CHECK(b.pairs.size() < holes);  // the creep rows are lost without it
  CHECK(a.pairs.size() >= holes - 1);
  // Propagated pairs are not inliers of H but carry their residual.
  int propagated = 0;
  for (const HolePair& p : a.pairs) {
    if (p.inlier) continue;
    ++propagated;
    CHECK(
        (p.detected_px - Apply(a.image_from_model, p.model_nm) - p.residual_px)
            .norm() < 1e-9);
  }
  CHECK(propagated > 0);
}

TEST_CASE("a rough lattice estimate off by 6 % and 4° still registers") {
  Setup s = MakeSetup(0.1, 0.1, 0.0);
  const double c = std::cos(4.0 * M_PI / 180), sn = std::sin(4.0 * M_PI / 180);
  Mat2 rot;
  rot << c, -sn, sn, c;
  s.lattice.b1_px = 1.06 * rot * s.lattice.b1_px;
  s.lattice.b2_px = 1.06 * rot * s.lattice.b2_px;
  const RegisterResult r =
      RegisterLattice(s.candidates, s.lattice, MakeSi7x7Model(),
                      s.scan.frame.image.size(), RegisterOptions());
  REQUIRE(r.status.ok());
  CHECK(r.inliers >= static_cast<int>(s.scan.corner_holes.size()) - 3);
}

TEST_CASE("too few candidates end as no_lattice") {
  Setup s = MakeSetup(0.0, 0.0, 0.0);
  s.candidates.resize(3);
  const RegisterResult r =
      RegisterLattice(s.candidates, s.lattice, MakeSi7x7Model(),
                      s.scan.frame.image.size(), RegisterOptions());
  CHECK(r.status.code() == StatusCode::kNoLattice);
}

TEST_CASE("RegisterOptions::Validate lists every violation") {
  RegisterOptions o;
  o.gate_fraction = 0.7;
  o.min_inliers = 2;
  o.max_iterations = 0;
  const Status s = o.Validate();
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(s.message().find("homography.gate_fraction = 0.7") !=
        std::string::npos);
  CHECK(s.message().find("homography.min_inliers = 2") != std::string::npos);
  CHECK(s.message().find("homography.max_iterations = 0") != std::string::npos);
  CHECK(RegisterOptions().Validate().ok());
}

}  // namespace
}  // namespace anchord
