#include "anchord/align/align_frames.h"

#include "anchord/io/sxm.h"
#include "anchord/synth/synthetic_pair.h"

#include "support/real_data.h"
#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace anchord {
namespace {

struct Tre {
  double median_px = 0, p90_px = 0;
  int points = 0;
};

// Median and 90th percentile of the field's target errors (every 8th
// fixed pixel whose true match lies in the moving frame).
Tre FieldError(const SyntheticPair& pair, const cv::Mat2f& field) {
  std::vector<double> e = pair.TargetErrorsPx(field);
  Tre out;
  out.points = static_cast<int>(e.size());
  if (e.empty()) return out;
  std::sort(e.begin(), e.end());
  out.median_px = e[e.size() / 2];
  out.p90_px = e[static_cast<size_t>(0.9 * (e.size() - 1))];
  return out;
}

SyntheticPairOptions Pair(uint64_t seed, Vec2 t, double noise, double line) {
  SyntheticPairOptions o;
  o.scan = ModeratelyDistortedScan(seed, 512, 30);
  o.scan.noise = noise;
  o.scan.line_noise = line;
  o.scan.adsorbates_per_cell = 0.05;
  o.translation_px = t;
  o.bumps = 4;
  o.bump_amplitude_px = 3;
  o.seed = seed;
  return o;
}

TEST_CASE(
    "align: translation up to 8 % plus ±3 px bumps, moderate and hard noise") {
  const double diagonal = std::hypot(512, 512);
  std::vector<double> rtre_medians, p90s;
  int k = 0;
  for (const Vec2& t :
       {Vec2(40, -25), Vec2(-41, 12), Vec2(8, 37), Vec2(-30, -30)}) {
    for (const auto& [noise, line] :
         {std::pair{0.1, 0.0}, std::pair{0.25, 0.3}}) {
      ++k;
      const SyntheticPair pair =
          MakeSyntheticPair(Pair(100 + k, t, noise, line));
      const AlignResult r =
          AlignFrames(pair.fixed, pair.moving, AlignOptions{});
      INFO("pair " << k << " t " << t.transpose() << " noise " << noise << ": "
                   << r.message);
      REQUIRE(r.status == AlignStatus::kOk);
      const Tre e = FieldError(pair, r.field);
      MESSAGE("pair " << k << " noise " << noise << " line " << line
                      << ": median TRE " << e.median_px << " px, p90 "
                      << e.p90_px << " px, inliers " << r.inliers << "/"
                      << r.matches.size() << ", residual " << r.residual_px
                      << " px, affine residual " << r.affine_residual_px << ", "
                      << r.timings.total_ms << " ms");
      REQUIRE(e.points > 1000);
      CHECK((r.translation_px - pair.TrueDisplacement(Vec2(255.5, 255.5)))
                .norm() < 3.5);
      rtre_medians.push_back(e.median_px / diagonal);
      p90s.push_back(e.p90_px);
      CHECK(e.median_px / diagonal <= 0.001);
      CHECK(e.p90_px <= 0.003 * 512);
    }
  }
}

TEST_CASE("align: bad inputs give a clear status") {
  const SyntheticPair pair = MakeSyntheticPair(Pair(7, Vec2(10, 5), 0.1, 0));
  AlignOptions o;
  SUBCASE("different size") {
    Frame small = pair.moving;
    small.image = pair.moving.image(cv::Rect(0, 0, 256, 256)).clone();
    const AlignResult r = AlignFrames(pair.fixed, small, o);
    CHECK(r.status == AlignStatus::kInvalidInput);
    CHECK(r.message.find("different size") != std::string::npos);
  }
  SUBCASE("different pixel size") {
    Frame other = pair.moving;
    other.pixel_size_x_nm *= 1.2;
    const AlignResult r = AlignFrames(pair.fixed, other, o);
    CHECK(r.status == AlignStatus::kInvalidInput);
    CHECK(r.message.find("pixel sizes differ") != std::string::npos);
  }
  SUBCASE("constant frame") {
    Frame flat = pair.moving;
    flat.image.setTo(3.0f);
    const AlignResult r = AlignFrames(pair.fixed, flat, o);
    CHECK(r.status == AlignStatus::kInvalidInput);
    CHECK(r.message.find("moving frame") != std::string::npos);
  }
  SUBCASE("NaN rows: a few are masked, most refuse") {
    Frame holes = pair.moving;
    holes.image.rowRange(100, 110).setTo(
        std::numeric_limits<float>::quiet_NaN());
    const AlignResult ok = AlignFrames(pair.fixed, holes, o);
    CHECK(ok.status == AlignStatus::kOk);
    holes.image.rowRange(0, 400).setTo(std::numeric_limits<float>::quiet_NaN());
    const AlignResult bad = AlignFrames(pair.fixed, holes, o);
    CHECK(bad.status == AlignStatus::kInvalidInput);
  }
  SUBCASE("unrelated frames do not overlap") {
    SyntheticPairOptions other = Pair(8, Vec2(0, 0), 0.1, 0);
    other.scan.offset_nm = Vec2(500, 300);
    other.scan.rotation_deg = 40;
    const SyntheticPair far = MakeSyntheticPair(other);
    const AlignResult r = AlignFrames(pair.fixed, far.moving, o);
    INFO(r.inliers << " inliers of " << r.matches.size());
    CHECK(r.status == AlignStatus::kNoOverlap);
  }
  SUBCASE("bad options list every violation") {
    o.patch_px = 1;
    o.max_anomaly_score = 0.2;
    const AlignResult r = AlignFrames(pair.fixed, pair.moving, o);
    CHECK(r.status == AlignStatus::kInvalidInput);
    CHECK(r.message.find("patch_px") != std::string::npos);
    CHECK(r.message.find("max_anomaly_score") != std::string::npos);
  }
}

TEST_CASE("align: 30 % random matches raise the field error by < 20 %") {
  const SyntheticPair pair = MakeSyntheticPair(Pair(11, Vec2(25, -18), 0.1, 0));
  AlignOptions o;
  const AlignResult clean = AlignFrames(pair.fixed, pair.moving, o);
  REQUIRE(clean.status == AlignStatus::kOk);
  std::vector<AlignMatch> matches = clean.matches;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  std::uniform_int_distribution<size_t> pick(0, matches.size() - 1);
  const size_t replaced = matches.size() * 3 / 10;
  for (size_t k = 0; k < replaced; ++k) {
    AlignMatch& m = matches[pick(rng)];
    // A random match anywhere within the search reach of the shift.
    m.moving_px = m.fixed_px + clean.coarse_shift_px +
                  Vec2(u(rng), u(rng)) * 3 * o.search_radius_px;
  }
  const AlignResult noisy = AlignMatches(matches, 512, 512, o);
  REQUIRE(noisy.status == AlignStatus::kOk);
  const double before = FieldError(pair, clean.field).median_px;
  const double after = FieldError(pair, noisy.field).median_px;
  MESSAGE("median TRE " << before << " px clean, " << after
                        << " px with 30 % random matches; inliers "
                        << noisy.inliers << " of " << matches.size());
  CHECK(after < 1.2 * before);
  // Without the two outlier stages the same matches do much worse.
  o.max_anomaly_score = 1.0;
  o.local.min_residual_px = 1e9;
  const AlignResult unfiltered = AlignMatches(matches, 512, 512, o);
  REQUIRE(unfiltered.status == AlignStatus::kOk);
  CHECK(FieldError(pair, unfiltered.field).median_px > 1.5 * before);
}

// NCC of the overlapping parts of a and b when b is a shifted by d.
double OverlapNcc(const cv::Mat1f& a, const cv::Mat1f& b, int dx, int dy) {
  const int w = a.cols - std::abs(dx), h = a.rows - std::abs(dy);
  if (w < a.cols / 3 || h < a.rows / 3) return -2;
  const cv::Mat1f pa = a(cv::Rect(std::max(0, -dx), std::max(0, -dy), w, h));
  const cv::Mat1f pb = b(cv::Rect(std::max(0, dx), std::max(0, dy), w, h));
  cv::Mat1f r;
  cv::matchTemplate(pb, pa, r, cv::TM_CCOEFF_NORMED);
  return r(0, 0);
}

// The cross-correlation check: the integer shift maximising the NCC of the
// overlapping parts of the two levelled frames, searched exhaustively at
// half resolution within ±reach px and refined within ±2 px at full
// resolution.
Vec2 BruteForceShift(const cv::Mat1f& a, const cv::Mat1f& b, int reach) {
  cv::Mat1f a2, b2;
  cv::pyrDown(a, a2);
  cv::pyrDown(b, b2);
  double best = -2;
  Vec2 at = Vec2::Zero();
  for (int dy = -reach / 2; dy <= reach / 2; ++dy) {
    for (int dx = -reach / 2; dx <= reach / 2; ++dx) {
      const double v = OverlapNcc(a2, b2, dx, dy);
      if (v > best) {
        best = v;
        at = Vec2(2 * dx, 2 * dy);
      }
    }
  }
  const Vec2 coarse = at;
  best = -2;
  for (int dy = -2; dy <= 2; ++dy) {
    for (int dx = -2; dx <= 2; ++dx) {
      const int x = static_cast<int>(coarse.x()) + dx;
      const int y = static_cast<int>(coarse.y()) + dy;
      const double v = OverlapNcc(a, b, x, y);
      if (v > best) {
        best = v;
        at = Vec2(x, y);
      }
    }
  }
  return at;
}

TEST_CASE("align: real pair Si_7x7_028 -> Si_7x7_032") {
  const std::string dir = testing::RealDataDir();
  if (dir.empty()) {
    MESSAGE("skipped: ../shared/data/real not present");
    return;
  }
  Frame fixed, moving;
  REQUIRE(ExtractSxmFrame(ReadSxm(dir + "/Si_7x7_028.sxm"), "Z",
                          SxmTrace::kForward, &fixed)
              .ok());
  REQUIRE(ExtractSxmFrame(ReadSxm(dir + "/Si_7x7_032.sxm"), "Z",
                          SxmTrace::kForward, &moving)
              .ok());
  const AlignResult r = AlignFrames(fixed, moving, AlignOptions{});
  INFO(r.message);
  REQUIRE(r.status == AlignStatus::kOk);
  const LevelResult a = Level(fixed.image, LevelOptions{});
  const LevelResult b = Level(moving.image, LevelOptions{});
  const Vec2 check = BruteForceShift(a.image, b.image, 80);
  MESSAGE("028 -> 032: translation "
          << r.translation_px.transpose() << " px, cross-correlation "
          << check.transpose() << " px, inliers " << r.inliers << "/"
          << r.matches.size() << ", residual " << r.residual_px << " px");
  CHECK((r.translation_px - check).norm() <= 2.0);
}

}  // namespace
}  // namespace anchord

