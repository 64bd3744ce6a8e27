// libFuzzer target for the frame decoder: DecodeFrame (protobuf parse and
// every validation of anchord.v1.Frame) on the input with the default
// limits. A frame that decodes must meet the limits it was checked
// against, and encode back to a message that decodes to the same image.

#include "daemon/wire/wire.h"
#include "fuzz_check.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

using anchord::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const anchord::daemon::FrameLimits limits;
  anchord::daemon::InboundFrame in;
  const anchord::Status s = anchord::daemon::DecodeFrame(bytes, limits, &in);
  Check(anchord::fuzz::IsLoggable(s.message()), "printable message");
  if (!s.ok()) return 0;
  const anchord::Frame& f = in.frame;
  Check(
      f.image.rows >= limits.min_side_px && f.image.rows <= limits.max_side_px,
      "rows within limits");
  Check(
      f.image.cols >= limits.min_side_px && f.image.cols <= limits.max_side_px,
      "cols within limits");
  Check(std::isfinite(f.pixel_size_x_nm) && f.pixel_size_x_nm > 0,
        "pixel size positive");
  Check(std::isfinite(f.line_time_s) && f.line_time_s >= 0, "line time");
  Check(std::isfinite(f.acquired_unix_s), "acquisition time finite");
  anchord::daemon::InboundFrame back;
  const anchord::Status again = anchord::daemon::DecodeFrame(
      anchord::daemon::EncodeFrame(in), limits, &back);
  Check(again.ok(), "a decoded frame re-encodes to a valid message");
  Check(back.frame.image.size() == f.image.size(), "round trip keeps size");
  return 0;
}
