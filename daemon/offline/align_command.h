#pragma once

#include "anchord/util/status.h"

#include "daemon/offline/frame_input.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// `anchord align FIXED MOVING [--pixel-size-nm S|SX,SY] [--channel NAME]
//                [--direction forward|backward] [--json OUT]
//                [--field OUT.npy] [--warped OUT.tiff] [--overlay OUT.png]`
//
// Frame-to-frame deformable alignment (anchord/align/align_frames.h) of
// two files. A contract other programs call:
// - stdout (or --json OUT, appended) receives one compact JSON object:
//   fixed, moving (the paths), status ("ok", "no_overlap",
//   "invalid_input"), message, width, height, translation_px [dx, dy],
//   translation_nm (or null without pixel sizes), dt_s (moving minus fixed
//   acquisition time, or null), affine (2×3 row-major, moving px =
//   affine · (x, y, 1)), coarse {shift_px, response}, matches {patch,
//   keypoint, after_isolation_forest, inliers}, overlap_fraction,
//   residual_px, affine_residual_px, field_max_px, timing_ms. A feature at
//   fixed pixel p is at moving pixel p + translation (or p + field(p)).
// - --field: H × W × 2 float32 .npy, (x, y) displacement in the fixed
//   frame's canonical orientation; --warped: the moving frame resampled
//   onto the fixed one (float32 TIFF, NaN outside); --overlay: the fixed
//   frame with each match's displacement relative to the translation.
// - Exit status: 0 when the pair was processed (whatever its status), 1
//   when an input could not be read or an output not written, 2 on a
//   usage error.

struct AlignArgs {
  std::string fixed_path, moving_path;
  FrameInputArgs input;
  std::string json_path, field_path, warped_path, overlay_path;
  bool help = false;
};

// Parses the arguments after "align"; kInvalidInput naming the problem on
// a usage error (not two inputs, unknown or repeated option, bad value, no
// pixel size for inputs other than .sxm).
Status ParseAlignArgs(const std::vector<std::string>& args, AlignArgs& parsed);

void PrintAlignHelp(std::ostream& out);

// Runs `anchord align`; returns the process exit status.
int RunAlignCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
