#include "daemon/offline/align_command.h"

#include "anchord/align/align_frames.h"
#include "anchord/io/image_io.h"
#include "anchord/util/stopwatch.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/offline/overlay.h"
#include "daemon/offline/result_json.h"
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>

#include <cmath>
#include <iostream>
#include <limits>

namespace anchord::daemon {
namespace {

Status ApplyOption(const std::string& name,
                   const std::string& value,
                   AlignArgs& parsed) {
  if (name == "--pixel-size-nm") {
    return ParsePixelSizeOption(value, parsed.input);
  }
  if (name == "--direction") return ParseDirectionOption(value, parsed.input);
  if (name == "--channel") return ParseChannelOption(value, parsed.input);
  std::string* path = nullptr;
  if (name == "--json") path = &parsed.json_path;
  if (name == "--field") path = &parsed.field_path;
  if (name == "--warped") path = &parsed.warped_path;
  if (name == "--overlay") path = &parsed.overlay_path;
  if (path == nullptr) return UsageError("unknown option " + name);
  if (value.empty()) return UsageError(name + " needs a file name");
  *path = value;
  return Status::Ok();
}

Json Pair(const Vec2& v) {
  return Json::array({JsonNumber(v.x()), JsonNumber(v.y())});
}

double FieldMax(const cv::Mat2f& field, const Vec2& translation) {
  double worst = 0;
  for (int y = 0; y < field.rows; ++y) {
    for (int x = 0; x < field.cols; ++x) {
      const cv::Vec2f f = field(y, x);
      worst = std::max(
          worst, std::hypot(f[0] - translation.x(), f[1] - translation.y()));
    }
  }
  return worst;
}

Json AlignResultToJson(const AlignArgs& args,
                       const Frame& fixed,
                       const Frame& moving,
                       const AlignResult& r) {
  const bool ok = r.status == AlignStatus::kOk;
  Json j;
  j["fixed"] = args.fixed_path;
  j["moving"] = args.moving_path;
  j["status"] = AlignStatusName(r.status);
  j["message"] = r.message;
  j["width"] = fixed.image.cols;
  j["height"] = fixed.image.rows;
  j["translation_px"] = ok ? Pair(r.translation_px) : Json(nullptr);
  const bool has_nm = fixed.pixel_size_x_nm > 0 && fixed.pixel_size_y_nm > 0;
  j["translation_nm"] =
      ok && has_nm ? Pair(Vec2(r.translation_px.x() * fixed.pixel_size_x_nm,
                               r.translation_px.y() * fixed.pixel_size_y_nm))
                   : Json(nullptr);
  const bool has_times =
      fixed.acquired_unix_s > 0 && moving.acquired_unix_s > 0;
  j["dt_s"] = has_times
                  ? JsonNumber(moving.acquired_unix_s - fixed.acquired_unix_s)
                  : Json(nullptr);
  Json affine = Json::array();
  if (ok) {
    for (int row = 0; row < 2; ++row) {
      for (int col = 0; col < 3; ++col)
        affine.push_back(JsonNumber(r.affine(row, col)));
    }
  }
  j["affine"] = ok ? affine : Json(nullptr);
  j["coarse"] = {{"shift_px", Pair(r.coarse_shift_px)},
                 {"response", JsonNumber(r.coarse_response)}};
  j["matches"] = {{"patch", r.patch_matches},
                  {"keypoint", r.keypoint_matches},
                  {"after_isolation_forest", r.after_isolation_forest},
                  {"inliers", r.inliers}};
  j["overlap_fraction"] = JsonNumber(r.overlap_fraction);
  j["residual_px"] = ok ? JsonNumber(r.residual_px) : Json(nullptr);
  j["affine_residual_px"] =
      ok ? JsonNumber(r.affine_residual_px) : Json(nullptr);
  j["field_max_px"] = ok && !r.field.empty()
                          ? JsonNumber(FieldMax(r.field, r.translation_px))
                          : Json(nullptr);
  j["timing_ms"] = {
      {"level", r.timings.level_ms}, {"coarse", r.timings.coarse_ms},
      {"match", r.timings.match_ms}, {"outliers", r.timings.outliers_ms},
      {"field", r.timings.field_ms}, {"total", r.timings.total_ms}};
  return j;
}

// The moving frame resampled onto the fixed one through the field.
cv::Mat1f Warped(const Frame& moving, const cv::Mat2f& field) {
  cv::Mat1f map_x(field.size()), map_y(field.size());
  for (int y = 0; y < field.rows; ++y) {
    for (int x = 0; x < field.cols; ++x) {
      map_x(y, x) = static_cast<float>(x) + field(y, x)[0];
      map_y(y, x) = static_cast<float>(y) + field(y, x)[1];
    }
  }
  cv::Mat1f out;
  cv::remap(moving.image, out, map_x, map_y, cv::INTER_LINEAR,
            cv::BORDER_CONSTANT,
            cv::Scalar(std::numeric_limits<float>::quiet_NaN()));
  return out;
}

// The fixed frame (levelled, grey, upscaled) with each match drawn from its
// fixed position along its displacement minus the translation, magnified
// so the largest inlier arrow is ~6 % of the frame: inliers green,
// isolation-forest outliers red, local-affine outliers orange. The
// magnification is printed in the corner.
cv::Mat3b RenderAlignOverlay(const Frame& fixed, const AlignResult& r) {
  const LevelResult levelled = Level(fixed.image, LevelOptions{});
  const cv::Mat1f base = levelled.status.ok() ? levelled.image : fixed.image;
  const int scale = OverlayUpscale(base.cols, base.rows);
  cv::Mat1b grey;
  cv::resize(NormaliseToGrey(base), grey, cv::Size(), scale, scale,
             cv::INTER_NEAREST);
  cv::Mat3b out;
  cv::cvtColor(grey, out, cv::COLOR_GRAY2BGR);
  double longest = 0;
  for (const AlignMatch& m : r.matches) {
    if (m.fate != MatchFate::kInlier) continue;
    longest =
        std::max(longest, (m.moving_px - m.fixed_px - r.translation_px).norm());
  }
  const double gain =
      longest > 0 ? std::clamp(0.06 * base.cols / longest, 1.0, 100.0) : 1.0;
  for (const AlignMatch& m : r.matches) {
    const cv::Scalar colour =
        m.fate == MatchFate::kInlier            ? cv::Scalar(0, 200, 0)
        : m.fate == MatchFate::kIsolationForest ? cv::Scalar(0, 0, 255)
                                                : cv::Scalar(0, 140, 255);
    const Vec2 from = m.fixed_px * scale;
    Vec2 to =
        (m.fixed_px + gain * (m.moving_px - m.fixed_px - r.translation_px)) *
        scale;
    to = to.cwiseMax(Vec2(-1e4, -1e4)).cwiseMin(Vec2(1e5, 1e5));
    cv::arrowedLine(
        out, cv::Point(static_cast<int>(from.x()), static_cast<int>(from.y())),
        cv::Point(static_cast<int>(to.x()), static_cast<int>(to.y())), colour,
        1, cv::LINE_AA, 0, 0.2);
  }
  char text[160];
  std::snprintf(text, sizeof text,
                "%s  t = (%.2f, %.2f) px  arrows x%.0f  %d/%zu inliers",
                AlignStatusName(r.status), r.translation_px.x(),
                r.translation_px.y(), gain, r.inliers, r.matches.size());
  cv::putText(out, text, cv::Point(8, 20), cv::FONT_HERSHEY_SIMPLEX, 0.5,
              cv::Scalar(255, 255, 0), 1, cv::LINE_AA);
  return out;
}

// Writes the requested files; false when one could not be written.
bool WriteOutputs(const AlignArgs& args,
                  const Frame& fixed,
                  const Frame& moving,
                  const AlignResult& r) {
  bool ok = true;
  const bool have_field = r.status == AlignStatus::kOk && !r.field.empty();
  auto report = [&](const Status& s) {
    if (s.ok()) return;
    spdlog::error("[align] {}", s.message());
    ok = false;
  };
  if (!args.field_path.empty()) {
    if (have_field) {
      report(WriteNpy(args.field_path, r.field));
    } else {
      spdlog::warn("[align] no field to write: {}", r.message);
    }
  }
  if (!args.warped_path.empty()) {
    if (have_field) {
      report(WriteFloatTiff(args.warped_path, Warped(moving, r.field)));
    } else {
      spdlog::warn("[align] no warped frame to write: {}", r.message);
    }
  }
  if (!args.overlay_path.empty()) {
    try {
      if (!cv::imwrite(args.overlay_path, RenderAlignOverlay(fixed, r))) {
        report(Status::Internal("cannot write overlay " + args.overlay_path));
      }
    } catch (const cv::Exception& e) {
      report(Status::Internal("cannot write overlay " + args.overlay_path +
                              ": " + e.what()));
    }
  }
  return ok;
}

bool WriteJson(const std::string& path, const Json& json) {
  if (AppendJsonLine(path, json)) return true;
  spdlog::error("[align] cannot write JSON to {}", path);
  return false;
}

int Run(const AlignArgs& args) {
  Frame fixed, moving;
  for (const auto& [path, frame] : {std::pair{&args.fixed_path, &fixed},
                                    std::pair{&args.moving_path, &moving}}) {
    const Status read = ReadInputFrame(*path, args.input, *frame);
    if (!read.ok()) {
      spdlog::error("[align] {}: {}", *path, read.message());
      AlignResult failed;
      failed.message = *path + ": " + read.message();
      WriteJson(args.json_path, AlignResultToJson(args, fixed, moving, failed));
      return kExitFailure;
    }
  }
  const AlignResult r = AlignFrames(fixed, moving, AlignOptions{});
  if (r.status != AlignStatus::kOk) {
    spdlog::warn("[align] {}: {}", AlignStatusName(r.status), r.message);
  }
  const bool outputs_ok = WriteOutputs(args, fixed, moving, r);
  const bool json_ok =
      WriteJson(args.json_path, AlignResultToJson(args, fixed, moving, r));
  return outputs_ok && json_ok ? kExitOk : kExitFailure;
}

}  // namespace

Status ParseAlignArgs(const std::vector<std::string>& args, AlignArgs& parsed) {
  SplitArgs split;
  const Status s =
      SplitCommandLine(args, {"--help", "-h"},
                       {"--pixel-size-nm", "--direction", "--channel", "--json",
                        "--field", "--warped", "--overlay"},
                       split);
  if (!s.ok()) return s;
  parsed.help = !split.flags.empty();
  for (const auto& [name, value] : split.values) {
    const Status applied = ApplyOption(name, value, parsed);
    if (!applied.ok()) return applied;
  }
  if (parsed.help) return Status::Ok();
  if (split.positional.size() != 2) {
    return UsageError("expected two inputs, FIXED and MOVING; got " +
                      std::to_string(split.positional.size()));
  }
  parsed.fixed_path = split.positional[0];
  parsed.moving_path = split.positional[1];
  if (parsed.input.pixel_size_x_nm <= 0 &&
      (!IsSxm(parsed.fixed_path) || !IsSxm(parsed.moving_path))) {
    return UsageError(
        "--pixel-size-nm is required (nm per raw pixel) for inputs other "
        "than .sxm");
  }
  return Status::Ok();
}

void PrintAlignHelp(std::ostream& out) {
  out << R"(Usage: anchord align FIXED MOVING [--pixel-size-nm S|SX,SY] [options]

Aligns MOVING to FIXED without a lattice: phase correlation for the coarse
shift, patch correlation and ORB keypoints for dense matches, outliers
rejected by an isolation forest on the displacements and by the affine of
each match's Delaunay neighbours, then a smooth displacement field (thin-
plate spline). Works on grainy, lattice-less and large-window frames.

Convention: a feature at pixel p of FIXED is at pixel p + translation_px
(or p + field(p)) of MOVING; pixels in the canonical orientation (x =
column, y = row, row 0 at the top).

Inputs as for `anchord register`: .sxm, .npy, .tif/.tiff, .png; both of one
size and pixel size.

Options:
  --pixel-size-nm S | SX,SY  nominal size of one raw pixel, nm (required
                             except for .sxm, where it overrides the header)
  --channel NAME             .sxm channel (default Z)
  --direction forward|backward
                             .sxm trace (default forward)
  --json OUT                 append the JSON line to OUT instead of stdout
  --field OUT.npy            the displacement field, H x W x 2 float32 (x, y)
  --warped OUT.tiff          MOVING resampled onto FIXED (float32, NaN outside)
  --overlay OUT.png          FIXED with each match's displacement minus the
                             translation (magnified; inliers green, isolation
                             forest outliers red, local affine outliers orange)
  -h, --help                 show this help

Output: one JSON object with the keys fixed, moving, status (ok |
no_overlap | invalid_input), message, width, height, translation_px,
translation_nm, dt_s, affine (2x3 row-major), coarse {shift_px, response},
matches {patch, keypoint, after_isolation_forest, inliers},
overlap_fraction, residual_px, affine_residual_px, field_max_px (largest
|field - translation|), timing_ms. Non-finite numbers are null.

Exit status: 0 when the pair was processed (whatever its status), 1 when an
input could not be read or an output could not be written, 2 on a usage
error.
)";
}

int RunAlignCommand(const std::vector<std::string>& args) {
  AlignArgs parsed;
  const Status status = ParseAlignArgs(args, parsed);
  if (const std::optional<int> exit =
          FinishParsing({"align", &PrintAlignHelp}, status, parsed.help)) {
    return *exit;
  }
  return Run(parsed);
}

}  // namespace anchord::daemon
