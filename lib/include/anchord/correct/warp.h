#pragma once

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

namespace anchord {

struct CorrectOptions {
  // Output pixel size, nm. 0 = the mean raw (nominal) pixel size. >= 0.
  double output_pixel_nm = 0.0;
  // Output frames larger than this on either side are refused. Default
  // 8192; >= 16.
  int max_output_px = 8192;

  Status Validate() const;
};

// A frame resampled on the absolute model grid: column u, row v show model
// point (x0_nm + u·s, y0_nm − v·s) with s = pixel_nm; row 0 at the top
// (model y up). Pixels outside the raw frame are NaN.
struct CorrectedFrame {
  Status status;
  cv::Mat1f image;
  double pixel_nm = 0;
  double x0_nm = 0;
  double y0_nm = 0;
};

// corrected(u, v) = raw(H · model(u, v)), bilinear (H maps model nm to raw
// image px; README.md, Conventions).
CorrectedFrame WarpToModel(const cv::Mat1f& raw,
                           const Mat3& image_from_model,
                           double raw_pixel_nm,
                           const CorrectOptions& options);

}  // namespace anchord
