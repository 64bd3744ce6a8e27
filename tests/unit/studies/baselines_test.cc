// Building blocks of the baseline comparison: drifting sequences (and the
// generator's noise_seed they rest on), the frame-to-frame estimators, the
// error measures and the lattice-symmetry choice.

#include "anchord/studies/baselines.h"

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

namespace anchord {
namespace {

constexpr double kPi = 3.14159265358979323846;

DriftSequenceOptions SmallSequence() {
  DriftSequenceOptions d;
  d.scan.width_px = d.scan.height_px = 160;
  d.scan.field_of_view_nm = 10;
  d.scan.rotation_deg = 12;
  d.scan.scale_error_x = 0.05;
  d.scan.shear = 0.04;
  d.scan.noise = 0.05;
  d.scan.vacancy_fraction = 0.05;
  d.scan.seed = 11;
  d.frames = 3;
  d.drift_nm_per_frame = Vec2(0.4, -0.25);
  return d;
}

double MaxOf(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, x);
  return m;
}

TEST_CASE("noise_seed rescans the same sample with fresh noise") {
  SyntheticScanOptions o = SmallSequence().scan;
  o.line_noise = 0.05;
  o.noise_seed = 5;
  const SyntheticScan a = MakeSyntheticScan(o);
  const SyntheticScan b = MakeSyntheticScan(o);
  o.noise_seed = 6;
  const SyntheticScan c = MakeSyntheticScan(o);
  CHECK(cv::norm(a.frame.image, b.frame.image, cv::NORM_INF) == 0.0);
  CHECK(cv::norm(a.frame.image, c.frame.image, cv::NORM_INF) > 0.0);
  // Same structure: sites and occupancy.
  REQUIRE(a.adatoms.size() == c.adatoms.size());
  for (size_t k = 0; k < a.adatoms.size(); ++k) {
    CHECK(a.adatoms[k].p_px == c.adatoms[k].p_px);
    CHECK(a.adatoms[k].occupied == c.adatoms[k].occupied);
  }
  // Only the noise differs: its size is the noise level, not the signal.
  cv::Scalar mean, stddev;
  cv::meanStdDev(a.frame.image - c.frame.image, mean, stddev);
  CHECK(stddev[0] < 0.2);
  // noise_seed 0 is the previous behaviour: one stream from `seed`.
  o.noise_seed = 0;
  const SyntheticScan d = MakeSyntheticScan(o);
  const SyntheticScan e = MakeSyntheticScan(o);
  CHECK(cv::norm(d.frame.image, e.frame.image, cv::NORM_INF) == 0.0);
  CHECK(cv::norm(d.frame.image, a.frame.image, cv::NORM_INF) > 0.0);
}

TEST_CASE("DriftFrameOptions: same sample, drifted offset, own noise") {
  const DriftSequenceOptions d = SmallSequence();
  const SyntheticScanOptions f0 = DriftFrameOptions(d, 0);
  const SyntheticScanOptions f2 = DriftFrameOptions(d, 2);
  CHECK(f0.seed == f2.seed);
  CHECK(f0.noise_seed != 0);
  CHECK(f0.noise_seed != f2.noise_seed);
  CHECK((f2.offset_nm - f0.offset_nm).isApprox(2 * d.drift_nm_per_frame));
  CHECK(d.Validate().ok());
}

TEST_CASE("DriftSequenceOptions::Validate lists every violation") {
  DriftSequenceOptions d = SmallSequence();
  d.frames = 1;
  d.scan.adsorbates = 2;
  d.drift_nm_per_frame = Vec2(2.0, 0.0);
  d.scan.noise = -1;
  const Status s = d.Validate();
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("frames = 1") != std::string::npos);
  CHECK(s.message().find("adsorbates") != std::string::npos);
  CHECK(s.message().find("drift_nm_per_frame.x") != std::string::npos);
  CHECK(s.message().find("noise") != std::string::npos);
}

TEST_CASE("Perfect maps give zero errors; a model shift gives its length") {
  const DriftSequenceOptions d = SmallSequence();
  const SyntheticScan s0 = MakeSyntheticScan(DriftFrameOptions(d, 0));
  const SyntheticScan s1 = MakeSyntheticScan(DriftFrameOptions(d, 1));
  const std::vector<TrackedAdatom> adatoms =
      CommonAdatoms(s0, s1, 1.0 / s1.frame.pixel_size_x_nm);
  REQUIRE(adatoms.size() > 50);
  // The true frame_from_reference map: H1 · H0⁻¹.
  const Mat3 truth = s1.image_from_model * s0.image_from_model.inverse();
  CHECK(MaxOf(MappedAdatomErrorsNm(adatoms, truth, s1.image_from_model)) <
        1e-9);
  const cv::Size size = s1.frame.image.size();
  CHECK(MaxOf(DistortionErrorsNm(s1.image_from_model, s1.image_from_model,
                                 size)) < 1e-9);
  // The estimate sees every pixel 0.02 nm further along model x.
  const Mat3 shifted =
      s1.image_from_model * AffineTransform(Mat2::Identity(), Vec2(-0.02, 0));
  for (double e : DistortionErrorsNm(shifted, s1.image_from_model, size)) {
    CHECK(e == doctest::Approx(0.02));
  }
}

