#pragma once

#include <opencv2/core.hpp>
#include <string>

namespace anchord {

// One scan frame in the canonical orientation of DESIGN §3: x = column,
// y = row, row 0 at the top of the displayed frame, pixel centres at
// integer coordinates. Pixels are float32 in the channel's physical unit
// (m for Z, A for current, arbitrary for images); NaN marks missing data.
struct Frame {
  cv::Mat1f image;
  // Nominal size of one raw pixel along x (columns) and y (rows), nm. A
  // prior only: real scanners are off by tens of percent.
  double pixel_size_x_nm = 0.0;
  double pixel_size_y_nm = 0.0;
  // Where the frame came from (file name, "synthetic:seed=…"), for reports.
  std::string source;
  // Channel name ("Z", "Current", …), empty when unknown.
  std::string channel;
};

}  // namespace anchord
