#include "daemon/offline/synth_command.h"

#include "anchord/io/image_io.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/offline/result_json.h"
#include <spdlog/spdlog.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <string_view>
#include <system_error>

namespace anchord::daemon {
namespace {

// Largest accepted --size: a frame of this side is already 1 GiB of float.
constexpr int kMaxSizePx = 16384;

// Parses all of `text` as a number of type T.
template <typename T>
bool ParseWhole(std::string_view text, T& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end;
}

Status ApplyOption(const std::string& name,
                   const std::string& value,
                   SynthArgs& parsed) {
  if (name == "--seed") {
    if (ParseWhole(value, parsed.seed)) return Status::Ok();
    return UsageError("--seed = '" + value + "': expected an unsigned integer");
  }
  if (name == "--size") {
    if (ParseWhole(value, parsed.size_px) && parsed.size_px > 0 &&
        parsed.size_px <= kMaxSizePx) {
      return Status::Ok();
    }
    return UsageError("--size = '" + value + "': expected an integer in [1, " +
                      std::to_string(kMaxSizePx) + "]");
  }
  if (name == "--fov-nm") {
    if (ParseWhole(value, parsed.fov_nm) && std::isfinite(parsed.fov_nm) &&
        parsed.fov_nm > 0) {
      return Status::Ok();
    }
    return UsageError("--fov-nm = '" + value + "': expected a positive number");
  }
  if (name == "--truth") {
    if (value.empty()) return UsageError("--truth needs a file name");
    parsed.truth_path = value;
    return Status::Ok();
  }
  return UsageError("unknown option " + name);
}

// Handles a flag without a value; false when `arg` is not one.
bool ApplyFlag(const std::string& arg, SynthArgs& parsed) {
  if (arg == "--help" || arg == "-h") {
    parsed.help = true;
  } else if (arg == "--random") {
    parsed.random = true;
  } else {
    return false;
  }
  return true;
}

Status AddOutput(const std::string& arg, SynthArgs& parsed) {
  if (!parsed.output_path.empty()) {
    return UsageError("more than one output file: " + parsed.output_path +
                      ", " + arg);
  }
  parsed.output_path = arg;
  return Status::Ok();
}

// Prints a double with the fewest digits that read back to the same value.
std::string ShortestDouble(double value) {
  char buffer[64];
  const auto [ptr, ec] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return ec == std::errc() ? std::string(buffer, ptr) : std::string("nan");
}

bool WriteTruth(const std::string& path,
                const SyntheticScan& scan,
                const SyntheticScanOptions& options) {
  std::ofstream file(path, std::ios::trunc);
  file << ToJsonLine(SyntheticTruthToJson(scan, options)) << '\n';
  file.flush();
  if (file) return true;
  spdlog::error("[synth] cannot write ground truth to {}", path);
  return false;
}

}  // namespace

Status ParseSynthArgs(const std::vector<std::string>& args, SynthArgs& parsed) {
  SplitArgs split;
  const Status s =
      SplitCommandLine(args, {"--help", "-h", "--random"},
                       {"--seed", "--size", "--fov-nm", "--truth"}, split);
  if (!s.ok()) return s;
  for (const std::string& flag : split.flags) ApplyFlag(flag, parsed);
  for (const std::string& arg : split.positional) {
    const Status added = AddOutput(arg, parsed);
    if (!added.ok()) return added;
  }
  for (const auto& [name, value] : split.values) {
    const Status applied = ApplyOption(name, value, parsed);
    if (!applied.ok()) return applied;
  }
  if (!parsed.help && parsed.output_path.empty()) {
    return UsageError("no output file (OUT.npy)");
  }
  return Status::Ok();
}

SyntheticScanOptions SynthOptionsFromArgs(const SynthArgs& args) {
  SyntheticScanOptions o = args.random ? RandomSyntheticScanOptions(args.seed)
                                       : ModeratelyDistortedScan(args.seed);
  o.seed = args.seed;
  if (args.size_px > 0) o.width_px = o.height_px = args.size_px;
  if (args.fov_nm > 0) o.field_of_view_nm = args.fov_nm;
  return o;
}

void PrintSynthHelp(std::ostream& out) {
  out << R"(Usage: anchord synth OUT.npy [options]

Writes a synthetic Si(111)-7x7 scan (2-D float32 .npy) with known ground truth
and prints its nominal pixel size as `pixel_size_nm=<value>`.

Options:
  --seed N          random seed (default 1); the same seed gives the same frame
  --size PX         frame width and height, px (default 512; >= 16)
  --fov-nm F        nominal frame width, nm (default 30); pixel size = F / PX
  --random          draw every distortion at random from the seed (rotation,
                    scale errors, shear, creep, noise, glitches, vacancies,
                    adsorbates, frame size); --size / --fov-nm still override
                    the frame size when given. Without --random the frame has
                    a moderate distortion: rotation 17 deg, scale errors
                    +8 % / -5 %, shear 0.05, 5 % vacancies, noise 0.1
  --truth OUT.json  write the ground truth: generator options, the true
                    image_from_model, adatoms {x_px, y_px, x_nm, y_nm, i, j,
                    half, kind, faulted, occupied} and corner holes
  -h, --help        show this help

Exit status: 0 on success, 1 when a file cannot be written, 2 on a usage error.
)";
}

int RunSynthCommand(const std::vector<std::string>& args) {
  constexpr CommandUsage kUsage{"synth", &PrintSynthHelp};
  SynthArgs parsed;
  const Status status = ParseSynthArgs(args, parsed);
  if (const std::optional<int> exit =
          FinishParsing(kUsage, status, parsed.help)) {
    return *exit;
  }
  const SyntheticScanOptions options = SynthOptionsFromArgs(parsed);
  if (const Status valid = options.Validate(); !valid.ok()) {
    return ReportUsageError(kUsage, valid);
  }
  const SyntheticScan scan = MakeSyntheticScan(options);
  const Status written = WriteNpy(parsed.output_path, scan.frame.image);
  if (!written.ok()) {
    spdlog::error("[synth] {}: {}", parsed.output_path, written.message());
    return kExitFailure;
  }
  if (!parsed.truth_path.empty() &&
      !WriteTruth(parsed.truth_path, scan, options)) {
    return kExitFailure;
  }
  std::cout << "pixel_size_nm=" << ShortestDouble(scan.frame.pixel_size_x_nm)
            << '\n';
  return kExitOk;
}

}  // namespace anchord::daemon
