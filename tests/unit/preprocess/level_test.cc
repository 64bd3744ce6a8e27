// Levelling: plane + per-line offsets removed, glitch and NaN rows masked
// and filled, output finite and of unit robust spread; degenerate frames
// end as a status.

#include "anchord/preprocess/level.h"

#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>
#include <vector>

namespace anchord {
namespace {

double MedianOf(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

double RowMedian(const cv::Mat1f& img, int y) {
  std::vector<double> v(img[y], img[y] + img.cols);
  return MedianOf(v);
}

double RobustSpread(const cv::Mat1f& img) {
  std::vector<double> v(img.begin(), img.end());
  const double m = MedianOf(v);
  for (double& x : v) x = std::abs(x - m);
  return 1.4826 * MedianOf(v);
}

bool AllFinite(const cv::Mat1f& img) {
  for (float v : img) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

SyntheticScanOptions BaseOptions() {
  SyntheticScanOptions o;
  o.width_px = 256;
  o.height_px = 256;
  o.field_of_view_nm = 20;
  o.rotation_deg = 8;
  o.noise = 0.05;
  o.seed = 7;
  return o;
}

// Adds a strong plane a·x + b·y and a per-row offset to `img`.
cv::Mat1f AddPlaneAndLineOffsets(
    const cv::Mat1f& img, double a, double b, double line_std, uint64_t seed) {
  cv::Mat1f out = img.clone();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0, line_std);
  for (int y = 0; y < out.rows; ++y) {
    const double off = g(rng);
    for (int x = 0; x < out.cols; ++x) {
      out(y, x) += static_cast<float>(a * x + b * y + off);
    }
  }
  return out;
}

TEST_CASE("LevelOptions::Validate lists every violation") {
  CHECK(LevelOptions{}.Validate().ok());
  LevelOptions o;
  o.glitch_threshold = 1.0;
  o.max_masked_row_fraction = 1.0;
  const Status s = o.Validate();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(s.message().find("level.glitch_threshold = 1") != std::string::npos);
  CHECK(s.message().find("level.max_masked_row_fraction = 1") !=
        std::string::npos);
  CHECK(std::count(s.message().begin(), s.message().end(), '\n') == 1);
}

TEST_CASE("tilted plane, line offsets and glitch rows are levelled") {
  SyntheticScanOptions o = BaseOptions();
  o.glitch_lines = 3;
  const SyntheticScan scan = MakeSyntheticScan(o);
  REQUIRE(scan.glitch_rows.size() == 3);
  // Plane of 0.04 per px along x and -0.03 along y: ~10 height units
  // across the frame, far above the surface corrugation (~1).
  const cv::Mat1f raw =
      AddPlaneAndLineOffsets(scan.frame.image, 0.04, -0.03, 0.5, 99);
  const LevelResult r = Level(raw, LevelOptions{});
  REQUIRE(r.status.ok());
  REQUIRE(r.image.size() == raw.size());
  REQUIRE(r.row_ok.size() == static_cast<size_t>(raw.rows));
  CHECK(AllFinite(r.image));

  // Glitch rows are masked; few other rows are.
  for (int y : scan.glitch_rows) {
    CAPTURE(y);
    CHECK_FALSE(r.row_ok[y]);
  }
  const std::set<int> glitch(scan.glitch_rows.begin(), scan.glitch_rows.end());
  int other_masked = 0;
  for (int y = 0; y < raw.rows; ++y) {
    other_masked += !r.row_ok[y] && glitch.count(y) == 0;
  }
  CHECK(other_masked <= 2);
  CHECK(r.masked_rows == static_cast<int>(glitch.size()) + other_masked);

  // Line levelling: row medians ~0 up to one common offset (the row
  // offset estimator may differ from the median by a constant on a skewed
  // surface; that shifts the whole frame and is harmless). Before
  // levelling the injected offsets (std 0.5 raw ≈ 2 levelled units) make
  // them scatter by several units. A masked row is refilled by
  // interpolating its levelled neighbours, and the median of an average is
  // not the average of the medians, so those rows get a wider bound.
  std::vector<double> medians;
  for (int y = 0; y < raw.rows; ++y) {
    if (r.row_ok[y]) medians.push_back(RowMedian(r.image, y));
  }
  const double common = MedianOf(medians);
  CHECK(std::abs(common) < 0.5);
  for (int y = 0; y < raw.rows; ++y) {
    CAPTURE(y);
    CAPTURE(r.row_ok[y]);
    CHECK(std::abs(RowMedian(r.image, y) - common) < (r.row_ok[y] ? 0.3 : 0.5));
  }
  // The injected per-line offsets are gone: the row-mean of (levelled ·
  // scale − clean surface) varies across good rows by < 10 % of the
  // injected 0.5 std.
  {
    std::vector<double> offsets;
    for (int y = 0; y < raw.rows; ++y) {
      if (!r.row_ok[y]) continue;
      double sum = 0;
      for (int x = 0; x < raw.cols; ++x) {
        sum += r.image(y, x) * r.scale - scan.frame.image(y, x);
      }
      offsets.push_back(sum / raw.cols);
    }
    double mean = 0, var = 0;
    for (double v : offsets) mean += v;
    mean /= offsets.size();
    for (double v : offsets) var += (v - mean) * (v - mean);
    CHECK(std::sqrt(var / offsets.size()) < 0.05);
  }
  // Unit robust spread; scale is the raw-unit spread.
  CHECK(RobustSpread(r.image) == doctest::Approx(1.0).epsilon(0.05));
  CHECK(r.scale > 0);

  // The plane is gone: levelled·scale − clean surface is constant along
  // each good row (no x trend left), for rows that were not glitched.
  std::vector<double> slopes;
  for (int y = 0; y < raw.rows; ++y) {
    if (!r.row_ok[y]) continue;
    double sx = 0, sxx = 0, sd = 0, sxd = 0;
    for (int x = 0; x < raw.cols; ++x) {
      const double d = r.image(y, x) * r.scale - scan.frame.image(y, x);
      sx += x;
      sxx += double(x) * x;
      sd += d;
      sxd += x * d;
    }
    const double n = raw.cols;
    slopes.push_back((n * sxd - sx * sd) / (n * sxx - sx * sx));
  }
  // Residual slope along x, per px: well under 1 % of the 0.04 tilt.
  CHECK(std::abs(MedianOf(slopes)) < 4e-4);

  // The levelled image correlates with the clean surface (it was not
  // flattened away). Line levelling removes each row's median from the
  // surface too, so compare with the clean surface treated the same way:
  // correlation over the good rows > 0.99.
  double sa = 0, sb = 0, sab = 0, saa = 0, sbb = 0, n = 0;
  for (int y = 0; y < raw.rows; ++y) {
    if (!r.row_ok[y]) continue;
    const double m = RowMedian(scan.frame.image, y);
    for (int x = 0; x < raw.cols; ++x) {
      const double a = r.image(y, x), b = scan.frame.image(y, x) - m;
      sa += a;
      sb += b;
      sab += a * b;
      saa += a * a;
      sbb += b * b;
      ++n;
    }
  }
  const double cov = sab / n - sa * sb / (n * n);
  const double corr = cov / std::sqrt((saa / n - sa * sa / (n * n)) *
                                      (sbb / n - sb * sb / (n * n)));
  CHECK(corr > 0.99);
}

TEST_CASE("synthetic tilt and line noise from the generator are removed") {
  SyntheticScanOptions o = BaseOptions();
  o.tilt = 20;
  o.line_noise = 0.4;
  o.glitch_lines = 2;
  const SyntheticScan scan = MakeSyntheticScan(o);
  const LevelResult r = Level(scan.frame.image, LevelOptions{});
  REQUIRE(r.status.ok());
  for (int y : scan.glitch_rows) CHECK_FALSE(r.row_ok[y]);
  CHECK(AllFinite(r.image));
  // After levelling the four quadrant medians agree: no plane left.
  const int h = r.image.rows / 2, w = r.image.cols / 2;
  std::vector<double> q;
  for (int qy = 0; qy < 2; ++qy) {
    for (int qx = 0; qx < 2; ++qx) {
      const cv::Mat1f block = r.image(cv::Rect(qx * w, qy * h, w, h));
      q.push_back(MedianOf(std::vector<double>(block.begin(), block.end())));
    }
  }
  const auto [lo, hi] = std::minmax_element(q.begin(), q.end());
  CHECK(*hi - *lo < 0.2);
  // Before levelling they differ by many robust spreads.
  std::vector<double> q_raw;
  for (int qy = 0; qy < 2; ++qy) {
    for (int qx = 0; qx < 2; ++qx) {
      const cv::Mat1f block = scan.frame.image(cv::Rect(qx * w, qy * h, w, h));
      q_raw.push_back(
          MedianOf(std::vector<double>(block.begin(), block.end())));
    }
  }
  const auto [rlo, rhi] = std::minmax_element(q_raw.begin(), q_raw.end());
  CHECK((*rhi - *rlo) / r.scale > 2.0);
}

TEST_CASE("NaN rows are masked and filled") {
  const SyntheticScan scan = MakeSyntheticScan(BaseOptions());
  cv::Mat1f raw = scan.frame.image.clone();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::set<int> nan_rows;
  for (int k = 0; k < 5; ++k) nan_rows.insert(30 + 37 * k);  // isolated
  for (int y = 200; y < 205; ++y) nan_rows.insert(y);        // a block
  REQUIRE(nan_rows.size() == 10);
  for (int y : nan_rows) raw.row(y).setTo(nan);
  // Also a row with only a few NaN pixels: kept, pixels filled.
  raw(100, 10) = nan;
  raw(100, 11) = std::numeric_limits<float>::infinity();
  const LevelResult r = Level(raw, LevelOptions{});
  REQUIRE(r.status.ok());
  CHECK(AllFinite(r.image));
  for (int y : nan_rows) {
    CAPTURE(y);
    CHECK_FALSE(r.row_ok[y]);
  }
  CHECK(r.row_ok[100]);
  CHECK(r.masked_rows >= 10);
  CHECK(r.masked_rows <= 12);
  // A filled isolated row interpolates its neighbours: it is close to
  // their mean (the surface varies smoothly over one row).
  for (int y : {30, 67, 104}) {
    const cv::Mat1f avg = 0.5 * (r.image.row(y - 1) + r.image.row(y + 1));
    CHECK(cv::norm(r.image.row(y), avg, cv::NORM_L1) / r.image.cols < 0.1);
  }
}

TEST_CASE("a row with fewer than half its pixels finite is masked") {
  const SyntheticScan scan = MakeSyntheticScan(BaseOptions());
  cv::Mat1f raw = scan.frame.image.clone();
  raw.row(50).colRange(0, 200).setTo(std::numeric_limits<float>::quiet_NaN());
  const LevelResult r = Level(raw, LevelOptions{});
  REQUIRE(r.status.ok());
  CHECK_FALSE(r.row_ok[50]);
  CHECK(AllFinite(r.image));
}

TEST_CASE("too many masked rows: kInvalidInput") {
  const SyntheticScan scan = MakeSyntheticScan(BaseOptions());
  cv::Mat1f raw = scan.frame.image.clone();
  raw.rowRange(0, 160).setTo(std::numeric_limits<float>::quiet_NaN());
  const LevelResult r = Level(raw, LevelOptions{});
  CHECK(r.status.code() == StatusCode::kInvalidInput);
  CHECK_FALSE(r.status.message().empty());
  // The same frame passes when the limit allows it.
  LevelOptions lenient;
  lenient.max_masked_row_fraction = 0.9;
  const LevelResult ok = Level(raw, lenient);
  CHECK(ok.status.ok());
  CHECK(AllFinite(ok.image));
}

TEST_CASE("all-NaN frame: kInvalidInput") {
  const cv::Mat1f raw(64, 64, std::numeric_limits<float>::quiet_NaN());
  const LevelResult r = Level(raw, LevelOptions{});
  CHECK(r.status.code() == StatusCode::kInvalidInput);
  CHECK_FALSE(r.status.message().empty());
}

TEST_CASE("empty frame: kInvalidInput") {
  const LevelResult r = Level(cv::Mat1f(), LevelOptions{});
  CHECK(r.status.code() == StatusCode::kInvalidInput);
}

TEST_CASE("constant frame: not ok (flat, no lattice)") {
  const cv::Mat1f raw(64, 64, 3.25f);
  const LevelResult r = Level(raw, LevelOptions{});
  CHECK_FALSE(r.status.ok());
  // A frame with no lattice ends as no_lattice with a reason.
  CHECK(r.status.code() == StatusCode::kNoLattice);
  CHECK(r.status.message().find("flat") != std::string::npos);
}

// A noise-free tilted plane leaves only float rounding residue after the
// plane is removed: that is no contrast, not a frame to scale up.
TEST_CASE("a pure tilted plane is flat once the plane is removed") {
  // Computed in double and rounded once, as a reader would produce it.
  cv::Mat1f plane(64, 81);
  for (int y = 0; y < plane.rows; ++y) {
    for (int x = 0; x < plane.cols; ++x) {
      plane(y, x) = static_cast<float>(0.0371 * x + 0.0123 * y + 5.3);
    }
  }
  const LevelResult r = Level(plane, LevelOptions{});
  CHECK_FALSE(r.status.ok());
}

// Std of the row means of image − truth (both in raw units): for a
// levelled frame, what per-line levelling left of the line offsets and
// took from the lattice.
double RowMeanSpread(const cv::Mat1f& image, const cv::Mat1f& truth) {
  std::vector<double> means;
  for (int y = 0; y < truth.rows; ++y) {
    double sum = 0;
    for (int x = 0; x < truth.cols; ++x) sum += image(y, x) - truth(y, x);
    means.push_back(sum / truth.cols);
  }
  double m = 0, sq = 0;
  for (double v : means) m += v;
  m /= means.size();
  for (double v : means) sq += (v - m) * (v - m);
  return std::sqrt(sq / means.size());
}

TEST_CASE(
    "against the lattice's own signal, a lattice row along the fast "
    "axis is not taken for a line offset") {
  SyntheticScanOptions o = BaseOptions();
  o.rotation_deg = 0.5;  // corner-hole rows almost along x
  o.noise = 0;
  const cv::Mat1f truth = MakeSyntheticScan(o).frame.image;
  const cv::Mat1f raw = AddPlaneAndLineOffsets(truth, 0, 0, 0.3, 5);
  cv::Mat1f signal = truth - cv::mean(truth)[0];
  const LevelResult plain = Level(raw, LevelOptions{});
  const LevelResult aware = Level(raw, LevelOptions{}, signal);
  REQUIRE(plain.status.ok());
  REQUIRE(aware.status.ok());
  // The plain row mean removes the offsets (std 0.3) but also the
  // lattice's row profile; against the signal only the offsets go.
  const double plain_spread = RowMeanSpread(plain.image * plain.scale, truth);
  const double aware_spread = RowMeanSpread(aware.image * aware.scale, truth);
  CHECK(plain_spread > 0.05);
  CHECK(aware_spread < 0.01);
  // The plane-levelled frame, offsets still in, is kept for the second
  // levelling.
  REQUIRE(plain.plane_removed.size() == raw.size());
  CHECK(RowMeanSpread(plain.plane_removed, truth) > 0.2);
  // A signal of another size is ignored.
  const LevelResult other = Level(raw, LevelOptions{}, cv::Mat1f(8, 8, 1.0f));
  CHECK(RowMeanSpread(other.image * other.scale, truth) ==
        doctest::Approx(plain_spread));
  LevelOptions no_lines;
  no_lines.level_lines = false;
  CHECK(Level(raw, no_lines).plane_removed.empty());
}

}  // namespace
}  // namespace anchord
