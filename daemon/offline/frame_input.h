#pragma once

#include "anchord/io/sxm.h"
#include "anchord/util/frame.h"
#include "anchord/util/status.h"

#include <string>

namespace anchord::daemon {

// True when `path` ends in .sxm (any case).
bool IsSxm(const std::string& path);

// How an offline command reads one input file.
struct FrameInput {
  // .sxm: the channel (matched ignoring case) and trace to read.
  std::string channel = "Z";
  SxmTrace trace = SxmTrace::kForward;
  // Nominal pixel size, nm; 0 = from the file (.sxm only).
  double pixel_size_x_nm = 0;
  double pixel_size_y_nm = 0;
};

// Reads `source` into `frame`: .sxm files carry their pixel size and
// metadata (a pixel size given in `input` overrides it); .npy, .tif/.tiff
// and .png take it from `input`. frame.source is set. kInvalidInput when
// the file cannot be read or holds an empty image.
Status ReadFrame(const std::string& source,
                 const FrameInput& input,
                 Frame& frame);

}  // namespace anchord::daemon
