#pragma once

// `anchord study align`: frame-to-frame alignment on synthetic pairs with
// a known field (anchord/synth/synthetic_pair.h) — a translation up to 8 %
// of the frame plus ±3 px bumps, moderate and hard noise — by three
// methods on the same pairs: OpenCV phase correlation (a rigid shift),
// SIFT + RANSAC homography (studies/baselines.h) and AlignFrames (dense
// matches, isolation forest, local affine, thin-plate field). Reports per
// method the median and 90th percentile of the target registration error
// (px and relative to the frame diagonal, rTRE, as Zhang et al.), the
// pairs it failed on and the median time per pair.

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// Exit status 0 on success, 1 when the JSON cannot be written, 2 on a
// usage error.
int RunAlignStudy(const std::vector<std::string>& args);
void PrintAlignStudyHelp(std::ostream& out);

}  // namespace anchord::daemon
