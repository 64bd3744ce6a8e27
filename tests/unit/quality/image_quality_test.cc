// Image quality (issue 13, item 3): the saturated EMD against brute
// force, SSIM against the model lower for a double tip and for tripled
// noise than for the clean frame, the EMD of the maxima small on a clean
// frame, and the tip-change flag on a simulated session: silent over 100
// normal frames, once at a tip change.

#include "anchord/quality/image_quality.h"

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/simulated_instrument.h"
#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace anchord {
namespace {

// Brute force over every injective map of the smaller set.
double BruteEmd(const std::vector<Vec2>& a,
                const std::vector<Vec2>& b,
                double cap) {
  const std::vector<Vec2>& s = a.size() <= b.size() ? a : b;
  const std::vector<Vec2>& l = a.size() <= b.size() ? b : a;
  std::vector<int> perm(l.size());
  std::iota(perm.begin(), perm.end(), 0);
  double best = 1e300;
  do {
    double c = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      c += std::min(cap, (s[i] - l[perm[i]]).norm());
    }
    best = std::min(best, c);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best / s.size();
}

TEST_CASE("the saturated EMD equals brute force on small sets") {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 2);
  for (int trial = 0; trial < 60; ++trial) {
    std::vector<Vec2> a(1 + trial % 5), b(1 + (trial / 5) % 6);
    for (Vec2& p : a) p = Vec2(u(rng), u(rng));
    for (Vec2& p : b) p = Vec2(u(rng), u(rng));
    bool exact = false;
    CHECK(SaturatedEmd(a, b, 0.7, &exact) ==
          doctest::Approx(BruteEmd(a, b, 0.7)).epsilon(1e-9));
    CHECK(exact);
  }
}

TEST_CASE("the saturated EMD: shifts, outliers, empty sets, large clusters") {
  std::vector<Vec2> grid;
  for (int i = 0; i < 10; ++i) {
    for (int j = 0; j < 10; ++j) grid.emplace_back(i, j);
  }
  CHECK(SaturatedEmd(grid, grid, 0.4) == 0.0);
  std::vector<Vec2> shifted = grid;
  for (Vec2& p : shifted) p += Vec2(0.1, 0);
  CHECK(SaturatedEmd(grid, shifted, 0.4) == doctest::Approx(0.1));
  std::vector<Vec2> with_outlier = grid;
  with_outlier.front() = Vec2(50, 50);
  CHECK(SaturatedEmd(with_outlier, grid, 0.4) == doctest::Approx(0.4 / 100));
  CHECK(SaturatedEmd({}, grid, 0.4) == 0.0);
  // A surplus point in the larger set costs nothing.
  std::vector<Vec2> more = grid;
  more.emplace_back(0.5, 0.5);
  CHECK(SaturatedEmd(grid, more, 0.4) == 0.0);
  // Dense points form one cluster: above max_cluster it is matched
  // greedily and said so.
  std::vector<Vec2> dense, dense_b;
  for (int k = 0; k < 40; ++k) {
    dense.emplace_back(0.01 * k, 0);
    dense_b.emplace_back(0.01 * k + 0.005, 0);
  }
  bool exact = true;
  const double greedy = SaturatedEmd(dense, dense_b, 0.4, &exact, 16);
  CHECK_FALSE(exact);
  CHECK(greedy >= SaturatedEmd(dense, dense_b, 0.4) - 1e-12);
}

SyntheticScanOptions CleanScan(uint64_t seed) {
  SyntheticScanOptions o;
  o.width_px = o.height_px = 384;
  o.field_of_view_nm = 24;
  o.rotation_deg = 17;
  o.noise = 0.05;
  o.seed = seed;
  return o;
}

// A double tip: the frame plus a 0.6× copy shifted by (dx, dy) px.
cv::Mat1f WithGhost(const cv::Mat1f& img, int dx, int dy) {
  cv::Mat1f ghost;
  const cv::Mat t = (cv::Mat_<double>(2, 3) << 1, 0, dx, 0, 1, dy);
  cv::warpAffine(img, ghost, t, img.size(), cv::INTER_LINEAR,
                 cv::BORDER_REFLECT);
  return img + 0.6 * ghost;
}

