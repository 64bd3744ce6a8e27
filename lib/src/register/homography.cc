#include "anchord/register/homography.h"

#include "util/robust.h"
#include <opencv2/calib3d.hpp>

#include <cmath>
#include <limits>

namespace anchord {
namespace {

int CvMethod(HomographyMethod m) {
  switch (m) {
    case HomographyMethod::kLmeds:
      return cv::LMEDS;
    case HomographyMethod::kRansac:
      return cv::RANSAC;
    case HomographyMethod::kUsac:
      return cv::USAC_MAGSAC;
  }
  return cv::LMEDS;
}

// A degenerate fit (e.g. on collinear points) can send an input point to
// or across infinity: the projective divisor must keep one sign, well away
// from zero, over every point the fit is used on.
bool KeepsPointsFinite(const Mat3& h, const std::vector<Vec2>& points) {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -lo;
  for (const Vec2& p : points) {
    const double w = h.row(2).dot(Eigen::Vector3d(p.x(), p.y(), 1.0));
    lo = std::min(lo, w);
    hi = std::max(hi, w);
  }
  return points.empty() || lo > 1e-6 || hi < -1e-6;
}

}  // namespace

const char* HomographyMethodName(HomographyMethod m) {
  switch (m) {
    case HomographyMethod::kLmeds:
      return "lmeds";
    case HomographyMethod::kRansac:
      return "ransac";
    case HomographyMethod::kUsac:
      return "usac";
  }
  return "lmeds";
}

bool EstimateHomography(const std::vector<Vec2>& model,
                        const std::vector<Vec2>& image,
                        std::optional<HomographyMethod> robust,
                        double threshold_px,
                        Mat3& image_from_model) {
  if (model.size() < 4 || model.size() != image.size()) return false;
  // Model y is up, image y is down: the true map is orientation-reversing,
  // which USAC's sample-orientation check rejects outright. Fit on
  // mirrored model points and mirror back: H = H' · diag(1, −1, 1).
  std::vector<cv::Point2d> src, dst;
  for (size_t k = 0; k < model.size(); ++k) {
    src.emplace_back(model[k].x(), -model[k].y());
    dst.emplace_back(image[k].x(), image[k].y());
  }
  cv::Mat h;
  try {
    h = cv::findHomography(src, dst, robust ? CvMethod(*robust) : 0,
                           threshold_px, cv::noArray(), 4000, 0.999);
  } catch (const cv::Exception&) {
    return false;
  }
  if (h.empty()) return false;
  Mat3 out;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) out(r, c) = h.at<double>(r, c);
  }
  out.col(1) = -out.col(1);
  if (!out.allFinite() || std::abs(out(2, 2)) < 1e-15) return false;
  out /= out(2, 2);
  if (!KeepsPointsFinite(out, model)) return false;
  image_from_model = out;
  return true;
}

std::vector<bool> ResidualInliers(const std::vector<Vec2>& residuals,
                                  double k_sigma,
                                  double floor_px,
                                  double cap_px) {
  std::vector<double> norms;
  for (const Vec2& r : residuals) norms.push_back(r.norm());
  const double sigma = internal::Median(norms) / 1.1774;
  const double limit = std::min(cap_px, std::max(k_sigma * sigma, floor_px));
  std::vector<bool> inlier;
  for (const Vec2& r : residuals) inlier.push_back(r.norm() <= limit);
  return inlier;
}

HomographyFit FitHomographyIterated(const std::vector<Vec2>& model,
                                    const std::vector<Vec2>& image,
                                    HomographyMethod method,
                                    double threshold_px,
                                    double k_sigma,
                                    double floor_px,
                                    double cap_px,
                                    int max_iterations) {
  HomographyFit fit;
  if (!EstimateHomography(model, image, method, threshold_px,
                          fit.image_from_model)) {
    return fit;
  }
  fit.ok = true;
  const auto inliers_of = [&](const Mat3& h) {
    std::vector<Vec2> residuals;
    for (size_t k = 0; k < model.size(); ++k) {
      residuals.push_back(image[k] - Apply(h, model[k]));
    }
    return ResidualInliers(residuals, k_sigma, floor_px, cap_px);
  };
  fit.inlier = inliers_of(fit.image_from_model);
  for (fit.iterations = 0; fit.iterations < max_iterations;) {
    std::vector<Vec2> m, i;
    for (size_t k = 0; k < model.size(); ++k) {
      if (!fit.inlier[k]) continue;
      m.push_back(model[k]);
      i.push_back(image[k]);
    }
    Mat3 refit;
    if (!EstimateHomography(m, i, std::nullopt, 0.0, refit)) break;
    ++fit.iterations;
    fit.image_from_model = refit;
    std::vector<bool> next = inliers_of(refit);
    if (next == fit.inlier) break;
    fit.inlier = std::move(next);
  }
  return fit;
}

}  // namespace anchord
