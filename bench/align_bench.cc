// anchord_align_bench: AlignFrames on synthetic pairs (a translation up to
// 8 % of the frame plus ±3 px bumps, moderate and hard noise) at 256² and
// 512², one core (OpenCV threads off), against cv::phaseCorrelate on the
// same frames in the same run: median and p99 wall time per pair, the
// ratio of the medians, per-stage medians and the median rTRE of the
// fields (so a faster setting cannot hide a worse field).
//
//   anchord_align_bench [--pairs N] [--repeats R]

#include "anchord/align/align_frames.h"
#include "anchord/synth/synthetic_pair.h"
#include "anchord/util/stopwatch.h"

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using anchord::AlignFrames;
using anchord::AlignOptions;
using anchord::AlignResult;
using anchord::AlignStatus;
using anchord::SyntheticPair;
using anchord::Vec2;

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t k = static_cast<size_t>(std::lround(q * (v.size() - 1)));
  return v[std::min(k, v.size() - 1)];
}

std::vector<SyntheticPair> MakePairs(int size, int count) {
  std::vector<SyntheticPair> pairs;
  for (int k = 0; k < count; ++k) {
    anchord::SyntheticPairOptions o;
    o.scan = anchord::ModeratelyDistortedScan(200 + k, size, 30.0 * size / 512);
    const bool hard = k % 2 == 1;
    o.scan.noise = hard ? 0.25 : 0.1;
    o.scan.line_noise = hard ? 0.3 : 0.0;
    o.scan.adsorbates_per_cell = 0.05;
    const double a = 0.7 * k,
                 r = 0.08 * size * (0.5 + 0.5 * ((k * 37) % 10) / 10.0);
    o.translation_px = r * Vec2(std::cos(a), std::sin(a));
    o.seed = 300 + k;
    pairs.push_back(anchord::MakeSyntheticPair(o));
  }
  return pairs;
}

double MedianTre(const SyntheticPair& pair, const cv::Mat2f& field) {
  return Percentile(pair.TargetErrorsPx(field), 0.5);
}

void RunSize(int size, int pairs_count, int repeats) {
  const std::vector<SyntheticPair> pairs = MakePairs(size, pairs_count);
  const AlignOptions options;
  std::vector<double> align_ms, pc_ms, rtre;
  std::vector<double> level, coarse, match, outliers, field;
  int failed = 0;
  cv::Mat window;
  cv::createHanningWindow(window, cv::Size(size, size), CV_32F);
  double sink = 0;
  for (int rep = -1; rep < repeats; ++rep) {  // rep -1: warm-up
    for (const SyntheticPair& p : pairs) {
      // phaseCorrelate multiplies its inputs by the window in place:
      // copies, made outside the timed part.
      cv::Mat1f a_copy = p.fixed.image.clone(), b_copy = p.moving.image.clone();
      anchord::Stopwatch watch;
      const AlignResult r = AlignFrames(p.fixed, p.moving, options);
      const double ms = watch.Lap();
      const cv::Point2d s = cv::phaseCorrelate(a_copy, b_copy, window);
      const double pc = watch.Lap();
      sink += s.x;
      if (rep < 0) continue;
      align_ms.push_back(ms);
      pc_ms.push_back(pc);
      if (r.status != AlignStatus::kOk) {
        ++failed;
        continue;
      }
      level.push_back(r.timings.level_ms);
      coarse.push_back(r.timings.coarse_ms);
      match.push_back(r.timings.match_ms);
      outliers.push_back(r.timings.outliers_ms);
      field.push_back(r.timings.field_ms);
      if (rep == 0)
        rtre.push_back(MedianTre(p, r.field) / std::hypot(size, size));
    }
  }
  const double am = Percentile(align_ms, 0.5), pm = Percentile(pc_ms, 0.5);
  std::printf(
      "%4d px  AlignFrames median %.2f ms  p99 %.2f ms | phaseCorrelate "
      "median %.2f ms  p99 %.2f ms | ratio %.2fx | stages (median ms): level "
      "%.2f coarse %.2f match %.2f outliers %.2f field %.2f | median rTRE "
      "%.5f (worst pair %.5f) | %zu runs, %d not ok\n",
      size, am, Percentile(align_ms, 0.99), pm, Percentile(pc_ms, 0.99),
      am / pm, Percentile(level, 0.5), Percentile(coarse, 0.5),
      Percentile(match, 0.5), Percentile(outliers, 0.5), Percentile(field, 0.5),
      Percentile(rtre, 0.5), Percentile(rtre, 1.0), align_ms.size(), failed);
  if (!std::isfinite(sink)) std::printf("note: phaseCorrelate gave NaN\n");
}

}  // namespace

int main(int argc, char** argv) {
  int pairs = 8, repeats = 10;
  for (int k = 1; k + 1 < argc; k += 2) {
    if (std::strcmp(argv[k], "--pairs") == 0)
      pairs = std::max(1, std::atoi(argv[k + 1]));
    if (std::strcmp(argv[k], "--repeats") == 0)
      repeats = std::max(1, std::atoi(argv[k + 1]));
  }
  cv::setNumThreads(1);
  std::printf("anchord_align_bench: %d pairs x %d repeats per size, one core\n",
              pairs, repeats);
  for (const int size : {256, 512}) RunSize(size, pairs, repeats);
  return 0;
}