TEST_CASE("SSIM is lower for a double tip and for tripled noise") {
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions po;
  po.make_corrected = false;
  for (const uint64_t seed : {11, 12}) {
    CAPTURE(seed);
    const SyntheticScan clean = MakeSyntheticScan(CleanScan(seed));
    SyntheticScanOptions noisy_o = CleanScan(seed);
    noisy_o.noise = 3 * 0.05;
    const SyntheticScan noisy = MakeSyntheticScan(noisy_o);
    Frame ghost = clean.frame;
    ghost.image = WithGhost(clean.frame.image, 7, 4);  // 0.44, 0.25 nm
    const FrameResult c = RegisterFrame(clean.frame, model, po);
    const FrameResult n = RegisterFrame(noisy.frame, model, po);
    const FrameResult g = RegisterFrame(ghost, model, po);
    REQUIRE(c.status.ok());
    REQUIRE(n.status.ok());
    REQUIRE(g.status.ok());
    REQUIRE(c.quality.status.ok());
    MESSAGE("seed " << seed << ": SSIM clean " << c.quality.ssim << ", noise×3 "
                    << n.quality.ssim << ", ghost " << g.quality.ssim
                    << "; EMD clean " << c.quality.emd_nm << " nm");
    CHECK(c.quality.ssim > 0.5);
    CHECK(c.quality.ssim > n.quality.ssim + 0.05);
    CHECK(c.quality.ssim > g.quality.ssim + 0.05);
    CHECK(c.quality.cells > 15);
    CHECK(c.quality.cell_ssim_p10 <= c.quality.cell_ssim_median);
    CHECK(c.quality.cell_ssim_min <= c.quality.cell_ssim_p10);
    // The maxima of a clean frame are its adatoms.
    CHECK(c.quality.model_sites > 200);
    CHECK(c.quality.emd_nm < 0.05);
    CHECK(g.quality.emd_nm > c.quality.emd_nm);
  }
}

TEST_CASE("quality disabled: no stage, nothing computed") {
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions po;
  po.quality.enabled = false;
  const FrameResult r =
      RegisterFrame(MakeSyntheticScan(CleanScan(11)).frame, model, po);
  REQUIRE(r.status.ok());
  CHECK(r.quality.maxima == 0);
  CHECK(std::none_of(r.timing_ms.begin(), r.timing_ms.end(),
                     [](const auto& t) { return t.first == "quality"; }));
}

TEST_CASE("options are validated") {
  CHECK(QualityOptions{}.Validate().ok());
  QualityOptions q;
  q.ssim_window_nm = 0;
  q.emd_cap_nm = 0;
  const Status s = q.Validate();
  CHECK(s.message().find("ssim_window_nm") != std::string::npos);
  CHECK(s.message().find("emd_cap_nm") != std::string::npos);
  TipChangeOptions t;
  CHECK(t.Validate().ok());
  t.min_history = t.history + 1;
  CHECK_FALSE(t.Validate().ok());
}

TEST_CASE(
    "tip change: silent over 100 normal frames, flagged once at a change") {
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions po;
  po.make_corrected = false;
  SimulatedInstrumentOptions io;
  io.scan.width_px = io.scan.height_px = 256;
  io.scan.field_of_view_nm = 16;
  io.scan.rotation_deg = 17;
  io.scan.noise = 0.08;
  io.scan.vacancy_fraction = 0.02;
  io.line_time_s = 0.05;
  SimulatedInstrument instrument(io);
  TipChangeMonitor normal, changed;
  int normal_flags = 0, registered = 0;
  std::vector<int> changed_flags;
  constexpr int kFrames = 100, kChangeAt = 60;
  for (int k = 0; k < kFrames; ++k) {
    const SimulatedFrame f = instrument.ScanNextFrame();
    const FrameResult r = RegisterFrame(f.scan.frame, model, po);
    if (r.status.ok()) {
      ++registered;
      if (normal.Update(r.quality.ssim)) ++normal_flags;
    }
    // The same frames; from kChangeAt on the tip is double.
    Frame g = f.scan.frame;
    if (k >= kChangeAt) g.image = WithGhost(g.image, 6, 3);
    const FrameResult rg = RegisterFrame(g, model, po);
    if (rg.status.ok() && changed.Update(rg.quality.ssim)) {
      changed_flags.push_back(k);
    }
  }
  CHECK(registered >= 95);
  CHECK(normal_flags == 0);
  REQUIRE(changed_flags.size() == 1);
  CHECK(changed_flags.front() == kChangeAt);
  // A non-finite SSIM is ignored.
  CHECK_FALSE(normal.Update(std::nan("")));
}

}  // namespace
}  // namespace anchord
