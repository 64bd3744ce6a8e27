#include "daemon/offline/frame_input.h"

#include "anchord/io/image_io.h"

#include "daemon/common/cli_args.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <string_view>
#include <system_error>

namespace anchord::daemon {
namespace {

// A positive finite number written in full (no trailing characters).
bool ParsePositive(std::string_view text, double& value) {
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  return ec == std::errc() && ptr == end && std::isfinite(value) && value > 0;
}

}  // namespace

bool IsSxm(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(c));
  return ext == ".sxm";
}

Status ParsePixelSizeOption(const std::string& text, FrameInputArgs& args) {
  const std::string_view all(text);
  const size_t comma = all.find(',');
  const std::string_view x_text = all.substr(0, comma);
  const std::string_view y_text =
      comma == std::string_view::npos ? x_text : all.substr(comma + 1);
  if (!ParsePositive(x_text, args.pixel_size_x_nm) ||
      !ParsePositive(y_text, args.pixel_size_y_nm)) {
    return UsageError("--pixel-size-nm = '" + text +
                      "': expected a positive number S or SX,SY");
  }
  return Status::Ok();
}

Status ParseDirectionOption(const std::string& text, FrameInputArgs& args) {
  if (text == "forward") {
    args.trace = SxmTrace::kForward;
  } else if (text == "backward") {
    args.trace = SxmTrace::kBackward;
  } else {
    return UsageError("--direction = '" + text +
                      "': expected forward or backward");
  }
  return Status::Ok();
}

Status ParseChannelOption(const std::string& text, FrameInputArgs& args) {
  if (text.empty()) return UsageError("--channel needs a channel name");
  args.channel = text;
  return Status::Ok();
}

Status ReadInputFrame(const std::string& source,
                      const FrameInputArgs& args,
                      Frame& frame) {
  if (IsSxm(source)) {
    const SxmFile file = ReadSxm(source);
    const std::string channel =
        args.channel.empty() ? DefaultSxmChannel(file.header) : args.channel;
    const Status extracted = ExtractSxmFrame(file, channel, args.trace, &frame);
    if (!extracted.ok()) return extracted;
  } else {
    const ReadImageResult read = ReadImageFile(source);
    if (!read.status.ok()) return read.status;
    frame.image = read.image;
  }
  if (frame.image.empty()) {
    return Status::InvalidInput("the file holds an empty image");
  }
  if (args.pixel_size_x_nm > 0) {
    frame.pixel_size_x_nm = args.pixel_size_x_nm;
    frame.pixel_size_y_nm = args.pixel_size_y_nm;
  }
  frame.source = source;
  return Status::Ok();
}

}  // namespace anchord::daemon
