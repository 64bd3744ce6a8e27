#include "daemon/studies/bench_command.h"

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/frame.h"
#include "anchord/util/stopwatch.h"
#include "anchord/util/validation.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/common/sample_stats.h"
#include <malloc.h>
#include <opencv2/core.hpp>
#include <opencv2/core/utility.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <thread>
#include <utility>

namespace anchord::daemon {
namespace {

// Nominal pixel size of every frame, nm/px: the field of view scales with
// the frame so that all sizes show the lattice at the same scale.
constexpr double kPixelSizeNm = 0.06;
constexpr int kMaxPrintedFailures = 10;
constexpr int kPhaseCorrelateCalls = 20;

// ---------------------------------------------------------------------------
// Inputs.

// Moderately distorted synthetic frame `index` of a size; every frame has
// its own seed.
Frame MakeBenchFrame(int size_px, int index, double rotation_deg) {
  SyntheticScanOptions o;
  o.width_px = size_px;
  o.height_px = size_px;
  o.field_of_view_nm = size_px * kPixelSizeNm;
  o.rotation_deg = rotation_deg;
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
  return MakeSyntheticScan(o).frame;
}

// ---------------------------------------------------------------------------
// Samples.

// Timing samples per stage name, stages kept in first-seen (pipeline)
// order.
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
  void Merge(const StageSamples& other) {
    for (const std::string& stage : other.order_) {
      auto it = samples_.find(stage);
      if (it == samples_.end()) {
        order_.push_back(stage);
        it = samples_.emplace(stage, std::vector<double>()).first;
      }
      const std::vector<double>& more = other.samples_.at(stage);
      it->second.insert(it->second.end(), more.begin(), more.end());
    }
  }
  const std::vector<std::string>& stages() const { return order_; }
  Summary SummaryOf(const std::string& stage) const {
    const auto it = samples_.find(stage);
    return it == samples_.end() ? Summary{NAN, NAN, 0} : Summarize(it->second);
  }

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::vector<double>> samples_;
};

// Every non-ok RegisterFrame outcome: counted, the first few kept.
struct FailureLog {
  int count = 0;
  std::vector<std::string> messages;

