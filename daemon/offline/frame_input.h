#pragma once

#include "anchord/io/sxm.h"
#include "anchord/util/frame.h"
#include "anchord/util/status.h"

#include <string>

namespace anchord::daemon {

// How the offline commands (register, align) read an input file.
struct FrameInputArgs {
  // Nominal size of one raw pixel, nm; 0 = from the .sxm header (other
  // formats need it). Both > 0 and finite once set.
  double pixel_size_x_nm = 0;
  double pixel_size_y_nm = 0;
  // .sxm inputs: the channel (matched ignoring case) and trace; an empty
  // channel (no --channel) is DefaultSxmChannel: Z, or the signal channel
  // of a constant-height scan (Z controller off).
  std::string channel;
  SxmTrace trace = SxmTrace::kForward;
};

// Whether the path ends in .sxm (any case).
bool IsSxm(const std::string& path);

// --pixel-size-nm: "S" sets both axes, "SX,SY" each axis; a usage error
// otherwise.
Status ParsePixelSizeOption(const std::string& text, FrameInputArgs& args);
// --direction: forward | backward.
Status ParseDirectionOption(const std::string& text, FrameInputArgs& args);
// --channel: a non-empty name.
Status ParseChannelOption(const std::string& text, FrameInputArgs& args);

// Reads one input into a frame. .sxm files carry their pixel size and
// metadata (--pixel-size-nm overrides the pixel size); .npy, .tif/.tiff
// and .png take the pixel size from `args`. frame.source = `source`.
Status ReadInputFrame(const std::string& source,
                      const FrameInputArgs& args,
                      Frame& frame);

}  // namespace anchord::daemon
