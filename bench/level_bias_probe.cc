// anchord_level_bias_probe: corner-hole position error of RegisterFrame
// against the synthetic ground truth as the lattice turns through a scan
// axis, with three levellings of the same frames: per-line levelling
// against the frame's mean cell near an axis (the default,
// PipelineOptions::relevel_axis_angle_deg), plain per-line levelling
// (relevel off) and no per-line levelling. An accuracy probe run by hand;
// the test is tests/unit/pipeline/relevel_test.cc.
//
// Usage: anchord_level_bias_probe [--seed N] [--line-noise S]
//   --seed        SyntheticScanOptions::seed (default 221)
//   --line-noise  std of a per-row offset (default 0)
// Frames: 512² px, 30 nm, noise 0.08, no other distortion. Per rotation
// and setting: the paired candidates' worst and RMS distance to the
// nearest true corner hole, px; then each setting's median RegisterFrame
// time over 5 calls, ms (one thread).

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

namespace {

// RegisterFrame calls per frame and setting; the median total is printed.
constexpr int kRepeats = 5;

struct HoleError {
  int pairs = 0;
  double worst_px = 0;
  double rms_px = 0;
};

HoleError CandidateError(const anchord::FrameResult& r,
                         const anchord::SyntheticScan& scan) {
  HoleError e;
  double sum_sq = 0;
  for (const anchord::HolePair& p : r.registration.pairs) {
    double nearest = std::numeric_limits<double>::infinity();
    for (const anchord::TruthCornerHole& t : scan.corner_holes) {
      nearest = std::min(nearest, (p.detected_px - t.p_px).norm());
    }
    e.worst_px = std::max(e.worst_px, nearest);
    sum_sq += nearest * nearest;
    ++e.pairs;
  }
  e.rms_px = e.pairs > 0 ? std::sqrt(sum_sq / e.pairs) : 0;
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t seed = 221;
  double line_noise = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (std::strcmp(argv[i], "--line-noise") == 0 && i + 1 < argc) {
      line_noise = std::strtod(argv[++i], nullptr);
    } else {
      std::fprintf(stderr,
                   "usage: anchord_level_bias_probe [--seed N] "
                   "[--line-noise S]\n");
      return 2;
    }
  }
  const anchord::LatticeModel model = anchord::MakeSi7x7Model();
  std::printf("%8s  %-16s  %-16s  %-16s\n", "rot_deg", "against cell",
              "plain lines", "no lines");
  std::printf("%8s  %-16s  %-16s  %-16s\n", "", "worst / rms px",
              "worst / rms px", "worst / rms px");
  for (const double rot :
       {-10.0, -6.0, -4.0, -3.0, -2.0, -1.0, 0.0,  0.5,  1.0,  2.0, 3.0,
        4.0,   6.0,  8.0,  10.0, 30.0, 60.5, 86.0, 87.0, 88.0, 89.0}) {
    anchord::SyntheticScanOptions o;
    o.width_px = o.height_px = 512;
    o.field_of_view_nm = 30.0;
    o.rotation_deg = rot;
    o.noise = 0.08;
    o.line_noise = line_noise;
    o.seed = seed;
    const anchord::SyntheticScan scan = anchord::MakeSyntheticScan(o);
    HoleError e[3];
    double ms[3] = {0, 0, 0};
    for (int mode = 0; mode < 3; ++mode) {
      anchord::PipelineOptions po;
      if (mode == 1) po.relevel_axis_angle_deg = 0;
      if (mode == 2) po.level.level_lines = false;
      std::vector<double> totals;
      anchord::FrameResult r;
      for (int k = 0; k < kRepeats; ++k) {
        r = anchord::RegisterFrame(scan.frame, model, po);
        totals.push_back(r.timing_ms.back().second);
      }
      std::sort(totals.begin(), totals.end());
      ms[mode] = totals[totals.size() / 2];
      if (!r.status.ok()) {
        std::printf("rotation %g, mode %d: %s\n", rot, mode,
                    r.status.message().c_str());
        continue;
      }
      e[mode] = CandidateError(r, scan);
    }
    std::printf(
        "%8.1f  %6.2f / %-6.2f  %6.2f / %-6.2f  %6.2f / %-6.2f  "
        "(%d pairs)  %5.1f %5.1f %5.1f ms\n",
        rot, e[0].worst_px, e[0].rms_px, e[1].worst_px, e[1].rms_px,
        e[2].worst_px, e[2].rms_px, e[0].pairs, ms[0], ms[1], ms[2]);
  }
  return 0;
}
