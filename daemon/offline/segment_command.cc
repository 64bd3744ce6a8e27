#include "daemon/offline/segment_command.h"

#include "anchord/io/image_io.h"
#include "anchord/preprocess/level.h"
#include "anchord/util/stopwatch.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/offline/frame_input.h"
#include "daemon/offline/overlay.h"
#include "daemon/offline/result_json.h"
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <exception>
#include <iostream>
#include <utility>
#include <vector>

namespace anchord::daemon {
namespace {

// Wall time per step, ms, in order.
using Laps = std::vector<std::pair<std::string, double>>;

Status ApplyOption(const std::string& name,
                   const std::string& value,
                   SegmentArgs& parsed) {
  if (name == "--pixel-size-nm") {
    if (!ParseNumber(value, parsed.pixel_size_nm) ||
        !(parsed.pixel_size_nm > 0)) {
      return UsageError("--pixel-size-nm = '" + value +
                        "': expected a positive number");
    }
    return Status::Ok();
  }
  if (name == "--classes") {
    if (!ParseNumber(value, parsed.classes) || parsed.classes < 0 ||
        parsed.classes > 16) {
      return UsageError("--classes = '" + value +
                        "': expected an integer in [0, 16] (0: chosen)");
    }
    return Status::Ok();
  }
  if (name == "--channel") {
    if (value.empty()) return UsageError("--channel needs a channel name");
    parsed.channel = value;
    return Status::Ok();
  }
  if (name == "--direction") {
    if (value == "forward") {
      parsed.trace = SxmTrace::kForward;
    } else if (value == "backward") {
      parsed.trace = SxmTrace::kBackward;
    } else {
      return UsageError("--direction = '" + value +
                        "': expected forward or backward");
    }
    return Status::Ok();
  }
  std::string* path = nullptr;
  if (name == "--labels") path = &parsed.labels_path;
  if (name == "--overlay") path = &parsed.overlay_path;
  if (name == "--json") path = &parsed.json_path;
  if (path == nullptr) return UsageError("unknown option " + name);
  if (value.empty()) return UsageError(name + " needs a file name");
  *path = value;
  return Status::Ok();
}

Json ResultJson(const std::string& source,
                const Frame& frame,
                double pixel_nm,
                const SegmentResult& r,
                const Laps& laps) {
  Json j;
  j["source"] = source;
  j["status"] = StatusCodeName(r.status.code());
  j["message"] = r.status.message();
  j["width"] = frame.image.cols;
  j["height"] = frame.image.rows;
  j["pixel_size_nm"] = JsonNumber(pixel_nm);
  Json classes = Json::array();
  for (const SegmentClass& c : r.classes) {
    classes.push_back({{"label", c.label},
                       {"area_fraction", JsonNumber(c.area_fraction)},
                       {"rotation_120_score", JsonNumber(c.rotation_120_score)},
                       {"rotation_90_score", JsonNumber(c.rotation_90_score)},
                       {"looks_7x7", c.looks_7x7}});
  }
  j["classes"] = classes;
  j["descriptor_length"] = r.descriptor_length;
  j["explained_variance"] = JsonNumber(r.explained_variance);
  Json timing = Json::object();
  for (const auto& [stage, ms] : laps) timing[stage] = JsonNumber(ms);
  j["timing_ms"] = timing;
  return j;
}

// The levelled frame as grey, each class tinted (a fixed palette; 7×7
// classes in cool colours, others in warm ones), boundaries white.
cv::Mat3b RenderSegmentOverlay(const cv::Mat1f& levelled,
                               const SegmentResult& r) {
  const int scale = OverlayUpscale(levelled.cols, levelled.rows);
  cv::Mat1b grey = NormaliseToGrey(levelled);
  cv::Mat3b out;
  cv::cvtColor(grey, out, cv::COLOR_GRAY2BGR);
  const cv::Vec3b cool[] = {
      {255, 128, 0}, {255, 255, 0}, {0, 200, 0}, {255, 0, 255}};
  const cv::Vec3b warm[] = {
      {0, 0, 255}, {0, 165, 255}, {0, 255, 255}, {128, 0, 128}};
  for (int y = 0; y < out.rows; ++y) {
    for (int x = 0; x < out.cols; ++x) {
      const int l = r.labels(y, x);
      if (l < 0 || l >= static_cast<int>(r.classes.size())) continue;
      const cv::Vec3b tint = r.classes[l].looks_7x7 ? cool[l % 4] : warm[l % 4];
      out(y, x) = 0.65 * out(y, x) + 0.35 * tint;
      const bool edge = (x + 1 < out.cols && r.labels(y, x + 1) != l) ||
                        (y + 1 < out.rows && r.labels(y + 1, x) != l);
      if (edge) out(y, x) = cv::Vec3b(255, 255, 255);
    }
  }
  if (scale != 1) {
    cv::resize(out, out, cv::Size(), scale, scale, cv::INTER_NEAREST);
  }
  return out;
}

bool WriteOutputs(const SegmentArgs& args,
                  const cv::Mat1f& levelled,
                  const SegmentResult& r) {
  bool ok = true;
  if (!args.labels_path.empty() && r.status.ok()) {
    const Status s = WriteNpy(args.labels_path, r.labels);
    if (!s.ok()) {
      spdlog::error("[segment] {}", s.message());
      ok = false;
    }
  }
  if (!args.overlay_path.empty() && r.status.ok()) {
    try {
      if (!cv::imwrite(args.overlay_path, RenderSegmentOverlay(levelled, r))) {
        spdlog::error("[segment] cannot write overlay {}", args.overlay_path);
        ok = false;
      }
    } catch (const cv::Exception& e) {
      spdlog::error("[segment] cannot write overlay {}: {}", args.overlay_path,
                    e.what());
      ok = false;
    }
  }
  return ok;
}

bool WriteJson(const SegmentArgs& args, const Json& json) {
  if (AppendJsonLine(args.json_path, json)) return true;
  spdlog::error("[segment] cannot write JSON to {}", args.json_path);
  return false;
}

int Run(const SegmentArgs& args) {
  Stopwatch total;
  Stopwatch watch;
  Laps laps;
  Frame frame;
  FrameInputArgs input;
  input.channel = args.channel;
  input.trace = args.trace;
  input.pixel_size_x_nm = input.pixel_size_y_nm = args.pixel_size_nm;
  const Status read = ReadInputFrame(args.input, input, frame);
  if (!read.ok()) {
    spdlog::warn("[segment] {}: {}", args.input, read.message());
    SegmentResult failed;
    failed.status = read;
    laps.emplace_back("total", total.Lap());
    WriteJson(args, ResultJson(args.input, frame, 0, failed, laps));
    return kExitFailure;
  }
  const double pixel_nm =
      std::sqrt(frame.pixel_size_x_nm * frame.pixel_size_y_nm);
  const LevelResult level = Level(frame.image, LevelOptions());
  laps.emplace_back("level", watch.Lap());
  SegmentResult r;
  if (!level.status.ok()) {
    r.status = level.status;
  } else {
    SegmentOptions o;
    o.pixel_size_nm = pixel_nm;
    o.classes = args.classes;
    r = SegmentFrame(level.image, o);
    laps.emplace_back("segment", watch.Lap());
  }
  if (!r.status.ok()) {
    spdlog::warn("[segment] {}: {}", args.input, r.status.message());
  }
  const bool outputs_ok = WriteOutputs(args, level.image, r);
  laps.emplace_back("total", total.Lap());
  const bool json_ok =
      WriteJson(args, ResultJson(args.input, frame, pixel_nm, r, laps));
  return outputs_ok && json_ok ? kExitOk : kExitFailure;
}

}  // namespace

Status ParseSegmentArgs(const std::vector<std::string>& args,
                        SegmentArgs& parsed) {
  SplitArgs split;
  const Status s =
      SplitCommandLine(args, {"--help", "-h"},
                       {"--pixel-size-nm", "--classes", "--channel",
                        "--direction", "--labels", "--overlay", "--json"},
                       split);
  if (!s.ok()) return s;
  parsed.help = !split.flags.empty();
  for (const auto& [name, value] : split.values) {
    const Status applied = ApplyOption(name, value, parsed);
    if (!applied.ok()) return applied;
  }
  if (parsed.help) return Status::Ok();
  if (split.positional.size() != 1) {
    return UsageError("expected exactly one input file");
  }
  parsed.input = split.positional[0];
  if (parsed.pixel_size_nm <= 0 && !IsSxm(parsed.input)) {
    return UsageError(
        "--pixel-size-nm is required (nm per raw pixel) for inputs other "
        "than .sxm");
  }
  return Status::Ok();
}

void PrintSegmentHelp(std::ostream& out) {
  out << R"(Usage: anchord segment FILE [--pixel-size-nm S] [options]

Segments one frame without training by symmetry descriptors (Wang,
Freysoldt and Liebscher): translation, rotation and reflection scores of
local patches, max-pooled, PCA, k-means, on a strided grid brought back to
every pixel. Reports the classes, their areas and which look like 7x7.

Inputs: Nanonis .sxm (carries its pixel size); .npy, .tif/.tiff, .png.

Options:
  --pixel-size-nm S        nominal size of one raw pixel, nm (required
                           except for .sxm, where it overrides the header)
  --classes K              number of classes, 1-16; 0 or absent: chosen
                           (classes are added while each leaves at most
                           0.55 of the k-means inertia of one class fewer)
  --channel NAME           .sxm channel (default Z)
  --direction forward|backward
                           .sxm trace (default forward)
  --labels OUT.npy         the H x W label map, int32 (-1: not finite)
  --overlay OUT.png        the levelled frame with the classes tinted (7x7
                           classes blue/cyan/green/magenta, others
                           red/orange/yellow/purple), boundaries white
  --json OUT               append the JSON line to OUT instead of stdout
  -h, --help               show this help

Output: one JSON line with source, status, message, width, height,
pixel_size_nm, classes [{label, area_fraction, rotation_120_score,
rotation_90_score, looks_7x7}], descriptor_length, explained_variance,
timing_ms {level, segment, total}.

Exit status: 0 when the input was processed (whatever its status), 1 when
it could not be read or an output could not be written, 2 on a usage error.
)";
}

int RunSegmentCommand(const std::vector<std::string>& args) {
  SegmentArgs parsed;
  const Status status = ParseSegmentArgs(args, parsed);
  if (const std::optional<int> exit =
          FinishParsing({"segment", &PrintSegmentHelp}, status, parsed.help)) {
    return *exit;
  }
  return Run(parsed);
}

}  // namespace anchord::daemon
