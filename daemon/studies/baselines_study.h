#pragma once

// `anchord study baselines`: anchord against the conventional drift
// corrections on one synthetic drifting sequence.
//
// The sequence: frames 0..K−1 of the same synthetic sample (same structure
// seed, fresh measurement noise per frame) under one constant, moderate
// distortion, the sample drifting by a known amount per frame
// (DriftSequenceOptions). Frames 1..K−1 are evaluated:
//   phasecorr  cv::phaseCorrelate(frame 0, frame k), Hann window: a rigid
//              shift.
//   sift       SIFT keypoints (8-bit copy), ratio test, RANSAC homography
//              frame 0 → frame k.
//   anchord    RegisterFrame on frame k alone (absolute).
//   phasecorr/a0, sift/a0
//              the same relative maps started from anchord's registration
//              of frame 0 instead of the truth (what a user of a relative
//              method would actually have).
// Errors against the ground truth, in pm in the sample plane:
//   adatom     the relative baselines map frame 0's TRUE adatom positions
//              into frame k (which hands them a perfect frame 0); anchord's
//              are its reported sites, matched to the nearest true occupied
//              adatom within 0.38 nm (half the adatom spacing; farther
//              ones count as missed).
//   distortion the image → sample map of frame k over a 16×16 pixel grid:
//              anchord's H⁻¹ against the true map after choosing the
//              lattice-symmetry equivalent nearest the truth (a periodic
//              lattice fixes H only up to a lattice translation; across
//              frames the tracker will choose it from the drift, which is
//              unambiguous below half a cell per frame); the baselines'
//              true-frame-0 map composed with their frame k → frame 0 map.
// Time per frame: the wall time of the per-frame call (the reference
// frame's SIFT features and the Hann window are built once, outside).

#include "anchord/detect/corner_hole_detector.h"
#include "anchord/studies/baselines.h"
#include "anchord/util/status.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

struct BaselinesArgs {
  DriftSequenceOptions sequence;
  DetectorKind detector = DetectorKind::kFast;  // anchord's detector
  std::string csv_path;                         // empty: no CSV
  bool help = false;
};

// The default sequence: 20 frames of 512 px over 30 nm, rotation 17°,
// scale errors +8 % / −5 %, shear 0.05, perspective 0.01, noise 0.1, line
// noise 0.05, 5 % vacancies, structure seed 7, drift (0.31, −0.19) nm per
// frame.
DriftSequenceOptions DefaultDriftSequence();

// Parses the arguments after "baselines"; kInvalidInput naming the problem
// (including every violation of the resulting DriftSequenceOptions).
Status ParseBaselinesArgs(const std::vector<std::string>& args,
                          BaselinesArgs& parsed);

void PrintBaselinesHelp(std::ostream& out);

// Runs the study; exit status 0, 1 (an output could not be written) or 2
// (usage error).
int RunBaselinesStudy(const std::vector<std::string>& args);

}  // namespace anchord::daemon
