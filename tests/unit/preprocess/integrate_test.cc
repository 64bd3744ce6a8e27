#include "anchord/preprocess/integrate.h"

#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"

#include "support/truth_match.h"
#include <doctest/doctest.h>

#include <cmath>

namespace anchord {
namespace {

// The backward difference along x: what a constant-current loop's error
// signal measures (up to scale and polarity).
cv::Mat1f SlopeAlongX(const cv::Mat1f& z, float sign) {
  cv::Mat1f d(z.size(), 0.0f);
  for (int y = 0; y < z.rows; ++y) {
    for (int x = 1; x < z.cols; ++x) d(y, x) = sign * (z(y, x) - z(y, x - 1));
  }
  return d;
}

// Removes the least-squares line from every row (reference implementation).
cv::Mat1f DetrendRows(const cv::Mat1f& in) {
  cv::Mat1f out = in.clone();
  for (int y = 0; y < in.rows; ++y) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    const int n = in.cols;
    for (int x = 0; x < n; ++x) {
      sx += x;
      sy += in(y, x);
      sxx += double(x) * x;
      sxy += double(x) * in(y, x);
    }
    const double b = (n * sxy - sx * sy) / (n * sxx - sx * sx);
    const double a = (sy - b * sx) / n;
    for (int x = 0; x < n; ++x) out(y, x) -= static_cast<float>(a + b * x);
  }
  return out;
}

TEST_CASE("integrating the slope recovers each row up to offset and tilt") {
  SyntheticScanOptions o;
  o.width_px = 128;
  o.height_px = 64;
  o.field_of_view_nm = 10;
  o.noise = 0;
  const cv::Mat1f z = MakeSyntheticScan(o).frame.image;
  for (const float sign : {1.0f, -1.0f}) {
    const cv::Mat1f back = IntegrateFastAxis(SlopeAlongX(z, sign), sign);
    const cv::Mat1f expected = DetrendRows(z);
    double worst = 0;
    for (int y = 0; y < z.rows; ++y) {
      for (int x = 0; x < z.cols; ++x) {
        worst = std::max(worst, double(std::abs(back(y, x) - expected(y, x))));
      }
    }
    CAPTURE(sign);
    CHECK(worst < 1e-3);
    // The wrong polarity gives the negated topography.
    const cv::Mat1f flipped = IntegrateFastAxis(SlopeAlongX(z, sign), -sign);
    CHECK(std::abs(flipped(10, 40) + expected(10, 40)) < 1e-3);
  }
}

TEST_CASE("rows that are mostly missing stay missing") {
  cv::Mat1f slope(8, 32, 0.1f);
  for (int x = 0; x < 20; ++x) slope(3, x) = std::nanf("");
  const cv::Mat1f out = IntegrateFastAxis(slope, 1.0);
  CHECK(std::isnan(out(3, 0)));
  CHECK(std::isnan(out(3, 31)));
  CHECK(std::isfinite(out(2, 5)));
}

TEST_CASE("a feedback-error frame registers on its integral, either polarity") {
  SyntheticScanOptions o;
  o.width_px = 320;
  o.height_px = 320;
  o.field_of_view_nm = 26;
  o.rotation_deg = 33;
  o.scale_error_x = 0.1;
  o.noise = 0.03;
  o.vacancy_fraction = 0.05;
  o.seed = 21;
  const SyntheticScan scan = MakeSyntheticScan(o);
  for (const float sign : {1.0f, -1.0f}) {
    CAPTURE(sign);
    Frame f = scan.frame;
    f.image = SlopeAlongX(scan.frame.image, sign);
    f.channel = "Current";
    f.feedback_error = true;
    const FrameResult r = RegisterFrame(f, MakeSi7x7Model(), PipelineOptions());
    CAPTURE(r.status.message());
    REQUIRE(r.status.ok());
    const testing::TruthScore s = testing::ScoreAgainstTruth(r, scan);
    MESSAGE(s.Summary());
    CHECK(s.recall() >= 0.99);
    CHECK(s.rms_error_nm() <= 0.03);
    CHECK(s.hole_recall() >= 0.99);
    // The corrected frame is the error signal itself, warped.
    REQUIRE(!r.corrected.image.empty());
    CHECK(r.timing_ms.front().first == "integrate");
  }
}

}  // namespace
}  // namespace anchord
