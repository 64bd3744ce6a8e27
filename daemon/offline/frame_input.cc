#include "daemon/offline/frame_input.h"

#include "anchord/io/image_io.h"

#include <cctype>
#include <filesystem>

namespace anchord::daemon {

bool IsSxm(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(c));
  return ext == ".sxm";
}

Status ReadFrame(const std::string& source,
                 const FrameInput& input,
                 Frame& frame) {
  if (IsSxm(source)) {
    const SxmFile file = ReadSxm(source);
    const Status extracted =
        ExtractSxmFrame(file, input.channel, input.trace, &frame);
    if (!extracted.ok()) return extracted;
  } else {
    const ReadImageResult read = ReadImageFile(source);
    if (!read.status.ok()) return read.status;
    frame.image = read.image;
  }
  if (frame.image.empty()) {
    return Status::InvalidInput("the file holds an empty image");
  }
  if (input.pixel_size_x_nm > 0) {
    frame.pixel_size_x_nm = input.pixel_size_x_nm;
    frame.pixel_size_y_nm = input.pixel_size_y_nm;
  }
  frame.source = source;
  return Status::Ok();
}

}  // namespace anchord::daemon
