#pragma once

#include "anchord/util/geometry.h"

#include <opencv2/core.hpp>

#include <string>
#include <utility>
#include <vector>

namespace anchord {

// One scan frame in the canonical orientation (README.md, Conventions):
// x = column, y = row, row 0 at the top of the displayed frame, pixel
// centres at integer coordinates. Pixels are float32 in the channel's
// physical unit (m for Z, A for current, arbitrary for images); NaN marks
// missing data.
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
  // True when the pixels are a feedback loop's error signal (the current
  // of a constant-current scan), proportional to the topography's slope
  // along the fast axis rather than to the topography itself.
  bool feedback_error = false;
  // Rotation of the scan frame in the scanner plane, degrees, as the
  // controller reports it (Nanonis SCAN_ANGLE); 0 when unknown.
  double scan_angle_deg = 0;
  // Centre of the scan frame in scanner coordinates, nm; 0 when unknown.
  double scan_offset_x_nm = 0, scan_offset_y_nm = 0;
  // Period of one scan line (forward plus backward trace), s; 0 if unknown.
  double line_time_s = 0;
  // Start of the acquisition of each row of `image` (row 0 first), s after
  // the frame started; size = image rows, empty when unknown.
  std::vector<double> line_times_s;
  // Tip-sample bias, V; 0 when unknown.
  double bias_v = 0;
  // Trace direction of the pixels: "forward", "backward"; empty if unknown.
  std::string direction;
  // Start of the acquisition (of the first acquired line), s since the
  // Unix epoch (UTC); 0 when unknown. Cross-frame drift needs it.
  double acquired_unix_s = 0;
  // Drift compensation the controller applied while this frame was
  // scanned (Nanonis Piezo.DriftCompSet), scanner coordinates (x right,
  // y up), nm/s; zero when off or unknown.
  Vec2 drift_compensation_nm_per_s = Vec2::Zero();
  // Displacement the compensation had accumulated at acquired_unix_s
  // (the integral of the velocities the controller has set), scanner
  // coordinates, nm.
  Vec2 drift_compensation_offset_nm = Vec2::Zero();
  // Start of the recording, ISO 8601 local time of the instrument
  // ("2016-01-07T12:54:04"); empty when unknown.
  std::string acquired_at;
};

// The scanned part of a frame (issue 13, item 5: a scan stopped early
// leaves whole rows NaN, above or below what was scanned): the first and
// one past the last row with at least half its pixels finite, [0, 0) when
// there is none. Rows between them count as scanned whatever their
// content. Registration runs on these rows only; the daemon bounds the
// NaN/Inf share within them.
std::pair<int, int> ScannedRows(const cv::Mat1f& image);

}  // namespace anchord