namespace anchord {
namespace {

TEST_CASE("align: a prior keeps a blurred periodic lattice on the true shift") {
  // The moving frame scanned with a blunt tip (0.8 nm blur) and both
  // smoothed: the lattice dominates, and phase correlation may lock one
  // lattice vector off; patches searched around a good prior cannot.
  SyntheticPairOptions o = Pair(21, Vec2(12.4, -7.2), 0.1, 0);
  o.scan = ModeratelyDistortedScan(21, 256, 30);
  o.bumps = 0;
  const SyntheticPair sharp = MakeSyntheticPair(o);
  o.scan.blur_nm = 0.8;
  const SyntheticPair blunt = MakeSyntheticPair(o);
  AlignOptions options;
  options.smoothing_px = 5;
  const Vec2 truth = sharp.TrueDisplacement(Vec2(127.5, 127.5));
  const AlignPrior prior{truth + Vec2(0.8, -0.6), 0.5};
  const AlignResult guided =
      AlignFrames(sharp.fixed, blunt.moving, options, &prior);
  INFO(guided.message);
  REQUIRE(guided.status == AlignStatus::kOk);
  CHECK(guided.prior_used);
  CHECK((guided.translation_px - truth).norm() < 1.0);
  // A prior too vague for the search radius is not used.
  const AlignPrior vague{truth, 5.0};
  CHECK(!AlignFrames(sharp.fixed, blunt.moving, options, &vague).prior_used);
}

}  // namespace
}  // namespace anchord

namespace anchord {
namespace {

TEST_CASE("align: the frames are left as they were") {
  // 256 px: the coarse shift runs at full size, on the levelled copies
  // (phaseCorrelate windows its inputs in place; the coarse step hands it
  // copies of its own).
  SyntheticPairOptions o = Pair(31, Vec2(9, -4), 0.1, 0);
  o.scan = ModeratelyDistortedScan(31, 256, 30);
  const SyntheticPair pair = MakeSyntheticPair(o);
  const cv::Mat1f fixed = pair.fixed.image.clone();
  const cv::Mat1f moving = pair.moving.image.clone();
  REQUIRE(AlignFrames(pair.fixed, pair.moving, AlignOptions{}).status ==
          AlignStatus::kOk);
  CHECK(cv::norm(fixed, pair.fixed.image, cv::NORM_INF) == 0);
  CHECK(cv::norm(moving, pair.moving.image, cv::NORM_INF) == 0);
}

}  // namespace
}  // namespace anchord