TEST_CASE("ReportedAdatomErrorsNm matches within the radius, counts misses") {
  const DriftSequenceOptions d = SmallSequence();
  const SyntheticScan s = MakeSyntheticScan(DriftFrameOptions(d, 0));
  const std::vector<TrackedAdatom> adatoms = CommonAdatoms(s, s, 5.0);
  REQUIRE(adatoms.size() > 10);
  const double px_nm = s.frame.pixel_size_x_nm;
  std::vector<Vec2> reported;
  for (const TrackedAdatom& a : adatoms) reported.push_back(a.frame_px);
  // Drop one, move one by 0.1 nm (in pixels through the true map).
  reported.erase(reported.begin());
  reported[0] += Vec2(0.1 / px_nm, 0);
  int missed = -1;
  const std::vector<double> e = ReportedAdatomErrorsNm(
      adatoms, reported, s.image_from_model, 0.384, &missed);
  CHECK(missed == 1);
  CHECK(e.size() == adatoms.size() - 1);
  CHECK(MaxOf(e) == doctest::Approx(0.1).epsilon(0.15));
}

TEST_CASE("PhaseCorrelationMap follows the drift and leaves frames alone") {
  const DriftSequenceOptions d = SmallSequence();
  const SyntheticScan s0 = MakeSyntheticScan(DriftFrameOptions(d, 0));
  const SyntheticScan s1 = MakeSyntheticScan(DriftFrameOptions(d, 1));
  const cv::Mat1f before = s0.frame.image.clone();
  cv::Mat window;
  cv::createHanningWindow(window, s0.frame.image.size(), CV_32F);
  const Mat3 map = PhaseCorrelationMap(s0.frame.image, s1.frame.image, window);
  CHECK(cv::norm(before, s0.frame.image, cv::NORM_INF) == 0.0);
  // Drift (0.4, −0.25) nm ≈ (6.4, −4) px at 16 px/nm before distortion.
  const Mat3 truth = s1.image_from_model * s0.image_from_model.inverse();
  const Vec2 centre(80, 80);
  CHECK((Apply(map, centre) - Apply(truth, centre)).norm() < 0.5);
}

TEST_CASE("SiftFrameMatcher recovers the frame-to-frame map") {
  const DriftSequenceOptions d = SmallSequence();
  const SyntheticScan s0 = MakeSyntheticScan(DriftFrameOptions(d, 0));
  const SyntheticScan s1 = MakeSyntheticScan(DriftFrameOptions(d, 1));
  const SiftFrameMatcher matcher(s0.frame.image, {});
  CHECK(matcher.reference_keypoints() > 20);
  const std::optional<Mat3> map = matcher.Match(s1.frame.image);
  REQUIRE(map.has_value());
  const std::vector<TrackedAdatom> adatoms =
      CommonAdatoms(s0, s1, 1.0 / s1.frame.pixel_size_x_nm);
  const std::vector<double> e =
      MappedAdatomErrorsNm(adatoms, *map, s1.image_from_model);
  std::vector<double> sorted = e;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted[sorted.size() / 2] < 0.05);
}

TEST_CASE("NearestLatticeEquivalent undoes a lattice symmetry") {
  const LatticeModel model = MakeSi7x7Model();
  const SyntheticScan s =
      MakeSyntheticScan(DriftFrameOptions(SmallSequence(), 0));
  const Mat3& truth = s.image_from_model;
  const Vec2 centre(80, 80);
  struct Case {
    int rotation_60, i, j;
  };
  for (const Case& c : {Case{0, 0, 0}, Case{0, 2, -1}, Case{2, 1, 1},
                        Case{4, -3, 2}, Case{3, 0, 1}}) {
    CAPTURE(c.rotation_60);
    CAPTURE(c.i);
    CAPTURE(c.j);
    const double a = c.rotation_60 * kPi / 3;
    Mat2 r;
    r << std::cos(a), -std::sin(a), std::sin(a), std::cos(a);
    const Mat3 symmetry = AffineTransform(r, model.ModelFromLattice(c.i, c.j));
    // An estimate that labels the lattice differently: est = truth ∘ S.
    const Mat3 estimated = truth * symmetry;
    const LatticeEquivalent fixed =
        NearestLatticeEquivalent(estimated, truth, model, centre);
    CHECK(fixed.rotation_60 == c.rotation_60);
    CHECK(fixed.shift_i == c.i);
    CHECK(fixed.shift_j == c.j);
    CHECK(MaxOf(DistortionErrorsNm(fixed.image_from_model, truth,
                                   s.frame.image.size())) < 1e-9);
  }
}

}  // namespace
}  // namespace anchord
