#include "daemon/studies/align_study.h"

#include "anchord/align/align_frames.h"
#include "anchord/studies/baselines.h"
#include "anchord/synth/synthetic_pair.h"
#include "anchord/util/stopwatch.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>

namespace anchord::daemon {
namespace {

struct StudyArgs {
  int pairs = 16;
  int size_px = 512;
  std::string json;
  bool help = false;
};

Status ApplyOption(const std::string& name,
                   const std::string& value,
                   StudyArgs& a) {
  bool ok = true;
  if (name == "--pairs") ok = ParseNumber(value, a.pairs) && a.pairs >= 1;
  if (name == "--size") {
    ok = ParseNumber(value, a.size_px) && a.size_px >= 128 && a.size_px <= 2048;
  }
  if (name == "--json") a.json = value;
  if (!ok) return UsageError(name + " = '" + value + "': out of range");
  return Status::Ok();
}

// Pair k: odd pairs at the generator's hard noise levels; the translation
// 4–8 % of the side in a direction turning with k.
SyntheticPairOptions PairOptions(int k, int size) {
  SyntheticPairOptions o;
  o.scan = ModeratelyDistortedScan(500 + k, size, 30.0 * size / 512);
  const bool hard = k % 2 == 1;
  o.scan.noise = hard ? 0.25 : 0.1;
  o.scan.line_noise = hard ? 0.3 : 0.0;
  o.scan.adsorbates_per_cell = 0.05;
  const double angle = 2.4 * k;
  const double reach = size * (0.04 + 0.04 * ((k * 7) % 11) / 10.0);
  o.translation_px = reach * Vec2(std::cos(angle), std::sin(angle));
  o.seed = 600 + k;
  return o;
}

cv::Mat2f ConstantField(const Vec2& shift, cv::Size size) {
  return cv::Mat2f(size, cv::Vec2f(static_cast<float>(shift.x()),
                                   static_cast<float>(shift.y())));
}

cv::Mat2f HomographyField(const Mat3& h, cv::Size size) {
  cv::Mat2f field(size);
  for (int y = 0; y < size.height; ++y) {
    for (int x = 0; x < size.width; ++x) {
      const Vec2 q = Apply(h, Vec2(x, y));
      field(y, x) = cv::Vec2f(static_cast<float>(q.x() - x),
                              static_cast<float>(q.y() - y));
    }
  }
  return field;
}

struct MethodFigures {
  std::string name;
  std::vector<double> errors_px;  // every pair's points
  std::vector<double> pair_medians_px;
  std::vector<double> times_ms;
  int failed = 0;
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::lround(q * (v.size() - 1)))];
}

void Record(const SyntheticPair& pair,
            const std::optional<cv::Mat2f>& field,
            double ms,
            MethodFigures& m) {
  m.times_ms.push_back(ms);
  if (!field) {
    ++m.failed;
    return;
  }
  const std::vector<double> e = pair.TargetErrorsPx(*field);
  m.errors_px.insert(m.errors_px.end(), e.begin(), e.end());
  m.pair_medians_px.push_back(Quantile(e, 0.5));
}

std::vector<MethodFigures> Run(const StudyArgs& a) {
  std::vector<MethodFigures> out(3);
  out[0].name = "phase correlation (rigid)";
  out[1].name = "SIFT + RANSAC homography";
  out[2].name = "AlignFrames (this method)";
  const cv::Size size(a.size_px, a.size_px);
  cv::Mat window;
  cv::createHanningWindow(window, size, CV_32F);
  for (int k = 0; k < a.pairs; ++k) {
    const SyntheticPair pair = MakeSyntheticPair(PairOptions(k, a.size_px));
    Stopwatch watch;
    const Mat3 pc =
        PhaseCorrelationMap(pair.fixed.image, pair.moving.image, window);
    const double pc_ms = watch.Lap();
    Record(pair, ConstantField(Vec2(pc(0, 2), pc(1, 2)), size), pc_ms, out[0]);
    watch.Lap();
    const SiftFrameMatcher sift(pair.fixed.image, SiftFrameMatcher::Options{});
    const std::optional<Mat3> h = sift.Match(pair.moving.image);
    const double sift_ms = watch.Lap();
    Record(pair, h ? std::optional(HomographyField(*h, size)) : std::nullopt,
           sift_ms, out[1]);
    watch.Lap();
    const AlignResult r = AlignFrames(pair.fixed, pair.moving, AlignOptions{});
    const double align_ms = watch.Lap();
    Record(pair,
           r.status == AlignStatus::kOk ? std::optional(r.field) : std::nullopt,
           align_ms, out[2]);
    spdlog::info("[study align] pair {}/{} done", k + 1, a.pairs);
  }
  return out;
}

