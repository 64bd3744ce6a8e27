#pragma once

// `anchord bench`: per-stage and end-to-end latency of RegisterFrame (the
// per-frame registration pipeline) and throughput with concurrent workers,
// on synthetic Si(111)-7×7 frames. A program, not a timed test: it reports
// medians and p99 and ratios against baselines run in the same process.
// The standalone bench/anchord_register_bench runs the same code.
//
// What is measured, per frame size × detector × worker count:
//   * Every pipeline stage and "total" as RegisterFrame records them in
//     FrameResult::timing_ms (steady_clock, one sample per call). "total"
//     is one RegisterFrame call, input validation included; frame
//     synthesis is never inside a timing.
//   * With T workers: T std::threads, each calling RegisterFrame on its own
//     frames (thread t takes frames t, t + T, ... of the size's set)
//     concurrently. Latency percentiles pool the calls of all threads;
//     throughput is completed calls / wall time of the run (from start to
//     the last join). Each thread keeps calling until the run's time budget
//     has passed and it has made at least `min_calls` calls.
//   * Baselines in the same process: the SIFT detector path (the method of
//     Diao et al., Sci. Rep. 15, 13486 (2025)) against the fast detector,
//     and cv::phaseCorrelate between two frames of the size (float32, Hann
//     window built once outside the timing; the call gets copies of the
//     frames, which it would otherwise overwrite).
// OpenCV runs with cv::setNumThreads(0): its parallel_for_ bodies run on
// the calling thread, so T workers use T cores and nothing else; the
// number of OS threads in the process is printed as evidence.
// Statistics: median (midpoint for an even count) and p99 by nearest rank
// (with fewer than 100 samples p99 is the maximum).

#include "anchord/util/status.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

struct BenchArgs {
  std::vector<int> sizes = {256, 512, 1024, 2048};  // frame side, px
  std::vector<std::string> detectors = {"fast", "sift"};
  std::vector<int> threads = {1, 2};  // worker counts, each >= 1
  int frames = 4;              // distinct frames per size; >= max(threads)
  double seconds = 3.0;        // time budget per configuration, s; > 0
  int min_calls = 6;           // timed calls per thread at least; >= 1
  int warmup = 1;              // untimed calls per thread first; >= 0
  bool make_corrected = true;  // PipelineOptions::make_corrected
  // Lattice rotation of the frames, degrees; default 23 (no hole row near
  // a scan axis); within 4° of 0 or 60 the frames pay the second
  // levelling (PipelineOptions::relevel_axis_angle_deg). In [-360, 360].
  double rotation_deg = 23.0;
  std::string csv_path;  // empty: no CSV
  bool help = false;

  // Every violated constraint, listed.
  Status Validate() const;
};

// Parses the arguments after "bench"; kInvalidInput naming the problem.
Status ParseBenchArgs(const std::vector<std::string>& args, BenchArgs& parsed);

void PrintBenchHelp(std::ostream& out);

// Runs the benchmark. Exit status: 0 when every RegisterFrame call
// (warm-up included) returned ok; 1 when any did not (the first messages
// are printed) or the CSV could not be written; 2 on a usage error.
int RunBenchCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
