// anchord_register_bench: per-stage latency of anchord::RegisterFrame on
// synthetic Si(111)-7×7 frames (DESIGN §5, §10).
//
// What is measured, per frame size and detector:
//   * For every pipeline stage and for "total": the wall time that
//     RegisterFrame itself records in FrameResult::timing_ms (steady_clock,
//     one sample per call). "total" covers input validation plus all stages
//     of one RegisterFrame call; frame synthesis is never inside a timing.
//   * The SIFT detector path (seed 000, the paper's method) is the in-process
//     baseline for the fast detector: the report gives sift/fast of the median
//     totals. Both detectors are timed in the same loop, interleaved call by
//     call, so slow drifts of the machine (clock, thermal) affect both alike.
//   * An external baseline: cv::phaseCorrelate between two consecutive
//     synthetic frames of the same size (float32, with a Hann window that is
//     built once per size, outside the timing, as a caller would cache it).
//     The report gives fast-total / phaseCorrelate of the medians.
// Statistics: median (midpoint of the two middle samples for even n) and p99
// by nearest rank (the ceil(0.99 n)-th smallest sample).
//
// Threads: OpenCV runs single-threaded by default. In OpenCV 4.x,
// cv::setNumThreads(0) disables its threading optimisations: parallel_for_
// runs every body sequentially on the calling thread (a negative value would
// restore the default). Checked with Debian's OpenCV 4.6 (TBB backend): after
// setNumThreads(0) no worker thread is started, yet cv::getNumThreads() still
// reports TBB's default concurrency (e.g. 2), so the program prints the number
// of OS threads in the process after the run as the evidence. `--threads N`
// with N >= 1 passes N instead. The anchord library starts no threads itself.
//
// Exit status: 0 when every RegisterFrame call (warm-up included) returned
// status ok; 1 when any did not (the messages are printed); 2 on bad
// arguments or an unwritable CSV file.

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/frame.h"
#include "anchord/util/stopwatch.h"

#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

// Nominal pixel size of every synthetic frame, nm/px: the field of view
// scales with the frame size so that all sizes show the same lattice scale.
constexpr double kPixelSizeNm = 0.06;
// At most this many failure messages are printed (all are counted).
constexpr int kMaxPrintedFailures = 10;

// ---------------------------------------------------------------------------
// Command line.

struct BenchConfig {
  std::vector<int> sizes = {256, 512, 1024};  // frame width = height, px
  int frames = 5;    // distinct synthetic frames per size
  int repeats = 20;  // timed RegisterFrame calls per frame and detector
  int warmup = 1;    // untimed calls per frame and detector first
  int threads = 0;   // cv::setNumThreads argument; 0 = sequential
  bool make_corrected = true;  // PipelineOptions::make_corrected
  std::string csv_path;        // empty = no CSV
};

void PrintUsage(const char* argv0) {
  std::cout
      << "Usage: " << argv0 << " [options]\n"
      << "Times anchord::RegisterFrame per stage on synthetic Si(111)-7x7\n"
      << "frames (fast and sift detectors) and cv::phaseCorrelate.\n\n"
      << "  --sizes A,B,...   frame sizes in px (default 256,512,1024)\n"
      << "  --frames K        distinct frames per size (default 5)\n"
      << "  --repeats N       timed calls per frame and detector (default 20)\n"
      << "  --warmup W        untimed calls per frame, detector (default 1)\n"
      << "  --threads N       OpenCV threads; 0 = sequential (default 0)\n"
      << "  --no-corrected    skip the corrected frame (make_corrected=false)\n"
      << "  --csv FILE        write a CSV too (size,detector,stage,median_ms,\n"
      << "                    p99_ms,n)\n"
      << "  --help            this text\n";
}

