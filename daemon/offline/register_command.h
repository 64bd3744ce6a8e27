#pragma once

#include "anchord/detect/corner_hole_detector.h"
#include "anchord/io/sxm.h"
#include "anchord/util/status.h"

#include "daemon/offline/frame_input.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// `anchord register INPUT... --pixel-size-nm S[,SY] [--detector fast|sift]
//                  [--json OUT] [--corrected OUT.tiff] [--overlay OUT.png]`
//
// Offline registration of image files (.npy, .tif/.tiff, .png) against the
// Si(111)-7×7 model. This interface is a contract other programs call:
// - stdout (or --json OUT, appended) receives one compact JSON object per
//   input, one per line, in input order; keys: source, status ("ok",
//   "no_lattice", "invalid_input", "internal_error"), message, width,
//   height, scanned {row_begin, row_end, fraction}, image_from_model (9
//   numbers, row-major, or null), lattice, calibration (objects or null),
//   corner_holes, adatoms (arrays, empty unless ok), vacancies,
//   faulted_contrast, candidates, voted_candidates, timing_ms (per stage plus
//   "total"). Non-finite numbers are null.
// - With more than one input, the --json, --corrected and --overlay names
//   get the 1-based input index before the extension (out.png → out-1.png).
// - Exit status: 0 when every input was processed (whatever its status),
//   1 when an input could not be read or a requested output could not be
//   written, 2 on a usage error. A bad input never stops the others.
// Logging goes to spdlog (configured by main); results never do.

// The parsed command line.
struct RegisterArgs {
  std::vector<std::string> inputs;
  // Pixel size, .sxm channel and trace; the pixel size is set after a
  // successful parse (unless `help`) when an input is not an .sxm.
  FrameInputArgs input;
  DetectorKind detector = DetectorKind::kFast;
  // Output paths; empty when not requested.
  std::string json_path;
  std::string corrected_path;
  std::string overlay_path;
  bool help = false;
};

// Parses the arguments that follow "register". Accepts `--opt value` and
// `--opt=value`; `--` ends the options. kInvalidInput naming the problem on
// a usage error (unknown or repeated option, missing or bad value, no
// inputs, no pixel size). With --help the other checks are skipped.
Status ParseRegisterArgs(const std::vector<std::string>& args,
                         RegisterArgs& parsed);

// The output path for input `index` (0-based) of `count`: `path` when
// count is 1, else `path` with "-<index + 1>" before its extension.
std::string IndexedOutputPath(const std::string& path, int index, int count);

// The --help text.
void PrintRegisterHelp(std::ostream& out);

// Runs `anchord register` with the arguments after "register" and returns
// the process exit status (see above).
int RunRegisterCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
