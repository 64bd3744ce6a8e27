// libFuzzer target for the Nanonis .sxm reader: ParseSxm on the input and,
// when it parses, ExtractSxmFrame on every image it lists. Besides the
// sanitizers' findings it aborts when a contract of anchord/io/sxm.h is
// broken (see Check below).

#include "anchord/io/sxm.h"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

// Aborts with `what` when `ok` is false, so that libFuzzer records a crash.
void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "sxm_fuzz: contract broken: %s\n", what);
    std::abort();
  }
}

// A message is non-empty printable ASCII starting "sxm: ".
bool IsCleanMessage(const std::string& m) {
  if (m.rfind("sxm: ", 0) != 0) return false;
  for (char c : m) {
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return true;
}

void CheckFrame(const anchord::SxmFile& file, const anchord::SxmImage& image) {
  anchord::Frame frame;
  const anchord::Status s =
      anchord::ExtractSxmFrame(file, image.channel, image.trace, &frame);
  Check(s.ok(), "a listed image extracts");
  const anchord::SxmHeader& h = file.header;
  Check(frame.image.rows == h.rows && frame.image.cols == h.cols,
        "frame size = SCAN_PIXELS");
  Check(frame.pixel_size_x_nm > 0 && frame.pixel_size_y_nm > 0,
        "positive pixel sizes");
  Check(frame.line_times_s.empty() ||
            frame.line_times_s.size() == static_cast<size_t>(h.rows),
        "one line time per row");
  // Canonical corners come from the stored corners (mirror / flip only).
  const int last_r = h.rows - 1, last_c = h.cols - 1;
  const bool mirror = image.trace == anchord::SxmTrace::kBackward;
  const bool flip = h.scan_dir == "up";
  const float canonical = frame.image(0, 0);
  const float stored = image.stored(flip ? last_r : 0, mirror ? last_c : 0);
  Check(canonical == stored || (canonical != canonical && stored != stored),
        "orientation maps the stored corner");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const anchord::SxmFile file = anchord::ParseSxm(
      std::string_view(reinterpret_cast<const char*>(data), size));
  if (!file.status.ok()) {
    Check(file.status.code() == anchord::StatusCode::kInvalidInput,
          "failures are kInvalidInput");
    Check(IsCleanMessage(file.status.message()), "clean failure message");
    Check(file.images.empty(), "no images on failure");
    return 0;
  }
  const anchord::SxmHeader& h = file.header;
  Check(h.cols >= 1 && h.cols <= anchord::kSxmMaxPixels && h.rows >= 1 &&
            h.rows <= anchord::kSxmMaxPixels,
        "pixels in range");
  Check(!h.channels.empty() && !file.images.empty(), "at least one image");
  for (const anchord::SxmImage& image : file.images) CheckFrame(file, image);

  // DATA_INFO names are never empty, so "" is never a channel.
  anchord::Frame frame;
  const anchord::Status s =
      anchord::ExtractSxmFrame(file, "", anchord::SxmTrace::kForward, &frame);
  Check(s.code() == anchord::StatusCode::kInvalidInput &&
            IsCleanMessage(s.message()),
        "unknown channel is kInvalidInput");
  return 0;
}
