// anchord_level_bias_probe: corner-hole position error of RegisterFrame
// against the synthetic ground truth as the lattice turns through a scan
// axis, with per-line levelling (LevelOptions::level_lines) on and off on
// the same frames. An accuracy probe run by hand, not a test: near an axis
// each row's mean holds the lattice's own row profile, and subtracting it
// moves the holes (the defect this program measures until it is fixed).
//
// Usage: anchord_level_bias_probe [--seed N]
//   --seed  SyntheticScanOptions::seed (default 221)
// Frames: 512² px, 30 nm, noise 0.08, no other distortion. Per rotation
// and setting: the paired candidates, their worst and RMS distance to the
// nearest true corner hole, px.

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace {

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
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: anchord_level_bias_probe [--seed N]\n");
      return 2;
    }
  }
  const anchord::LatticeModel model = anchord::MakeSi7x7Model();
  std::printf("%8s  %-16s  %-16s\n", "rot_deg", "lines on", "lines off");
  std::printf("%8s  %-16s  %-16s\n", "", "worst / rms px", "worst / rms px");
  for (const double rot : {-10.0, -2.0, -1.0, 0.0, 1.0, 2.0, 10.0, 30.0}) {
    anchord::SyntheticScanOptions o;
    o.width_px = o.height_px = 512;
    o.field_of_view_nm = 30.0;
    o.rotation_deg = rot;
    o.noise = 0.08;
    o.seed = seed;
    const anchord::SyntheticScan scan = anchord::MakeSyntheticScan(o);
    HoleError e[2];
    for (const bool lines : {true, false}) {
      anchord::PipelineOptions po;
      po.level.level_lines = lines;
      const anchord::FrameResult r =
          anchord::RegisterFrame(scan.frame, model, po);
      if (!r.status.ok()) {
        std::printf("rotation %g, level_lines %d: %s\n", rot, lines,
                    r.status.message().c_str());
        return 1;
      }
      e[lines ? 0 : 1] = CandidateError(r, scan);
    }
    std::printf("%8.1f  %6.2f / %-6.2f  %6.2f / %-6.2f  (%d pairs)\n", rot,
                e[0].worst_px, e[0].rms_px, e[1].worst_px, e[1].rms_px,
                e[0].pairs);
  }
  return 0;
}
