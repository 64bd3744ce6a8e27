// anchord_segment_bench: wall time of SegmentFrame (the symmetry-descriptor
// segmentation, anchord/segment/symmetry_segmentation.h) on synthetic
// Si(111)-7×7 frames of 256² and 512² px, against RegisterFrame on the
// same frames in the same process as the baseline. A program, not a timed
// test: prints median, p99 and the ratio of the medians.
//
// Usage: anchord_segment_bench [--runs N] [--stride PX] [--classes K]
//   --runs     timed runs per size after one warm-up (default 20)
//   --stride   SegmentOptions::stride_px (default: the library's, 4)
//   --classes  SegmentOptions::classes (default: the library's, 0 = chosen)

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/segment/symmetry_segmentation.h"
#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/stopwatch.h"

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Args {
  int runs = 20;
  int stride = 0;    // 0: library default
  int classes = -1;  // −1: library default
};

bool ParseArgs(int argc, char** argv, Args& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string name = argv[i];
    if (i + 1 >= argc) return false;
    const int value = std::atoi(argv[++i]);
    if (name == "--runs" && value >= 1 && value <= 10000) {
      a.runs = value;
    } else if (name == "--stride" && value >= 1 && value <= 64) {
      a.stride = value;
    } else if (name == "--classes" && value >= 0 && value <= 16) {
      a.classes = value;
    } else {
      return false;
    }
  }
  return true;
}

// The q-quantile (nearest rank) of the times.
double Quantile(std::vector<double> t, double q) {
  std::sort(t.begin(), t.end());
  const size_t k = std::min(
      t.size() - 1, static_cast<size_t>(q * static_cast<double>(t.size())));
  return t[k];
}

}  // namespace

int main(int argc, char** argv) {
  // As the anchord binary does (daemon/main.cc): keep freed frame-sized
  // buffers in the heap instead of unmapping them, so that the kernel does
  // not zero fresh pages on every call.
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
  Args args;
  if (!ParseArgs(argc, argv, args)) {
    std::fprintf(stderr,
                 "usage: anchord_segment_bench [--runs N] [--stride PX] "
                 "[--classes K]\n");
    return 2;
  }
  const anchord::LatticeModel model = anchord::MakeSi7x7Model();
  std::printf("%-6s %-8s %10s %10s %10s %12s %8s\n", "size", "fov_nm",
              "seg_med", "seg_p99", "reg_med", "seg/reg", "classes");
  for (const auto& [size, fov] : {std::pair{256, 20.0}, std::pair{512, 30.0}}) {
    const anchord::SyntheticScan scan = anchord::MakeSyntheticScan(
        anchord::ModeratelyDistortedScan(7, size, fov));
    anchord::SegmentOptions so;
    so.pixel_size_nm = scan.frame.pixel_size_x_nm;
    if (args.stride > 0) so.stride_px = args.stride;
    if (args.classes >= 0) so.classes = args.classes;
    anchord::PipelineOptions po;
    std::vector<double> seg_ms, reg_ms;
    size_t classes = 0;
    for (int run = 0; run <= args.runs; ++run) {
      anchord::Stopwatch watch;
      const anchord::SegmentResult r =
          anchord::SegmentFrame(scan.frame.image, so);
      const double s = watch.Lap();
      const anchord::FrameResult f =
          anchord::RegisterFrame(scan.frame, model, po);
      const double g = watch.Lap();
      if (!r.status.ok() || !f.status.ok()) {
        std::fprintf(stderr, "frame %d px failed: %s %s\n", size,
                     r.status.message().c_str(), f.status.message().c_str());
        return 1;
      }
      classes = r.classes.size();
      if (run == 0) continue;  // warm-up
      seg_ms.push_back(s);
      reg_ms.push_back(g);
    }
    const double seg_med = Quantile(seg_ms, 0.5);
    const double reg_med = Quantile(reg_ms, 0.5);
    std::printf("%-6d %-8.1f %8.1fms %8.1fms %8.1fms %12.2f %8zu\n", size, fov,
                seg_med, Quantile(seg_ms, 0.99), reg_med, seg_med / reg_med,
                classes);
  }
  return 0;
}