  void Record(const std::string& where, const FrameResult& r) {
    ++count;
    if (static_cast<int>(messages.size()) >= kMaxPrintedFailures) return;
    messages.push_back(where + ": " + StatusCodeName(r.status.code()) + ": " +
                       r.status.message());
  }
  void Merge(const FailureLog& other) {
    count += other.count;
    for (const std::string& m : other.messages) {
      if (static_cast<int>(messages.size()) < kMaxPrintedFailures) {
        messages.push_back(m);
      }
    }
  }
};

// ---------------------------------------------------------------------------
// Measurements.

// One (size, detector, workers) configuration.
struct ConfigResult {
  int size_px = 0;
  std::string detector;
  int threads = 1;
  StageSamples stages;
  int calls = 0;
  double wall_s = 0;
  double throughput_fps() const { return wall_s > 0 ? calls / wall_s : NAN; }
};

// What one worker thread records.
struct WorkerLog {
  StageSamples stages;
  int calls = 0;
  FailureLog failures;
};

// Start line shared by the workers of one configuration: all warm up,
// then the timed phase starts for all at once with a common deadline.
struct StartLine {
  std::atomic<int> warmed{0};
  std::atomic<bool> go{false};
  std::atomic<std::chrono::steady_clock::rep> deadline{0};
};

// Worker `t` of `threads`: `warmup` untimed calls, then (after every
// worker warmed up) timed calls on its own frames until the deadline has
// passed and it made `min_calls`.
void RunWorker(const std::vector<Frame>& frames,
               const LatticeModel& model,
               const PipelineOptions& options,
               int t,
               int threads,
               const BenchArgs& a,
               const std::string& label,
               StartLine& line,
               WorkerLog& log) {
  const int f = static_cast<int>(frames.size());
  int k = 0;
  const auto next_frame = [&]() -> const Frame& {
    return frames[(t + threads * k++) % f];
  };
  for (int w = 0; w < a.warmup; ++w) {
    const FrameResult r = RegisterFrame(next_frame(), model, options);
    if (!r.status.ok()) log.failures.Record(label + " warm-up", r);
  }
  line.warmed.fetch_add(1);
  while (!line.go.load()) std::this_thread::yield();
  const std::chrono::steady_clock::time_point deadline(
      std::chrono::steady_clock::duration(line.deadline.load()));
  while (log.calls < a.min_calls ||
         std::chrono::steady_clock::now() < deadline) {
    const FrameResult r = RegisterFrame(next_frame(), model, options);
    ++log.calls;
    if (r.status.ok()) {
      log.stages.Add(r.timing_ms);
    } else {
      log.failures.Record(label, r);
    }
  }
}

ConfigResult RunConfig(const std::vector<Frame>& frames,
                       const LatticeModel& model,
                       int size_px,
                       const std::string& detector,
                       int threads,
                       const BenchArgs& a,
                       FailureLog& failures) {
  PipelineOptions options;
  options.detect.kind = *ParseDetectorKind(detector);
  options.make_corrected = a.make_corrected;
  const std::string label = std::to_string(size_px) + " px " + detector + " x" +
                            std::to_string(threads);
  std::vector<WorkerLog> logs(threads);
  StartLine line;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back(RunWorker, std::cref(frames), std::cref(model),
                      std::cref(options), t, threads, std::cref(a),
                      std::cref(label), std::ref(line), std::ref(logs[t]));
  }
  while (line.warmed.load() < threads) std::this_thread::yield();
  const auto budget =
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(a.seconds));
  line.deadline.store(
      (std::chrono::steady_clock::now() + budget).time_since_epoch().count());
  Stopwatch wall;
  line.go.store(true);
  for (std::thread& th : pool) th.join();
  ConfigResult result;
  result.size_px = size_px;
  result.detector = detector;
  result.threads = threads;
  result.wall_s = wall.Lap() / 1000.0;
  for (const WorkerLog& log : logs) {
    result.stages.Merge(log.stages);
    result.calls += log.calls;
    failures.Merge(log.failures);
  }
  return result;
}

// cv::phaseCorrelate between frames 0 and 1 of a size, copies passed (the
// call multiplies its inputs by the window in place).
Summary TimePhaseCorrelate(const std::vector<Frame>& frames, int warmup) {
  cv::Mat window;
  cv::createHanningWindow(window, frames.front().image.size(), CV_32F);
  const cv::Mat& a = frames[0].image;
  const cv::Mat& b = frames[1 % frames.size()].image;
  std::vector<double> samples;
  double sink = 0;
  for (int k = 0; k < warmup + kPhaseCorrelateCalls; ++k) {
    Stopwatch watch;
    const cv::Point2d shift = cv::phaseCorrelate(a.clone(), b.clone(), window);
    const double ms = watch.Lap();
    sink += shift.x + shift.y;
    if (k >= warmup) samples.push_back(ms);
  }
  if (!std::isfinite(sink)) std::cerr << "note: phaseCorrelate gave NaN\n";
  return Summarize(samples);
}

// ---------------------------------------------------------------------------
// Report.

std::string ParallelFramework() {
  const std::string info = cv::getBuildInformation();
  const std::string key = "Parallel framework:";
  const size_t at = info.find(key);
  if (at == std::string::npos) return "unknown";
  const size_t begin = info.find_first_not_of(' ', at + key.size());
  const size_t end = info.find('\n', at);
  return info.substr(begin, end - begin);
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

// The first line of /proc/loadavg, or "unknown": other load on the machine
// inflates the timings, so the report states it.
std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string line;
  return std::getline(in, line) ? line : "unknown";
}

std::vector<std::string> AllStages(const std::vector<ConfigResult>& results) {
  std::vector<std::string> stages;
  for (const ConfigResult& r : results) {
    for (const std::string& s : r.stages.stages()) {
      if (s != "total" &&
          std::find(stages.begin(), stages.end(), s) == stages.end()) {
        stages.push_back(s);
      }
    }
  }
  stages.push_back("total");
  return stages;
}

