#pragma once

// Writes Nanonis .sxm files (header version 2, big-endian float32) from
// images, for tests: a synthetic frame as a controller would save it.

#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace anchord::testing {

struct SxmChannelImage {
  std::string name;   // "Z", "Current", …
  std::string unit;   // "m", "A", …
  cv::Mat1f forward;  // rows × cols in the canonical orientation (SCAN_DIR
                      // down: stored as is)
};

struct SxmWriteSpec {
  std::vector<SxmChannelImage> channels;  // forward traces only
  double range_x_nm = 30, range_y_nm = 30;
  double line_time_s = 0.2;             // forward + backward
  std::string rec_date = "07.01.2016";  // day.month.year
  std::string rec_time = "12:10:04";
  // Z-CONTROLLER: the regulated signal and whether the loop was on
  // (false: a constant-height scan).
  std::string z_controller_name = "log Current";
  bool z_controller_on = true;
};

// The bytes of the file.
std::string SxmBytes(const SxmWriteSpec& spec);

// Writes SxmBytes(spec) to `path`; false on failure.
bool WriteSxm(const std::string& path, const SxmWriteSpec& spec);

}  // namespace anchord::testing