std::optional<int> ParseInt(std::string_view s) {
  int value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<std::vector<int>> ParseIntList(std::string_view s) {
  std::vector<int> out;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const auto value = ParseInt(s.substr(0, comma));
    if (!value) return std::nullopt;
    out.push_back(*value);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

// Returns an error message, or an empty string when the config is usable.
std::string CheckConfig(const BenchConfig& c) {
  for (int size : c.sizes) {
    if (size < 64 || size > 8192) {
      return "--sizes: " + std::to_string(size) + " is not in [64, 8192]";
    }
  }
  if (c.frames < 1) return "--frames must be >= 1";
  if (c.repeats < 1) return "--repeats must be >= 1";
  if (c.warmup < 0) return "--warmup must be >= 0";
  if (c.threads < 0) return "--threads must be >= 0";
  return "";
}

// Parses argv into a config; prints usage or an error and returns nullopt
// (with *exit_code set) when the program should stop.
std::optional<BenchConfig> ParseArgs(int argc, char** argv, int* exit_code) {
  BenchConfig c;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const auto next = [&]() -> std::optional<std::string_view> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string_view(argv[++i]);
    };
    std::optional<std::string_view> v;
    std::optional<int> n;
    if (arg == "--help" || arg == "-h") {
      PrintUsage(argv[0]);
      *exit_code = 0;
      return std::nullopt;
    } else if (arg == "--no-corrected") {
      c.make_corrected = false;
      continue;
    } else if (arg == "--sizes" && (v = next())) {
      const auto list = ParseIntList(*v);
      if (list) {
        c.sizes = *list;
        continue;
      }
    } else if (arg == "--csv" && (v = next())) {
      c.csv_path = std::string(*v);
      continue;
    } else if ((arg == "--frames" || arg == "--repeats" || arg == "--warmup" ||
                arg == "--threads") &&
               (v = next()) && (n = ParseInt(*v))) {
      if (arg == "--frames") c.frames = *n;
      if (arg == "--repeats") c.repeats = *n;
      if (arg == "--warmup") c.warmup = *n;
      if (arg == "--threads") c.threads = *n;
      continue;
    }
    std::cerr << "error: bad or incomplete argument '" << arg << "'\n";
    PrintUsage(argv[0]);
    *exit_code = 2;
    return std::nullopt;
  }
  if (const std::string error = CheckConfig(c); !error.empty()) {
    std::cerr << "error: " << error << "\n";
    *exit_code = 2;
    return std::nullopt;
  }
  return c;
}

// ---------------------------------------------------------------------------
// Inputs.

// Moderately distorted synthetic frame `index` of a size; the seed differs
// per size and per frame, so every frame is distinct.
anchord::Frame MakeBenchFrame(int size_px, int index) {
  anchord::SyntheticScanOptions o;
  o.width_px = size_px;
  o.height_px = size_px;
  o.field_of_view_nm = size_px * kPixelSizeNm;
  o.rotation_deg = 23;
  o.scale_error_x = 0.1;
  o.scale_error_y = -0.08;
  o.shear = 0.08;
  o.perspective = 0.01;
  o.creep_px = 3;
  o.noise = 0.1;
  o.line_noise = 0.05;
  o.vacancy_fraction = 0.05;
  o.adsorbates = 2;
  o.seed = 1000ull * static_cast<uint64_t>(size_px) + index + 1;
  return anchord::MakeSyntheticScan(o).frame;
}

std::vector<anchord::Frame> MakeBenchFrames(int size_px, int count) {
  std::vector<anchord::Frame> frames;
  frames.reserve(count);
  for (int k = 0; k < count; ++k) frames.push_back(MakeBenchFrame(size_px, k));
  return frames;
}

// ---------------------------------------------------------------------------
// Samples and statistics.

struct Summary {
  double median_ms = NAN;
  double p99_ms = NAN;
  size_t n = 0;
};

Summary Summarize(std::vector<double> samples) {
  Summary s;
  s.n = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  s.median_ms =
      n % 2 == 1 ? samples[n / 2] : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
  // Nearest rank: the smallest sample with at least 99 % of samples <= it.
  const size_t rank = static_cast<size_t>(std::ceil(0.99 * n));
  s.p99_ms = samples[std::max<size_t>(rank, 1) - 1];
  return s;
}

