#include "anchord/correct/warp.h"

#include "anchord/util/validation.h"

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <limits>

namespace anchord {
namespace {

// H can be inverted and the frame lies on one side of the line H⁻¹ sends
// to infinity (the projective divisor keeps its sign over the corners).
bool IsRegular(const Mat3& image_from_model, cv::Size size) {
  if (!image_from_model.allFinite()) return false;
  const double det = image_from_model.determinant();
  if (!(std::abs(det) > 1e-12 * std::pow(image_from_model.norm(), 3))) {
    return false;
  }
  const Mat3 inv = image_from_model.inverse();
  int sign = 0;
  for (const Vec2& c :
       {Vec2(0, 0), Vec2(size.width - 1, 0), Vec2(0, size.height - 1),
        Vec2(size.width - 1, size.height - 1)}) {
    const double w = inv.row(2).dot(Eigen::Vector3d(c.x(), c.y(), 1.0));
    const int s = w > 1e-12 ? 1 : (w < -1e-12 ? -1 : 0);
    if (s == 0 || (sign != 0 && s != sign)) return false;
    sign = s;
  }
  return true;
}

}  // namespace

Status CorrectOptions::Validate() const {
  Violations v("correct");
  ANCHORD_OPTION_GE(v, output_pixel_nm, 0.0);
  ANCHORD_OPTION_GE(v, max_output_px, 16);
  return v.ToStatus();
}

CorrectedFrame WarpToModel(const cv::Mat1f& raw,
                           const Mat3& image_from_model,
                           double raw_pixel_nm,
                           const CorrectOptions& o) {
  CorrectedFrame out;
  if (raw.empty() || !(raw_pixel_nm > 0)) {
    out.status = Status::InvalidInput("correct: empty frame or pixel size");
    return out;
  }
  if (!IsRegular(image_from_model, raw.size())) {
    out.status = Status::InvalidInput(
        "correct: H is singular or maps the frame across its horizon");
    return out;
  }
  out.pixel_nm = o.output_pixel_nm > 0 ? o.output_pixel_nm : raw_pixel_nm;
  // The frame's footprint in the model plane.
  const Mat3 model_from_image = image_from_model.inverse();
  Vec2 lo(1e300, 1e300), hi(-1e300, -1e300);
  const double w = raw.cols - 1, h = raw.rows - 1;
  for (const Vec2& c : {Vec2(0, 0), Vec2(w, 0), Vec2(0, h), Vec2(w, h)}) {
    const Vec2 m = Apply(model_from_image, c);
    lo = lo.cwiseMin(m);
    hi = hi.cwiseMax(m);
  }
  const double cols = std::floor((hi.x() - lo.x()) / out.pixel_nm) + 1;
  const double rows = std::floor((hi.y() - lo.y()) / out.pixel_nm) + 1;
  if (!(cols >= 1 && rows >= 1 && cols <= o.max_output_px &&
        rows <= o.max_output_px)) {
    out.status = Status::InvalidInput(
        "correct: output of " + std::to_string(cols) + " × " +
        std::to_string(rows) + " px exceeds correct.max_output_px");
    return out;
  }
  out.x0_nm = lo.x();
  out.y0_nm = hi.y();
  // model(u, v) = (x0 + u s, y0 − v s): row 0 at the top, model y up.
  Mat3 model_from_output = Mat3::Identity();
  model_from_output(0, 0) = out.pixel_nm;
  model_from_output(1, 1) = -out.pixel_nm;
  model_from_output(0, 2) = out.x0_nm;
  model_from_output(1, 2) = out.y0_nm;
  const Mat3 image_from_output = image_from_model * model_from_output;
  cv::Mat map(3, 3, CV_64F);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) map.at<double>(r, c) = image_from_output(r, c);
  }
  cv::warpPerspective(raw, out.image, map,
                      cv::Size(static_cast<int>(cols), static_cast<int>(rows)),
                      cv::INTER_LINEAR | cv::WARP_INVERSE_MAP,
                      cv::BORDER_CONSTANT,
                      cv::Scalar(std::numeric_limits<float>::quiet_NaN()));
  return out;
}

}  // namespace anchord
