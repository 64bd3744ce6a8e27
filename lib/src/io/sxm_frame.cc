// Frames out of a parsed .sxm file: one channel and trace in canonical
// orientation with its geometry and line times (see anchord/io/sxm.h).

#include "anchord/io/sxm.h"

#include "sxm_internal.h"
#include <opencv2/core.hpp>

#include <string>
#include <utility>
#include <vector>

namespace anchord {
namespace {

using sxm_internal::Guarded;
using sxm_internal::Invalid;
using sxm_internal::Lower;
using sxm_internal::Quote;

// The image of `channel` (exact name first, then ignoring case) in `trace`.
const SxmImage* FindImage(const SxmFile& file,
                          const std::string& channel,
                          SxmTrace trace) {
  for (bool exact : {true, false}) {
    for (const SxmImage& image : file.images) {
      const bool name_matches = exact ? image.channel == channel
                                      : Lower(image.channel) == Lower(channel);
      if (name_matches && image.trace == trace) return &image;
    }
  }
  return nullptr;
}

// Start of the trace of each canonical row, s after the frame started.
std::vector<double> LineTimes(const SxmHeader& h, SxmTrace trace) {
  const double period = h.line_time_forward_s + h.line_time_backward_s;
  if (!(period > 0)) return {};
  const double trace_start =
      trace == SxmTrace::kBackward ? h.line_time_forward_s : 0.0;
  std::vector<double> times(static_cast<size_t>(h.rows));
  for (int r = 0; r < h.rows; ++r) {
    const int order = h.scan_dir == "up" ? h.rows - 1 - r : r;
    times[static_cast<size_t>(r)] = order * period + trace_start;
  }
  return times;
}

// The stored image in canonical orientation (a new buffer).
cv::Mat1f Canonical(const cv::Mat1f& stored,
                    const SxmHeader& h,
                    SxmTrace trace) {
  const bool mirror = trace == SxmTrace::kBackward;
  const bool flip = h.scan_dir == "up";
  if (!mirror && !flip) return stored.clone();
  cv::Mat1f out;
  cv::flip(stored, out, mirror && flip ? -1 : (mirror ? 1 : 0));
  return out;
}

// True when `channel` is the quantity the Z controller holds constant while
// the loop is on (Z-CONTROLLER "Name" such as "log Current", "on" = 1):
// then its image is the loop's error signal.
bool IsFeedbackError(const SxmHeader& h, const std::string& channel) {
  const auto name = h.z_controller.find("Name");
  const auto on = h.z_controller.find("on");
  if (name == h.z_controller.end() || on == h.z_controller.end()) return false;
  if (on->second != "1") return false;
  return !channel.empty() &&
         Lower(name->second).find(Lower(channel)) != std::string::npos;
}

Status BuildFrame(const SxmFile& file,
                  const std::string& channel,
                  SxmTrace trace,
                  Frame* out) {
  if (!file.status.ok()) return file.status;
  const SxmImage* image = FindImage(file, channel, trace);
  if (image == nullptr) {
    return Invalid("no " + std::string(SxmTraceName(trace)) +
                   " image of channel " + Quote(channel) +
                   "; available: " + SxmImageList(file));
  }
  const SxmHeader& h = file.header;
  if (image->stored.rows != h.rows || image->stored.cols != h.cols) {
    return Invalid("image of channel " + Quote(image->channel) + " is " +
                   std::to_string(image->stored.cols) + "x" +
                   std::to_string(image->stored.rows) + ", SCAN_PIXELS " +
                   std::to_string(h.cols) + "x" + std::to_string(h.rows));
  }
  Frame frame;
  frame.image = Canonical(image->stored, h, trace);
  frame.pixel_size_x_nm = h.range_x_nm / h.cols;
  frame.pixel_size_y_nm = h.range_y_nm / h.rows;
  frame.source = file.source;
  frame.channel = image->channel;
  frame.scan_angle_deg = h.angle_deg;
  frame.scan_offset_x_nm = h.offset_x_nm;
  frame.scan_offset_y_nm = h.offset_y_nm;
  frame.line_times_s = LineTimes(h, trace);
  frame.line_time_s = frame.line_times_s.empty()
                          ? 0.0
                          : h.line_time_forward_s + h.line_time_backward_s;
  frame.bias_v = h.bias_v;
  frame.direction = SxmTraceName(trace);
  frame.acquired_at = h.acquired_at;
  frame.feedback_error = IsFeedbackError(h, image->channel);
  *out = std::move(frame);
  return Status::Ok();
}

}  // namespace

const char* SxmTraceName(SxmTrace trace) {
  return trace == SxmTrace::kBackward ? "backward" : "forward";
}

std::string SxmImageList(const SxmFile& file) {
  std::string list;
  for (const SxmImage& image : file.images) {
    if (!list.empty()) list += ", ";
    list += image.channel + " " + SxmTraceName(image.trace);
  }
  return list.empty() ? "(none)" : list;
}

Status ExtractSxmFrame(const SxmFile& file,
                       const std::string& channel,
                       SxmTrace trace,
                       Frame* out) {
  return Guarded("extracting a frame",
                 [&] { return BuildFrame(file, channel, trace, out); });
}

}  // namespace anchord
