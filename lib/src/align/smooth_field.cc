#include "anchord/align/smooth_field.h"

#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>

namespace anchord {

Status SmoothFieldOptions::Validate() const {
  Violations v("align.field");
  ANCHORD_OPTION_IN_CLOSED(v, smoothing, 0.0, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, grid_step_px, 1, 64);
  ANCHORD_OPTION_IN_CLOSED(v, max_points, 3, 4000);
  return v.ToStatus();
}

namespace {

double Kernel(double r2) { return r2 > 0 ? 0.5 * r2 * std::log(r2) : 0.0; }

// Whether the points span the plane (not all on one line), relative to
// their spread.
bool SpansPlane(const std::vector<Vec2>& p) {
  if (p.size() < 3) return false;
  Vec2 mean = Vec2::Zero();
  for (const Vec2& q : p) mean += q;
  mean /= static_cast<double>(p.size());
  Mat2 cov = Mat2::Zero();
  for (const Vec2& q : p) cov += (q - mean) * (q - mean).transpose();
  const Eigen::SelfAdjointEigenSolver<Mat2> eig(cov);
  const double lo = eig.eigenvalues()(0), hi = eig.eigenvalues()(1);
  return hi > 0 && lo > 1e-6 * hi;
}

}  // namespace

ThinPlateSpline::ThinPlateSpline(const std::vector<Vec2>& points_px,
                                 const std::vector<Vec2>& displacement_px,
                                 double smoothing,
                                 double length_scale_px) {
  ANCHORD_CHECK(points_px.size() == displacement_px.size());
  std::vector<Vec2> d;
  for (size_t k = 0; k < points_px.size(); ++k) {
    if (!points_px[k].allFinite() || !displacement_px[k].allFinite()) continue;
    centres_.push_back(points_px[k]);
    d.push_back(displacement_px[k]);
  }
  for (const Vec2& v : d) mean_ += v;
  if (!d.empty()) mean_ /= static_cast<double>(d.size());
  if (!SpansPlane(centres_) || !(length_scale_px > 0)) {
    centres_.clear();
    return;
  }
  scale_ = length_scale_px;
  for (Vec2& c : centres_) c /= scale_;
  const int n = static_cast<int>(centres_.size());
  Eigen::MatrixXd a = Eigen::MatrixXd::Zero(n + 3, n + 3);
  Eigen::MatrixX2d rhs = Eigen::MatrixX2d::Zero(n + 3, 2);
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      a(i, j) = a(j, i) = Kernel((centres_[i] - centres_[j]).squaredNorm());
    }
    a(i, i) = smoothing;
    a(i, n) = a(n, i) = 1.0;
    a(i, n + 1) = a(n + 1, i) = centres_[i].x();
    a(i, n + 2) = a(n + 2, i) = centres_[i].y();
    rhs.row(i) = d[i].transpose();
  }
  const Eigen::MatrixX2d sol = a.partialPivLu().solve(rhs);
  if (!sol.allFinite()) {
    centres_.clear();
    return;
  }
  weights_ = sol.topRows(n);
  affine_ = sol.bottomRows<3>();
  ok_ = true;
}

Vec2 ThinPlateSpline::At(const Vec2& p_px) const {
  if (!ok_) return mean_;
  const Vec2 p = p_px / scale_;
  Vec2 out = affine_.row(0).transpose() + affine_.row(1).transpose() * p.x() +
             affine_.row(2).transpose() * p.y();
  for (size_t k = 0; k < centres_.size(); ++k) {
    out += weights_.row(static_cast<Eigen::Index>(k)).transpose() *
           Kernel((p - centres_[k]).squaredNorm());
  }
  return out;
}

namespace {

// An even subset of at most `limit` indices (every k-th).
std::vector<size_t> EvenSubset(size_t n, int limit) {
  std::vector<size_t> keep;
  const double step = std::max(1.0, static_cast<double>(n) / limit);
  for (double k = 0;
       k < static_cast<double>(n) && keep.size() < static_cast<size_t>(limit);
       k += step) {
    keep.push_back(static_cast<size_t>(k));
  }
  return keep;
}

}  // namespace

cv::Mat2f DenseField(const std::vector<Vec2>& points_px,
                     const std::vector<Vec2>& displacement_px,
                     int width,
                     int height,
                     const SmoothFieldOptions& options) {
  ANCHORD_CHECK(options.Validate().ok());
  ANCHORD_CHECK(width > 0 && height > 0);
  ANCHORD_CHECK(points_px.size() == displacement_px.size());
  std::vector<Vec2> p, d;
  for (size_t k : EvenSubset(points_px.size(), options.max_points)) {
    p.push_back(points_px[k]);
    d.push_back(displacement_px[k]);
  }
  const double diagonal = std::hypot(width, height);
  const ThinPlateSpline tps(p, d, options.smoothing, diagonal);
  // Spline values on the nodes (i · step, j · step), the last node at or
  // beyond the frame's edge; bilinear in between.
  const int step = options.grid_step_px;
  const int nx = (width - 1 + step - 1) / step + 1;
  const int ny = (height - 1 + step - 1) / step + 1;
  std::vector<Vec2> node(static_cast<size_t>(nx) * ny);
  for (int j = 0; j < ny; ++j) {
    for (int i = 0; i < nx; ++i) {
      node[static_cast<size_t>(j) * nx + i] = tps.At(
          Vec2(static_cast<double>(i) * step, static_cast<double>(j) * step));
    }
  }
  cv::Mat2f field(height, width);
  for (int y = 0; y < height; ++y) {
    const int j = std::min(y / step, ny - 2 < 0 ? 0 : ny - 2);
    const double fy = ny < 2 ? 0.0 : (y - j * step) / static_cast<double>(step);
    const int j1 = std::min(j + 1, ny - 1);
    cv::Vec2f* row = field.ptr<cv::Vec2f>(y);
    for (int x = 0; x < width; ++x) {
      const int i = std::min(x / step, nx - 2 < 0 ? 0 : nx - 2);
      const double fx =
          nx < 2 ? 0.0 : (x - i * step) / static_cast<double>(step);
      const int i1 = std::min(i + 1, nx - 1);
      const Vec2 v =
          (1 - fy) * ((1 - fx) * node[static_cast<size_t>(j) * nx + i] +
                      fx * node[static_cast<size_t>(j) * nx + i1]) +
          fy * ((1 - fx) * node[static_cast<size_t>(j1) * nx + i] +
                fx * node[static_cast<size_t>(j1) * nx + i1]);
      row[x] = cv::Vec2f(static_cast<float>(v.x()), static_cast<float>(v.y()));
    }
  }
  return field;
}

}  // namespace anchord