std::string MedP99(const Summary& s) {
  char cell[48];
  std::snprintf(cell, sizeof cell, "%.2f/%.2f", s.median_ms, s.p99_ms);
  return cell;
}

const ConfigResult* Find(const std::vector<ConfigResult>& results,
                         int size,
                         const std::string& detector,
                         int threads) {
  for (const ConfigResult& r : results) {
    if (r.size_px == size && r.detector == detector && r.threads == threads) {
      return &r;
    }
  }
  return nullptr;
}

void PrintStageTable(const std::vector<ConfigResult>& results) {
  const std::vector<std::string> stages = AllStages(results);
  std::printf("\nPer stage, median/p99 ms (p99 = max below 100 samples)\n");
  std::printf("%5s %-5s %3s %5s", "size", "det", "thr", "calls");
  for (const std::string& s : stages) std::printf(" %14s", s.c_str());
  std::printf(" %9s\n", "frames/s");
  for (const ConfigResult& r : results) {
    std::printf("%5d %-5s %3d %5d", r.size_px, r.detector.c_str(), r.threads,
                r.calls);
    for (const std::string& s : stages) {
      std::printf(" %14s", MedP99(r.stages.SummaryOf(s)).c_str());
    }
    std::printf(" %9.2f\n", r.throughput_fps());
  }
}

double Ratio(double num, double den) { return den > 0 ? num / den : NAN; }

void PrintSummary(const std::vector<ConfigResult>& results,
                  const std::map<int, Summary>& phase,
                  const BenchArgs& a) {
  std::printf(
      "\nSummary: end-to-end median ms (sift/fast), throughput frames/s per "
      "worker count (scaling vs 1 worker), cv::phaseCorrelate\n");
  for (int size : a.sizes) {
    const Summary& pc = phase.at(size);
    std::printf("%5d px  phaseCorrelate %.2f/%.2f ms\n", size, pc.median_ms,
                pc.p99_ms);
    for (const std::string& det : a.detectors) {
      const ConfigResult* one = Find(results, size, det, a.threads.front());
      if (one == nullptr) continue;
      const double total = one->stages.SummaryOf("total").median_ms;
      std::printf("         %-5s total %8.2f ms (%.1fx phaseCorrelate)",
                  det.c_str(), total, Ratio(total, pc.median_ms));
      if (det == DetectorKindName(DetectorKind::kSift)) {
        const ConfigResult* fast =
            Find(results, size, DetectorKindName(DetectorKind::kFast),
                 a.threads.front());
        if (fast) {
          std::printf(", sift/fast %.2fx",
                      Ratio(total, fast->stages.SummaryOf("total").median_ms));
        }
      }
      std::printf("\n                throughput");
      for (int t : a.threads) {
        const ConfigResult* r = Find(results, size, det, t);
        if (r == nullptr) continue;
        std::printf("  x%d: %.2f/s (%.2fx)", t, r->throughput_fps(),
                    Ratio(r->throughput_fps(), one->throughput_fps()));
      }
      std::printf("\n");
    }
  }
}

// size,detector,threads,stage,median_ms,p99_ms,n,throughput_fps;
// phaseCorrelate as detector "phasecorrelate", threads 1, stage "total".
bool WriteCsv(const std::string& path,
              const std::vector<ConfigResult>& results,
              const std::map<int, Summary>& phase) {
  std::ofstream out(path, std::ios::trunc);
  out << "size,detector,threads,stage,median_ms,p99_ms,n,throughput_fps\n";
  char line[256];
  for (const ConfigResult& r : results) {
    for (const std::string& stage : r.stages.stages()) {
      const Summary s = r.stages.SummaryOf(stage);
      std::snprintf(line, sizeof line, "%d,%s,%d,%s,%.6f,%.6f,%zu,%.4f\n",
                    r.size_px, r.detector.c_str(), r.threads, stage.c_str(),
                    s.median_ms, s.p99_ms, s.n, r.throughput_fps());
      out << line;
    }
  }
  for (const auto& [size, s] : phase) {
    std::snprintf(line, sizeof line,
                  "%d,phasecorrelate,1,total,%.6f,%.6f,%zu,%.4f\n", size,
                  s.median_ms, s.p99_ms, s.n, 1000.0 / s.median_ms);
    out << line;
  }
  out.flush();
  return static_cast<bool>(out);
}

