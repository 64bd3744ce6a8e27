// libFuzzer target for the image readers: the input as .npy bytes
// (ParseNpy) and as a PNG/TIFF file (DecodeRasterImage: the size check on
// the header, then OpenCV's decoder). A decoded image is non-empty, 2-D
// float32 and within the side limits.

#include "anchord/io/image_io.h"

#include "fuzz_check.h"

#include <cstddef>
#include <cstdint>
#include <string>

using anchord::fuzz::Check;

namespace {

void CheckImage(const anchord::ReadImageResult& r, int max_side) {
  Check(anchord::fuzz::IsLoggable(r.status.message()), "printable message");
  if (!r.status.ok()) {
    Check(r.image.empty(), "no image with an error");
    return;
  }
  Check(!r.image.empty(), "an image on success");
  Check(r.image.rows <= max_side && r.image.cols <= max_side, "side limit");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  CheckImage(anchord::ParseNpy(bytes), 65536);
  CheckImage(anchord::DecodeRasterImage(bytes, "fuzz"),
             anchord::kMaxRasterSidePx);
  return 0;
}