// Timing samples per stage name, stages kept in first-seen (pipeline) order.
class StageSamples {
 public:
  void Add(const std::vector<std::pair<std::string, double>>& timing_ms) {
    for (const auto& [stage, ms] : timing_ms) {
      auto it = samples_.find(stage);
      if (it == samples_.end()) {
        order_.push_back(stage);
        it = samples_.emplace(stage, std::vector<double>()).first;
      }
      it->second.push_back(ms);
    }
  }
  const std::vector<std::string>& stages() const { return order_; }
  Summary SummaryOf(const std::string& stage) const {
    const auto it = samples_.find(stage);
    return it == samples_.end() ? Summary() : Summarize(it->second);
  }

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::vector<double>> samples_;
};

// Every non-ok RegisterFrame outcome: counted, the first few kept.
struct FailureLog {
  int count = 0;
  std::vector<std::string> messages;

  void Record(int size_px,
              const char* detector,
              const anchord::Frame& frame,
              const anchord::FrameResult& r) {
    ++count;
    if (static_cast<int>(messages.size()) >= kMaxPrintedFailures) return;
    messages.push_back(std::to_string(size_px) + " px " + detector + " " +
                       frame.source + ": " +
                       anchord::StatusCodeName(r.status.code()) + ": " +
                       r.status.message());
  }
};

// ---------------------------------------------------------------------------
// Measurements.

struct DetectorRun {
  const char* name;
  anchord::PipelineOptions options;
  StageSamples samples;
};

std::vector<DetectorRun> MakeDetectorRuns(bool make_corrected) {
  std::vector<DetectorRun> runs;
  for (const auto kind :
       {anchord::DetectorKind::kFast, anchord::DetectorKind::kSift}) {
    DetectorRun run{anchord::DetectorKindName(kind), {}, {}};
    run.options.detect.kind = kind;
    run.options.make_corrected = make_corrected;
    runs.push_back(std::move(run));
  }
  return runs;
}

// Runs RegisterFrame on every frame for every detector, `passes` times,
// interleaving the detectors call by call. Keeps the per-stage timings of
// successful calls when `keep_timings`.
void RunRegisterPasses(const std::vector<anchord::Frame>& frames,
                       const anchord::LatticeModel& model,
                       int passes,
                       bool keep_timings,
                       int size_px,
                       std::vector<DetectorRun>& runs,
                       FailureLog& failures) {
  for (int pass = 0; pass < passes; ++pass) {
    for (const anchord::Frame& frame : frames) {
      for (DetectorRun& run : runs) {
        const anchord::FrameResult r =
            anchord::RegisterFrame(frame, model, run.options);
        if (!r.status.ok()) {
          failures.Record(size_px, run.name, frame, r);
        } else if (keep_timings) {
          run.samples.Add(r.timing_ms);
        }
      }
    }
  }
}

// Times cv::phaseCorrelate between consecutive frames (k, k+1 mod K), the
// Hann window built beforehand; `repeats` passes over all K pairs after
// `warmup` untimed passes.
Summary TimePhaseCorrelate(const std::vector<anchord::Frame>& frames,
                           int warmup,
                           int repeats) {
  cv::Mat window;
  cv::createHanningWindow(window, frames.front().image.size(), CV_32F);
  const int k_count = static_cast<int>(frames.size());
  std::vector<double> samples;
  double sink = 0;  // keeps the calls observable
  for (int pass = 0; pass < warmup + repeats; ++pass) {
    for (int k = 0; k < k_count; ++k) {
      const cv::Mat& a = frames[k].image;
      const cv::Mat& b = frames[(k + 1) % k_count].image;
      anchord::Stopwatch watch;
      const cv::Point2d shift = cv::phaseCorrelate(a, b, window);
      const double ms = watch.Lap();
      sink += shift.x + shift.y;
      if (pass >= warmup) samples.push_back(ms);
    }
  }
  if (!std::isfinite(sink)) std::cerr << "note: phaseCorrelate gave NaN\n";
  return Summarize(std::move(samples));
}

// ---------------------------------------------------------------------------
// Report.

struct SizeReport {
  int size_px = 0;
  std::vector<DetectorRun> runs;
  Summary phase_correlate;
};

double Ratio(double num, double den) { return den > 0 ? num / den : NAN; }

