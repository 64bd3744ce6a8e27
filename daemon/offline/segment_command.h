#pragma once

#include "anchord/io/sxm.h"
#include "anchord/segment/symmetry_segmentation.h"
#include "anchord/util/status.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// `anchord segment FILE [--pixel-size-nm S] [--classes K] [--channel NAME]
//                 [--direction forward|backward] [--labels OUT.npy]
//                 [--overlay OUT.png] [--json OUT]`
//
// Unsupervised segmentation of one frame by symmetry descriptors
// (anchord/segment/symmetry_segmentation.h) of the levelled frame.
// - stdout (or --json OUT, appended) receives one JSON line: source,
//   status ("ok", "invalid_input", "internal_error"), message, width,
//   height, pixel_size_nm, classes [{label, area_fraction,
//   rotation_120_score, rotation_90_score, looks_7x7}], descriptor_length,
//   explained_variance, timing_ms {level, segment, total}.
// - --labels writes the H × W label map as int32 .npy (−1 where the frame
//   is not finite); --overlay the levelled frame with the classes tinted.
// - Exit status: 0 when the input was processed (whatever its status), 1
//   when it could not be read or an output not written, 2 on a usage error.

struct SegmentArgs {
  std::string input;
  double pixel_size_nm = 0;  // 0: from the file (.sxm only)
  int classes = 0;           // 0: chosen (SegmentOptions::classes)
  std::string channel = "Z";
  SxmTrace trace = SxmTrace::kForward;
  std::string labels_path, overlay_path, json_path;  // empty: not written
  bool help = false;
};

// Parses the arguments that follow "segment"; kInvalidInput naming the
// problem on a usage error (unknown or repeated option, bad value, not
// exactly one input, no pixel size for a file other than .sxm).
Status ParseSegmentArgs(const std::vector<std::string>& args,
                        SegmentArgs& parsed);

void PrintSegmentHelp(std::ostream& out);

// Runs `anchord segment` and returns the process exit status.
int RunSegmentCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
