// Registration of the real Nanonis scans in ../shared/data/real (see its
// README). Skips cleanly when the folder is absent. Real frames have no
// ground truth: the assertions are consistency checks that a wrong
// registration fails — channels and traces of one scan agree, and the
// corrected frame shows corner holes on the model lattice.

#include "anchord/io/sxm.h"
#include "anchord/pipeline/register_frame.h"

#include "support/real_data.h"
#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <string>

namespace anchord {
namespace {

struct Run {
  Frame frame;
  FrameResult result;
};

Run Register(const std::string& file,
             const std::string& channel,
             SxmTrace trace) {
  Run run;
  const SxmFile sxm = ReadSxm(testing::RealDataDir() + "/" + file);
  REQUIRE(sxm.status.ok());
  REQUIRE(ExtractSxmFrame(sxm, channel, trace, &run.frame).ok());
  run.result = RegisterFrame(run.frame, MakeSi7x7Model(), PipelineOptions());
  return run;
}

// Share of the model lattice points inside the corrected frame that sit
// within 0.15 nm of a local minimum of the (smoothed) corrected image.
double HolesOnLattice(const FrameResult& r) {
  const CorrectedFrame& c = r.corrected;
  cv::Mat1f img = c.image.clone();
  cv::patchNaNs(img, 1e9);
  cv::GaussianBlur(img, img, cv::Size(0, 0), 0.1 / c.pixel_nm);
  const LatticeModel model = MakeSi7x7Model();
  const int reach = static_cast<int>(std::ceil(0.15 / c.pixel_nm));
  int inside = 0, hits = 0;
  for (int i = -20; i <= 20; ++i) {
    for (int j = -20; j <= 20; ++j) {
      const Vec2 m = model.ModelFromLattice(i, j);
      const int u =
          static_cast<int>(std::lround((m.x() - c.x0_nm) / c.pixel_nm));
      const int v =
          static_cast<int>(std::lround((c.y0_nm - m.y()) / c.pixel_nm));
      const int margin = 3 * reach;
      if (u < margin || v < margin || u >= img.cols - margin ||
          v >= img.rows - margin || !std::isfinite(c.image(v, u))) {
        continue;
      }
      ++inside;
      // The minimum of a window of 3 × reach must lie within reach.
      double lo = 0;
      cv::Point at;
      cv::minMaxLoc(
          img(cv::Rect(u - margin, v - margin, 2 * margin + 1, 2 * margin + 1)),
          &lo, nullptr, &at, nullptr);
      hits += std::hypot(at.x - margin, at.y - margin) <= reach;
    }
  }
  return inside ? double(hits) / inside : 0.0;
}

// Pixel distance between where two registrations put the corner holes,
// for the holes both report (same pixels up to a lattice translation of
// the index origin: matched by position).
double WorstHoleDisagreement(const FrameResult& a, const FrameResult& b) {
  double worst = 0;
  for (const CornerHoleSite& ha : a.sites.corner_holes) {
    double best = 1e9;
    for (const CornerHoleSite& hb : b.sites.corner_holes) {
      best = std::min(best, (ha.p_px - hb.p_px).norm());
    }
    if (best < 10) worst = std::max(worst, best);
  }
  return worst;
}

TEST_CASE("Si_7x7_051: Z forward, Z backward and Current forward register") {
  if (testing::RealDataDir().empty()) {
    MESSAGE("skipped: ../shared/data/real not found");
    return;
  }
  const Run zf = Register("Si_7x7_051.sxm", "Z", SxmTrace::kForward);
  const Run zb = Register("Si_7x7_051.sxm", "Z", SxmTrace::kBackward);
  const Run cf = Register("Si_7x7_051.sxm", "Current", SxmTrace::kForward);
  CHECK(cf.frame.feedback_error);
  for (const Run* run : {&zf, &zb, &cf}) {
    const FrameResult& r = run->result;
    CAPTURE(run->frame.channel);
    CAPTURE(run->frame.direction);
    CAPTURE(r.status.message());
    REQUIRE(r.status.ok());
    // About 37 cells fit in the frame (lattice 3.0 × 3.6 nm in 20 nm).
    CHECK(r.sites.corner_holes.size() >= 30);
    CHECK(r.registration.inliers >= 25);
    CHECK(r.sites.adatoms.size() >= 12 * 30);
    CHECK(r.sites.vacancies > 0);
    CHECK(r.registration.residual_rms_nm < 0.1);
  }
  // The corrected topography shows the corner holes on the model lattice
  // (the corrected current is the error signal, without minima there).
  CHECK(HolesOnLattice(zf.result) >= 0.9);
  CHECK(HolesOnLattice(zb.result) >= 0.9);
  // One surface, three images: the corner holes agree within a pixel or
  // two (the traces differ by the scanner's hysteresis).
  CHECK(WorstHoleDisagreement(zf.result, cf.result) < 1.5);
  CHECK(WorstHoleDisagreement(zf.result, zb.result) < 3.0);
}

TEST_CASE("Si_7x7_012 (200 nm of steps) ends as no_lattice with a reason") {
  if (testing::RealDataDir().empty()) {
    MESSAGE("skipped: ../shared/data/real not found");
    return;
  }
  for (const char* channel : {"Z", "Current"}) {
    const Run r = Register("Si_7x7_012.sxm", channel, SxmTrace::kForward);
    CAPTURE(channel);
    CHECK(r.result.status.code() == StatusCode::kNoLattice);
    CHECK(r.result.status.message().find("px") != std::string::npos);
  }
}

TEST_CASE("Si_7x7_028 / 032 (50 nm, grainy) are refused, not misregistered") {
  if (testing::RealDataDir().empty()) {
    MESSAGE("skipped: ../shared/data/real not found");
    return;
  }
  for (const char* file : {"Si_7x7_028.sxm", "Si_7x7_032.sxm"}) {
    for (const SxmTrace trace : {SxmTrace::kForward, SxmTrace::kBackward}) {
      const Run r = Register(file, "Z", trace);
      CAPTURE(file);
      CAPTURE(r.result.status.message());
      CHECK(r.result.status.code() == StatusCode::kNoLattice);
    }
  }
}

}  // namespace
}  // namespace anchord