const DetectorRun* FindRun(const SizeReport& r, std::string_view name) {
  for (const DetectorRun& run : r.runs) {
    if (name == run.name) return &run;
  }
  return nullptr;
}

double MedianTotal(const SizeReport& r, std::string_view detector) {
  const DetectorRun* run = FindRun(r, detector);
  return run ? run->samples.SummaryOf("total").median_ms : NAN;
}

void PrintDetectorTable(const SizeReport& report, const DetectorRun& run) {
  std::printf("\n%d px, detector %s\n", report.size_px, run.name);
  std::printf("  %-10s %11s %11s %6s\n", "stage", "median_ms", "p99_ms", "n");
  for (const std::string& stage : run.samples.stages()) {
    const Summary s = run.samples.SummaryOf(stage);
    std::printf("  %-10s %11.3f %11.3f %6zu", stage.c_str(), s.median_ms,
                s.p99_ms, s.n);
    if (stage == "total" && std::string_view(run.name) == "sift") {
      std::printf("   sift/fast median %.2fx",
                  Ratio(s.median_ms, MedianTotal(report, "fast")));
    }
    std::printf("\n");
  }
}

void PrintPhaseCorrelate(const SizeReport& r) {
  const Summary& pc = r.phase_correlate;
  std::printf("\n%d px, cv::phaseCorrelate (float32, Hann window)\n",
              r.size_px);
  std::printf(
      "  %-10s %11.3f %11.3f %6zu   fast-total/phaseCorrelate "
      "median %.2fx\n",
      "total", pc.median_ms, pc.p99_ms, pc.n,
      Ratio(MedianTotal(r, "fast"), pc.median_ms));
}

void PrintSummary(const std::vector<SizeReport>& reports) {
  std::printf("\nSummary (total per frame, ms)\n");
  std::printf("%6s %10s %10s %10s %10s %9s %10s %10s %9s\n", "size", "fast_med",
              "fast_p99", "sift_med", "sift_p99", "sift/fast", "pc_med",
              "pc_p99", "fast/pc");
  for (const SizeReport& r : reports) {
    const DetectorRun* fast = FindRun(r, "fast");
    const DetectorRun* sift = FindRun(r, "sift");
    const Summary f = fast ? fast->samples.SummaryOf("total") : Summary();
    const Summary s = sift ? sift->samples.SummaryOf("total") : Summary();
    const Summary& pc = r.phase_correlate;
    std::printf("%6d %10.3f %10.3f %10.3f %10.3f %8.2fx %10.3f %10.3f %8.2fx\n",
                r.size_px, f.median_ms, f.p99_ms, s.median_ms, s.p99_ms,
                Ratio(s.median_ms, f.median_ms), pc.median_ms, pc.p99_ms,
                Ratio(f.median_ms, pc.median_ms));
  }
}

// Writes size,detector,stage,median_ms,p99_ms,n; phaseCorrelate appears as
// detector "phasecorrelate", stage "total".
bool WriteCsv(const std::string& path, const std::vector<SizeReport>& reports) {
  std::ofstream out(path);
  if (!out) return false;
  out << "size,detector,stage,median_ms,p99_ms,n\n";
  const auto row = [&](int size, const std::string& det,
                       const std::string& stage, const Summary& s) {
    char line[256];
    std::snprintf(line, sizeof(line), "%d,%s,%s,%.6f,%.6f,%zu\n", size,
                  det.c_str(), stage.c_str(), s.median_ms, s.p99_ms, s.n);
    out << line;
  };
  for (const SizeReport& r : reports) {
    for (const DetectorRun& run : r.runs) {
      for (const std::string& stage : run.samples.stages()) {
        row(r.size_px, run.name, stage, run.samples.SummaryOf(stage));
      }
    }
    row(r.size_px, "phasecorrelate", "total", r.phase_correlate);
  }
  return static_cast<bool>(out);
}

// The "Parallel framework:" entry of OpenCV's build information, trimmed.
std::string ParallelFramework() {
  const std::string info = cv::getBuildInformation();
  const std::string key = "Parallel framework:";
  const size_t at = info.find(key);
  if (at == std::string::npos) return "unknown";
  const size_t begin = info.find_first_not_of(' ', at + key.size());
  const size_t end = info.find('\n', at);
  return info.substr(begin, end - begin);
}