void Print(const StudyArgs& a,
           const std::vector<MethodFigures>& methods,
           std::ostream& out) {
  const double diagonal = std::hypot(a.size_px, a.size_px);
  out << "align: " << a.pairs << " synthetic pairs of " << a.size_px
      << " px (translation 4-8 % of the side, 4 bumps of <= 3 px; odd pairs "
         "at hard noise)\n";
  out << "  method                       median rTRE   median TRE px   p90 "
         "TRE px   failed   median ms\n";
  for (const MethodFigures& m : methods) {
    char line[256];
    const double median = Quantile(m.pair_medians_px, 0.5);
    std::snprintf(
        line, sizeof line, "  %-27s  %11.5f   %13.3f   %10.3f   %6d   %9.2f\n",
        m.name.c_str(), median / diagonal, median, Quantile(m.errors_px, 0.9),
        m.failed, Quantile(m.times_ms, 0.5));
    out << line;
  }
  out << std::flush;
}

nlohmann::json ToJson(const StudyArgs& a,
                      const std::vector<MethodFigures>& methods) {
  const double diagonal = std::hypot(a.size_px, a.size_px);
  nlohmann::json j = nlohmann::json::array();
  for (const MethodFigures& m : methods) {
    const double median = Quantile(m.pair_medians_px, 0.5);
    j.push_back({{"method", m.name},
                 {"median_rtre", median / diagonal},
                 {"median_tre_px", median},
                 {"p90_tre_px", Quantile(m.errors_px, 0.9)},
                 {"failed", m.failed},
                 {"median_ms", Quantile(m.times_ms, 0.5)},
                 {"pair_median_tre_px", m.pair_medians_px}});
  }
  return {{"pairs", a.pairs}, {"size_px", a.size_px}, {"methods", j}};
}

}  // namespace

void PrintAlignStudyHelp(std::ostream& out) {
  out << R"(Usage: anchord study align [--pairs N] [--size PX] [--json OUT.json]

Frame-to-frame alignment on synthetic pairs with a known displacement field
(a translation of 4-8 % of the side plus four Gaussian bumps of up to 3 px;
every other pair at the generator's hard noise: white 0.25, line 0.3):
phase correlation (rigid), SIFT + RANSAC homography and AlignFrames, on
the same pairs. Per method: the median over pairs of each pair's median
target error, relative to the frame diagonal (rTRE) and in px, the 90th
percentile of all target errors, failures and the median time per pair.
Errors are taken every 8th fixed pixel whose true match lies in the moving
frame.

Options:
  --pairs N        pairs (default 16; >= 1)
  --size PX        frame side (default 512; [128, 2048]), 30 nm per 512 px
  --json OUT.json  write the figures and every pair's median
  -h, --help       show this help
)";
}

int RunAlignStudy(const std::vector<std::string>& args) {
  StudyArgs a;
  const Status parsed = ApplyOptions(
      args, {"--pairs", "--size", "--json"},
      [&a](const std::string& name, const std::string& value) {
        return ApplyOption(name, value, a);
      },
      a.help);
  if (const std::optional<int> exit = FinishParsing(
          {"study align", &PrintAlignStudyHelp}, parsed, a.help)) {
    return *exit;
  }
  const std::vector<MethodFigures> methods = Run(a);
  Print(a, methods, std::cout);
  if (!a.json.empty()) {
    std::ofstream file(a.json);
    file << ToJson(a, methods).dump(1) << '\n';
    if (!file) {
      spdlog::error("[study] cannot write {}", a.json);
      return kExitFailure;
    }
  }
  return kExitOk;
}

}  // namespace anchord::daemon
