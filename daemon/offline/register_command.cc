#include "daemon/offline/register_command.h"

#include "anchord/io/image_io.h"
#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/util/frame.h"
#include "anchord/util/stopwatch.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/offline/frame_input.h"
#include "daemon/offline/overlay.h"
#include "daemon/offline/result_json.h"
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace anchord::daemon {
namespace {

Status ParseDetector(const std::string& text, RegisterArgs& parsed) {
  const std::optional<DetectorKind> kind = ParseDetectorKind(text);
  if (!kind)
    return UsageError("--detector = '" + text + "': expected fast or sift");
  parsed.detector = *kind;
  return Status::Ok();
}

// Stores the value of option `name`; kInvalidInput for an unknown option
// or a bad value.
Status ApplyOption(const std::string& name,
                   const std::string& value,
                   RegisterArgs& parsed) {
  if (name == "--pixel-size-nm") {
    return ParsePixelSizeOption(value, parsed.input);
  }
  if (name == "--detector") return ParseDetector(value, parsed);
  if (name == "--direction") return ParseDirectionOption(value, parsed.input);
  if (name == "--channel") return ParseChannelOption(value, parsed.input);
  std::string* path = nullptr;
  if (name == "--json") path = &parsed.json_path;
  if (name == "--corrected") path = &parsed.corrected_path;
  if (name == "--overlay") path = &parsed.overlay_path;
  if (path == nullptr) return UsageError("unknown option " + name);
  if (value.empty()) return UsageError(name + " needs a file name");
  *path = value;
  return Status::Ok();
}

Status CheckComplete(const RegisterArgs& parsed) {
  if (parsed.inputs.empty()) return UsageError("no input files");
  const bool all_sxm =
      std::all_of(parsed.inputs.begin(), parsed.inputs.end(), IsSxm);
  if (parsed.input.pixel_size_x_nm <= 0 && !all_sxm) {
    return UsageError(
        "--pixel-size-nm is required (nm per raw pixel) for inputs other "
        "than .sxm");
  }
  return Status::Ok();
}

// Where the JSON lines of one input go: stdout, or a file opened for
// appending.
class JsonSink {
 public:
  explicit JsonSink(const std::string& path) : path_(path) {
    if (!path_.empty()) file_.open(path_, std::ios::app);
  }
  // Writes one line and flushes it; false when the file cannot be written.
  bool Write(const Json& json) {
    std::ostream& out = path_.empty() ? std::cout : file_;
    out << ToJsonLine(json) << '\n' << std::flush;
    if (out) return true;
    spdlog::error("[register] cannot write JSON to {}", path_);
    return false;
  }

 private:
  std::string path_;
  std::ofstream file_;
};

// Everything `anchord register` needs for each input.
struct RegisterContext {
  const RegisterArgs& args;
  LatticeModel model;
  PipelineOptions options;
};

// Writes the corrected frame of input `index` when --corrected was given;
// false when the file could not be written. A frame without a corrected
// image (not registered) is only warned about.
bool WriteCorrectedOutput(const RegisterContext& context,
                          int index,
                          const FrameResult& result) {
  const RegisterArgs& args = context.args;
  if (args.corrected_path.empty()) return true;
  const std::string& source = args.inputs[index];
  if (!result.status.ok() || result.corrected.image.empty()) {
    spdlog::warn("[register] {}: no corrected frame to write{}", source,
                 result.status.ok() ? ": " + result.corrected.status.message()
                                    : std::string());
    return true;
  }
  const std::string path = IndexedOutputPath(
      args.corrected_path, index, static_cast<int>(args.inputs.size()));
  const Status written = WriteFloatTiff(path, result.corrected.image);
  if (written.ok()) return true;
  spdlog::error("[register] {}: {}", source, written.message());
  return false;
}

// Writes the overlay of input `index` when --overlay was given; false when
// the file could not be written.
bool WriteOverlayOutput(const RegisterContext& context,
                        int index,
                        const FrameResult& result) {
  const RegisterArgs& args = context.args;
  if (args.overlay_path.empty()) return true;
  const std::string& source = args.inputs[index];
  if (result.levelled.empty()) {
    spdlog::warn("[register] {}: no levelled frame to draw an overlay on",
                 source);
    return true;
  }
  const std::string path = IndexedOutputPath(
      args.overlay_path, index, static_cast<int>(args.inputs.size()));
  const Status written = WriteOverlay(path, result, context.model);
  if (written.ok()) return true;
  spdlog::error("[register] {}: {}", source, written.message());
  return false;
}

// Reads, registers and reports input `index`; false when it could not be
// read or one of its outputs could not be written.
bool ProcessInput(const RegisterContext& context, int index, JsonSink& sink) {
  const std::string& source = context.args.inputs[index];
  Stopwatch stopwatch;
  Frame frame;
  const Status read = ReadInputFrame(source, context.args.input, frame);
  if (!read.ok()) {
    spdlog::warn("[register] {}: {}", source, read.message());
    sink.Write(InputErrorJson(source, read, stopwatch.Lap()));
    return false;
  }
  const FrameResult result =
      RegisterFrame(frame, context.model, context.options);
  if (!result.status.ok()) {
    spdlog::warn("[register] {}: {}: {}", source,
                 StatusCodeName(result.status.code()), result.status.message());
  }
  const bool corrected_ok = WriteCorrectedOutput(context, index, result);
  const bool overlay_ok = WriteOverlayOutput(context, index, result);
  const bool json_ok =
      sink.Write(FrameResultToJson(frame, result, context.model));
  return corrected_ok && overlay_ok && json_ok;
}

// ProcessInput with a last-resort catch, so that one input never stops
// the others.
bool ProcessInputSafely(const RegisterContext& context, int index) {
  const int count = static_cast<int>(context.args.inputs.size());
  const std::string json_path =
      context.args.json_path.empty()
          ? std::string()
          : IndexedOutputPath(context.args.json_path, index, count);
  JsonSink sink(json_path);
  try {
    return ProcessInput(context, index, sink);
  } catch (const std::exception& e) {
    const std::string& source = context.args.inputs[index];
    spdlog::error("[register] {}: {}", source, e.what());
    sink.Write(InputErrorJson(source, Status::Internal(e.what()), 0));
    return false;
  }
}

}  // namespace

Status ParseRegisterArgs(const std::vector<std::string>& args,
                         RegisterArgs& parsed) {
  SplitArgs split;
  const Status s =
      SplitCommandLine(args, {"--help", "-h"},
                       {"--pixel-size-nm", "--detector", "--direction",
                        "--channel", "--json", "--corrected", "--overlay"},
                       split);
  if (!s.ok()) return s;
  parsed.help = !split.flags.empty();
  parsed.inputs = split.positional;
  for (const auto& [name, value] : split.values) {
    const Status applied = ApplyOption(name, value, parsed);
    if (!applied.ok()) return applied;
  }
  return parsed.help ? Status::Ok() : CheckComplete(parsed);
}

std::string IndexedOutputPath(const std::string& path, int index, int count) {
  if (count <= 1) return path;
  const std::filesystem::path p(path);
  const std::string name = p.stem().string() + "-" + std::to_string(index + 1) +
                           p.extension().string();
  return (p.parent_path() / name).string();
}

void PrintRegisterHelp(std::ostream& out) {
  out << R"(Usage: anchord register INPUT... [--pixel-size-nm S|SX,SY] [options]

Registers scan frames against the Si(111)-7x7 lattice model and reports, per
input, the homography image_from_model, lattice residuals, scanner
calibration, corner holes, adatoms and vacancies.

Inputs: Nanonis .sxm; .npy (2-D float32/float64), .tif/.tiff (float32,
8/16-bit grey), .png (8/16-bit), rows top to bottom, columns left to right.
.sxm frames are brought to the canonical orientation (backward traces
mirrored, upward scans flipped) and carry their pixel size; a current
channel recorded under current feedback is registered on its integral
along the fast axis.

Options:
  --pixel-size-nm S | SX,SY  nominal size of one raw pixel, nm (required
                             except for .sxm, where it overrides the
                             header); SX,SY sets x (columns) and y (rows)
  --channel NAME             .sxm channel (default Z, or for a constant-
                             height scan, Z controller off, its signal
                             channel such as Current; e.g. Current)
  --direction forward|backward
                             .sxm trace (default forward)
  --detector fast|sift       corner-hole candidate detector (default fast)
  --json OUT                 append the JSON lines to OUT instead of stdout
  --corrected OUT.tiff       write the frame resampled on the absolute model
                             grid as a 32-bit float TIFF (NaN outside)
  --overlay OUT.png          draw the registration on the levelled frame:
                             corner holes (cyan; dashed when not detected),
                             occupied adatoms (green), vacancies (red),
                             lattice vectors a1 (red) and a2 (blue)
  -h, --help                 show this help

With more than one input, the --json, --corrected and --overlay file names
get the 1-based input index before the extension: out.png -> out-1.png,
out-2.png, ...

Output: one JSON object per input, one per line, with the keys source,
status (ok | no_lattice | invalid_input | internal_error), message, width,
height, scanned {row_begin, row_end, fraction} (the rows registered: a scan
stopped early leaves the others NaN), image_from_model (row-major 3x3, model nm -> raw px, or null),
lattice {residual_rms_px, residual_rms_nm, inliers, a1_px, a2_px},
calibration {scale_x, scale_y, nonorthogonality_deg, rotation_deg},
corner_holes [{x_px, y_px, x_nm, y_nm, i, j, detected}],
adatoms [{x_px, y_px, x_nm, y_nm, i, j, half, kind, code_index, faulted,
occupied, confidence}], vacancies, faulted_contrast, corrected {width,
height, pixel_nm, x0_nm, y0_nm} (the corrected grid: column u, row v show
model point (x0_nm + u pixel_nm, y0_nm - v pixel_nm)), candidates,
voted_candidates, timing_ms {<stage>: ms, ..., total}. Geometry is null or
empty unless status is ok; non-finite numbers are written as null.

Exit status: 0 when every input was processed (whatever its status),
1 when an input could not be read or an output could not be written,
2 on a usage error.
)";
}

int RunRegisterCommand(const std::vector<std::string>& args) {
  RegisterArgs parsed;
  const Status status = ParseRegisterArgs(args, parsed);
  if (const std::optional<int> exit = FinishParsing(
          {"register", &PrintRegisterHelp}, status, parsed.help)) {
    return *exit;
  }
  RegisterContext context{parsed, MakeSi7x7Model(), PipelineOptions()};
  context.options.detect.kind = parsed.detector;
  bool all_ok = true;
  for (int i = 0; i < static_cast<int>(parsed.inputs.size()); ++i) {
    all_ok = ProcessInputSafely(context, i) && all_ok;
  }
  return all_ok ? kExitOk : kExitFailure;
}

}  // namespace anchord::daemon
