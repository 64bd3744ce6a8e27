#pragma once

#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// `anchord synth OUT.npy [--seed N] [--size PX] [--fov-nm F]
//                        [--truth OUT.json] [--random]`
//
// Writes one synthetic Si(111)-7×7 frame (float32 .npy) and prints its
// nominal pixel size to stdout as `pixel_size_nm=<value>`, the value to
// pass to `anchord register --pixel-size-nm`. --truth writes the ground
// truth as one JSON object. Exit status: 0 on success, 1 when a file
// cannot be written, 2 on a usage error.

// The parsed command line.
struct SynthArgs {
  std::string output_path;
  std::string truth_path;  // empty when not requested
  uint64_t seed = 1;
  // Frame side, px, and nominal field of view, nm; 0 = not given.
  int size_px = 0;
  double fov_nm = 0;
  bool random = false;
  bool help = false;
};

// Parses the arguments that follow "synth" (`--opt value`, `--opt=value`).
// kInvalidInput naming the problem on a usage error.
Status ParseSynthArgs(const std::vector<std::string>& args, SynthArgs& parsed);

// The generator options of a parsed command line. Without --random: the
// library defaults with the given size and field of view and a moderate
// distortion (rotation 17°, scale errors +0.08 / −0.05, shear 0.05, 5 %
// vacancies, noise 0.1). With --random: RandomSyntheticScanOptions(seed),
// with --size / --fov-nm overriding the drawn frame when given. Not
// validated here.
SyntheticScanOptions SynthOptionsFromArgs(const SynthArgs& args);

// The --help text.
void PrintSynthHelp(std::ostream& out);

// Runs `anchord synth` with the arguments after "synth" and returns the
// process exit status.
int RunSynthCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