void PrintHeader(const BenchConfig& c) {
  std::printf(
      "anchord_register_bench: OpenCV %s, parallel framework '%s', "
      "cv::getNumThreads()=%d after setNumThreads(%d)\n",
      CV_VERSION, ParallelFramework().c_str(), cv::getNumThreads(), c.threads);
  std::printf(
      "frames/size=%d repeats=%d warmup=%d make_corrected=%s "
      "pixel=%.3f nm/px; timings per (size, detector) = %d\n",
      c.frames, c.repeats, c.warmup, c.make_corrected ? "on" : "off",
      kPixelSizeNm, c.frames * c.repeats);
#ifndef NDEBUG
  std::printf(
      "WARNING: assertions are on (not a Release build); timings are "
      "not representative\n");
#endif
}

// Number of OS threads in this process (Linux /proc), or -1 if unknown.
int OsThreadCount() {
  std::error_code ec;
  std::filesystem::directory_iterator it("/proc/self/task", ec);
  if (ec) return -1;
  int n = 0;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return -1;
    ++n;
  }
  return n;
}

// The first line of /proc/loadavg (Linux), or "unknown": other load on the
// machine inflates the timings, so the report states it.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  return std::getline(in, line) ? line : "unknown";
}

// Runs all measurements for one frame size.
SizeReport BenchSize(const BenchConfig& c,
                     int size_px,
                     const anchord::LatticeModel& model,
                     FailureLog& failures) {
  SizeReport report;
  report.size_px = size_px;
  report.runs = MakeDetectorRuns(c.make_corrected);
  const std::vector<anchord::Frame> frames = MakeBenchFrames(size_px, c.frames);
  RunRegisterPasses(frames, model, c.warmup, /*keep_timings=*/false, size_px,
                    report.runs, failures);
  RunRegisterPasses(frames, model, c.repeats, /*keep_timings=*/true, size_px,
                    report.runs, failures);
  report.phase_correlate = TimePhaseCorrelate(frames, c.warmup, c.repeats);
  return report;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  const std::optional<BenchConfig> config = ParseArgs(argc, argv, &exit_code);
  if (!config) return exit_code;
  cv::setNumThreads(config->threads);
  // The same allocator setting as the anchord binary (daemon/main.cc):
  // freed frame buffers stay in the heap instead of going back to the
  // kernel, which would zero fresh pages for every frame.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  PrintHeader(*config);

  const anchord::LatticeModel model = anchord::MakeSi7x7Model();
  for (const DetectorRun& run : MakeDetectorRuns(config->make_corrected)) {
    const anchord::Status valid = run.options.Validate();
    if (!valid.ok()) {
      std::cerr << "error: pipeline options: " << valid.message() << "\n";
      return 2;
    }
  }

  const std::string load_at_start = LoadAverage();
  anchord::Stopwatch run_watch;
  FailureLog failures;
  std::vector<SizeReport> reports;
  for (int size_px : config->sizes) {
    reports.push_back(BenchSize(*config, size_px, model, failures));
    for (const DetectorRun& run : reports.back().runs) {
      PrintDetectorTable(reports.back(), run);
    }
    PrintPhaseCorrelate(reports.back());
    std::fflush(stdout);
  }
  PrintSummary(reports);
  std::printf("OS threads in the process after the run: %d\n", OsThreadCount());
  std::printf("run wall time %.1f s; /proc/loadavg at start: %s, at end: %s\n",
              run_watch.Lap() / 1000.0, load_at_start.c_str(),
              LoadAverage().c_str());

  if (!config->csv_path.empty() && !WriteCsv(config->csv_path, reports)) {
    std::cerr << "error: cannot write " << config->csv_path << "\n";
    return 2;
  }
  if (failures.count > 0) {
    std::fprintf(stderr, "\nFAILED: %d RegisterFrame call(s) not ok:\n",
                 failures.count);
    for (const std::string& m : failures.messages) {
      std::fprintf(stderr, "  %s\n", m.c_str());
    }
    return 1;
  }
  return 0;
}