Status ApplyOption(const std::string& name,
                   const std::string& value,
                   BenchArgs& a) {
  const auto bad = [&](const char* expected) {
    return Status::InvalidInput(name + " = '" + value + "': expected " +
                                expected);
  };
  if (name == "--sizes" || name == "--threads") {
    const auto list = ParseNumberList<int>(value);
    if (!list) return bad("integers separated by commas");
    (name == "--sizes" ? a.sizes : a.threads) = *list;
    return Status::Ok();
  }
  if (name == "--detectors") {
    a.detectors = SplitList(value);
    return Status::Ok();
  }
  if (name == "--frames" || name == "--min-calls" || name == "--warmup") {
    int n = 0;
    if (!ParseNumber(value, n)) return bad("an integer");
    (name == "--frames"      ? a.frames
     : name == "--min-calls" ? a.min_calls
                             : a.warmup) = n;
    return Status::Ok();
  }
  if (name == "--seconds" || name == "--rotation-deg") {
    return ParseNumber(value, name == "--seconds" ? a.seconds : a.rotation_deg)
               ? Status::Ok()
               : bad("a number");
  }
  if (name == "--csv") {
    a.csv_path = value;
    return Status::Ok();
  }
  return Status::InvalidInput("unknown option " + name);
}

}  // namespace

Status BenchArgs::Validate() const {
  Violations v("bench");
  v.Require(!sizes.empty(), "sizes", "(empty)", "not empty");
  for (int size : sizes) {
    v.Require(size >= 64 && size <= 8192, "sizes[]", size, "in [64, 8192]");
  }
  v.Require(!detectors.empty(), "detectors", "(empty)", "not empty");
  for (const std::string& d : detectors) {
    v.Require(ParseDetectorKind(d).has_value(), "detectors[]", d,
              "fast or sift");
  }
  v.Require(!threads.empty(), "threads", "(empty)", "not empty");
  int max_threads = 1;
  for (int t : threads) {
    v.Require(t >= 1 && t <= 256, "threads[]", t, "in [1, 256]");
    max_threads = std::max(max_threads, t);
  }
  v.Require(frames >= max_threads, "frames", frames,
            ">= the largest worker count");
  ANCHORD_OPTION_GT(v, seconds, 0.0);
  ANCHORD_OPTION_IN_CLOSED(v, rotation_deg, -360.0, 360.0);
  ANCHORD_OPTION_GE(v, min_calls, 1);
  ANCHORD_OPTION_GE(v, warmup, 0);
  return v.ToStatus();
}

Status ParseBenchArgs(const std::vector<std::string>& args, BenchArgs& a) {
  const Status s = ApplyOptions(
      args, {"--no-corrected"},
      {"--sizes", "--detectors", "--threads", "--frames", "--seconds",
       "--min-calls", "--warmup", "--rotation-deg", "--csv"},
      [&a](const std::string& name, const std::string& value) {
        if (name != "--no-corrected") return ApplyOption(name, value, a);
        a.make_corrected = false;
        return Status::Ok();
      },
      a.help);
  if (!s.ok() || a.help) return s;
  return a.Validate();
}

void PrintBenchHelp(std::ostream& out) {
  out << R"(Usage: anchord bench [options]

Times RegisterFrame per stage and end to end on synthetic Si(111)-7x7 frames
(0.06 nm/px), for each frame size x detector x worker count; T workers are T
threads calling RegisterFrame concurrently on their own frames (OpenCV
threading off). Prints median/p99 per stage, throughput, and ratios against
the SIFT path and cv::phaseCorrelate measured in the same process.

Options:
  --sizes A,B,...      frame sides, px (default 256,512,1024,2048)
  --detectors L        fast,sift (default both)
  --threads A,B,...    worker counts (default 1,2)
  --frames K           distinct frames per size (default 4; >= workers)
  --seconds S          time budget per configuration (default 3)
  --min-calls N        timed calls per worker at least (default 6)
  --warmup W           untimed calls per worker first (default 1)
  --no-corrected       skip the corrected frame (make_corrected = false)
  --rotation-deg R     lattice rotation of the frames, degrees (default 23;
                       within 4 of 0 or 60 the second levelling runs)
  --csv FILE           size,detector,threads,stage,median_ms,p99_ms,n,
                       throughput_fps
  -h, --help           show this help

Exit status: 0 when every call returned ok, 1 when any did not or the CSV
could not be written, 2 on a usage error.
)";
}

int RunBenchCommand(const std::vector<std::string>& args) {
  BenchArgs a;
  const Status status = ParseBenchArgs(args, a);
  if (const std::optional<int> exit =
          FinishParsing({"bench", &PrintBenchHelp}, status, a.help)) {
    return *exit;
  }
  // As in the anchord binary: freed frame buffers stay in the heap.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  cv::setNumThreads(0);
  std::printf(
      "anchord bench: OpenCV %s, parallel framework '%s', "
      "cv::setNumThreads(0); %.3f nm/px, %d frames per size, budget %.1f s "
      "per configuration, >= %d calls per worker, warm-up %d, "
      "make_corrected=%s, rotation %g deg\n",
      CV_VERSION, ParallelFramework().c_str(), kPixelSizeNm, a.frames,
      a.seconds, a.min_calls, a.warmup, a.make_corrected ? "on" : "off",
      a.rotation_deg);
#ifndef NDEBUG
  std::printf("WARNING: assertions are on; timings are not representative\n");
#endif
  const std::string load_at_start = LoadAverage();
  Stopwatch run;
  const LatticeModel model = MakeSi7x7Model();
  FailureLog failures;
  std::vector<ConfigResult> results;
  std::map<int, Summary> phase;
  for (int size : a.sizes) {
    std::vector<Frame> frames;
    for (int k = 0; k < a.frames; ++k)
      frames.push_back(MakeBenchFrame(size, k, a.rotation_deg));
    phase[size] = TimePhaseCorrelate(frames, a.warmup);
    for (const std::string& det : a.detectors) {
      for (int t : a.threads) {
        results.push_back(RunConfig(frames, model, size, det, t, a, failures));
        const ConfigResult& r = results.back();
        std::printf(
            "  %5d px %-4s x%d: %d calls, total median %.2f ms, "
            "%.2f frames/s\n",
            size, det.c_str(), t, r.calls,
            r.stages.SummaryOf("total").median_ms, r.throughput_fps());
        std::fflush(stdout);
      }
    }
  }
  PrintStageTable(results);
  PrintSummary(results, phase, a);
  std::printf("OS threads in the process after the run: %d\n", OsThreadCount());
  std::printf("run wall time %.1f s; /proc/loadavg at start: %s, at end: %s\n",
              run.Lap() / 1000.0, load_at_start.c_str(), LoadAverage().c_str());
  int exit_code = kExitOk;
  if (!a.csv_path.empty() && !WriteCsv(a.csv_path, results, phase)) {
    std::cerr << "error: cannot write " << a.csv_path << "\n";
    exit_code = kExitFailure;
  }
  if (failures.count > 0) {
    std::fprintf(stderr, "\nFAILED: %d RegisterFrame call(s) not ok:\n",
                 failures.count);
    for (const std::string& m : failures.messages) {
      std::fprintf(stderr, "  %s\n", m.c_str());
    }
    exit_code = kExitFailure;
  }
  return exit_code;
}

}  // namespace anchord::daemon
