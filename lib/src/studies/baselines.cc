#include "anchord/studies/baselines.h"

#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include "util/robust.h"
#include <opencv2/calib3d.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

namespace anchord {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kInf = std::numeric_limits<double>::infinity();

// Dehomogenised h·p, or nullopt at (or near) h's line at infinity.
std::optional<Vec2> TryApply(const Mat3& h, const Vec2& p) {
  const Eigen::Vector3d q = h * Eigen::Vector3d(p.x(), p.y(), 1.0);
  const double scale = std::max({std::abs(q.x()), std::abs(q.y()), 1.0});
  if (!(std::abs(q.z()) > 1e-12 * scale)) return std::nullopt;
  const Vec2 out(q.x() / q.z(), q.y() / q.z());
  if (!out.allFinite()) return std::nullopt;
  return out;
}

Mat2 Rotation(double radians) {
  Mat2 r;
  r << std::cos(radians), -std::sin(radians), std::sin(radians),
      std::cos(radians);
  return r;
}

bool Inside(const Vec2& p, cv::Size size, double border_px) {
  return p.x() >= border_px && p.y() >= border_px &&
         p.x() <= size.width - 1 - border_px &&
         p.y() <= size.height - 1 - border_px;
}

Mat3 ToMat3(const cv::Mat& h) {
  Mat3 out;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) out(r, c) = h.at<double>(r, c);
  }
  return out;
}

// The lattice vector i·a1 + j·a2 nearest `v`: rounding in lattice
// coordinates, then the best of the rounded point's neighbourhood. Zero
// when v is not finite or beyond ±2^30 cells (a degenerate estimate).
Eigen::Vector2i NearestLatticeVector(const LatticeModel& model, const Vec2& v) {
  const Vec2 f = model.LatticeFromModel(v);
  if (!(std::abs(f.x()) < (1 << 30) && std::abs(f.y()) < (1 << 30))) {
    return Eigen::Vector2i::Zero();
  }
  const int i0 = static_cast<int>(std::lround(f.x()));
  const int j0 = static_cast<int>(std::lround(f.y()));
  Eigen::Vector2i best(i0, j0);
  double best_d = kInf;
  for (int di = -1; di <= 1; ++di) {
    for (int dj = -1; dj <= 1; ++dj) {
      const double d =
          (model.ModelFromLattice(i0 + di, j0 + dj) - v).squaredNorm();
      if (d < best_d) {
        best_d = d;
        best = Eigen::Vector2i(i0 + di, j0 + dj);
      }
    }
  }
  return best;
}

}  // namespace

Status DriftSequenceOptions::Validate() const {
  Violations v("baselines");
  v.Merge(scan.Validate());
  ANCHORD_OPTION_GE(v, frames, 2);
  v.Require(scan.adsorbates == 0, "scan.adsorbates", scan.adsorbates,
            "== 0 (adsorbates are placed in frame pixels)");
  const double half_cell = 0.5 * kSi7x7LatticeNm;
  v.Require(std::abs(drift_nm_per_frame.x()) <= half_cell,
            "drift_nm_per_frame.x", drift_nm_per_frame.x(), "|x| <= 1.344");
  v.Require(std::abs(drift_nm_per_frame.y()) <= half_cell,
            "drift_nm_per_frame.y", drift_nm_per_frame.y(), "|y| <= 1.344");
  return v.ToStatus();
}

SyntheticScanOptions DriftFrameOptions(const DriftSequenceOptions& options,
                                       int k) {
  SyntheticScanOptions o = options.scan;
  o.offset_nm = options.scan.offset_nm + k * options.drift_nm_per_frame;
  o.noise_seed = o.seed * 1000003ull + static_cast<uint64_t>(k) + 1;
  if (o.noise_seed == 0) o.noise_seed = 1;
  return o;
}

Mat3 PhaseCorrelationMap(const cv::Mat1f& reference,
                         const cv::Mat1f& frame,
                         const cv::Mat& window) {
  // phaseCorrelate(a, b) returns the shift of b relative to a: b(x) ≈
  // a(x − shift), so a reference pixel p shows up at p + shift. With a
  // window, OpenCV (4.6) multiplies its inputs by it in place: give it
  // copies.
  const cv::Point2d shift =
      cv::phaseCorrelate(reference.clone(), frame.clone(), window);
  return AffineTransform(Mat2::Identity(), Vec2(shift.x, shift.y));
}

cv::Mat1b FrameToGrey(const cv::Mat1f& image) {
  std::vector<double> values;
  values.reserve(image.total());
  for (int y = 0; y < image.rows; ++y) {
    const float* row = image[y];
    for (int x = 0; x < image.cols; ++x) {
      if (std::isfinite(row[x])) values.push_back(row[x]);
    }
  }
  cv::Mat1b grey(image.size(), uchar(0));
  if (values.empty()) return grey;
  std::vector<double> copy = values;
  const double lo = internal::Quantile(copy, 0.01);
  const double hi = internal::Quantile(values, 0.99);
  if (!(hi > lo)) return grey;
  const double scale = 255.0 / (hi - lo);
  for (int y = 0; y < image.rows; ++y) {
    const float* in = image[y];
    uchar* out = grey[y];
    for (int x = 0; x < image.cols; ++x) {
      if (!std::isfinite(in[x])) continue;
      out[x] = cv::saturate_cast<uchar>((in[x] - lo) * scale);
    }
  }
  return grey;
}

SiftFrameMatcher::SiftFrameMatcher(const cv::Mat1f& reference,
                                   const Options& options)
    : options_(options),
      sift_(cv::SIFT::create()),
      matcher_(cv::makePtr<cv::FlannBasedMatcher>()) {
  sift_->detectAndCompute(FrameToGrey(reference), cv::noArray(),
                          reference_keypoints_, reference_descriptors_);
  if (reference_descriptors_.rows >= 2) {
    matcher_->add(std::vector<cv::Mat>{reference_descriptors_});
    matcher_->train();
  }
}

std::optional<Mat3> SiftFrameMatcher::Match(const cv::Mat1f& frame) const {
  std::vector<cv::KeyPoint> keypoints;
  cv::Mat descriptors;
  sift_->detectAndCompute(FrameToGrey(frame), cv::noArray(), keypoints,
                          descriptors);
  if (descriptors.rows < 2 || reference_descriptors_.rows < 2) {
    return std::nullopt;
  }
  std::vector<std::vector<cv::DMatch>> knn;
  matcher_->knnMatch(descriptors, knn, 2);
  std::vector<cv::Point2f> from, to;
  for (const auto& m : knn) {
    if (m.size() < 2 || !(m[0].distance < options_.ratio * m[1].distance)) {
      continue;
    }
    from.push_back(reference_keypoints_[m[0].trainIdx].pt);
    to.push_back(keypoints[m[0].queryIdx].pt);
  }
  if (static_cast<int>(from.size()) < options_.min_matches) {
    return std::nullopt;
  }
  cv::Mat h;
  try {
    h = cv::findHomography(from, to, cv::RANSAC, options_.ransac_threshold_px);
  } catch (const cv::Exception&) {
    return std::nullopt;
  }
  if (h.empty()) return std::nullopt;
  const Mat3 out = ToMat3(h);
  if (!out.allFinite() || std::abs(out(2, 2)) < 1e-15) return std::nullopt;
  return Mat3(out / out(2, 2));
}

std::vector<TrackedAdatom> CommonAdatoms(const SyntheticScan& reference,
                                         const SyntheticScan& frame,
                                         double border_px) {
  const cv::Size ref_size = reference.frame.image.size();
  const cv::Size size = frame.frame.image.size();
  std::vector<TrackedAdatom> out;
  for (const TruthAdatom& a : frame.adatoms) {
    if (!a.occupied || !Inside(a.p_px, size, border_px)) continue;
    const Vec2 in_reference = reference.TruePixel(a.model_nm);
    if (!Inside(in_reference, ref_size, border_px)) continue;
    out.push_back({in_reference, a.p_px});
  }
  return out;
}

double PixelOffsetNm(const Mat3& image_from_model,
                     const Vec2& p_px,
                     const Vec2& d_px) {
  const Mat2 j =
      Jacobian(image_from_model, Apply(image_from_model.inverse(), p_px));
  return (j.inverse() * d_px).norm();
}

std::vector<double> MappedAdatomErrorsNm(
    const std::vector<TrackedAdatom>& adatoms,
    const Mat3& frame_from_reference,
    const Mat3& true_image_from_model) {
  std::vector<double> errors;
  errors.reserve(adatoms.size());
  for (const TrackedAdatom& a : adatoms) {
    const std::optional<Vec2> p =
        TryApply(frame_from_reference, a.reference_px);
    errors.push_back(
        p ? PixelOffsetNm(true_image_from_model, a.frame_px, *p - a.frame_px)
          : kInf);
  }
  return errors;
}

std::vector<Vec2> MapPoints(const Mat3& h, const std::vector<Vec2>& points) {
  std::vector<Vec2> out;
  out.reserve(points.size());
  for (const Vec2& p : points) {
    if (const std::optional<Vec2> q = TryApply(h, p)) out.push_back(*q);
  }
  return out;
}

std::vector<double> ReportedAdatomErrorsNm(
    const std::vector<TrackedAdatom>& adatoms,
    const std::vector<Vec2>& reported_px,
    const Mat3& true_image_from_model,
    double match_nm,
    int* missed) {
  std::vector<double> errors;
  *missed = 0;
  for (const TrackedAdatom& a : adatoms) {
    double best = kInf;
    for (const Vec2& r : reported_px) {
      const Vec2 d = r - a.frame_px;
      if (d.squaredNorm() > 1e4) continue;  // > 100 px: never the match
      best =
          std::min(best, PixelOffsetNm(true_image_from_model, a.frame_px, d));
    }
    if (best <= match_nm) {
      errors.push_back(best);
    } else {
      ++*missed;
    }
  }
  return errors;
}

std::vector<double> DistortionErrorsNm(const Mat3& estimated_image_from_model,
                                       const Mat3& true_image_from_model,
                                       cv::Size frame_size,
                                       int grid,
                                       double inset) {
  ANCHORD_CHECK(grid >= 2);
  const Mat3 est_inv = estimated_image_from_model.inverse();
  const Mat3 true_inv = true_image_from_model.inverse();
  const double w = frame_size.width - 1, h = frame_size.height - 1;
  std::vector<double> errors;
  errors.reserve(grid * grid);
  for (int r = 0; r < grid; ++r) {
    for (int c = 0; c < grid; ++c) {
      const Vec2 p(w * (inset + (1 - 2 * inset) * c / (grid - 1)),
                   h * (inset + (1 - 2 * inset) * r / (grid - 1)));
      const std::optional<Vec2> est = TryApply(est_inv, p);
      const std::optional<Vec2> truth = TryApply(true_inv, p);
      errors.push_back(est && truth ? (*est - *truth).norm() : kInf);
    }
  }
  return errors;
}

LatticeEquivalent NearestLatticeEquivalent(const Mat3& estimated,
                                           const Mat3& truth,
                                           const LatticeModel& model,
                                           const Vec2& centre_px) {
  const Vec2 m_est = Apply(estimated.inverse(), centre_px);
  const Vec2 m_true = Apply(truth.inverse(), centre_px);
  // estimated ≈ truth ∘ S ⇒ J_est ≈ J_true · R.
  const Mat2 r_seen =
      Jacobian(truth, m_true).inverse() * Jacobian(estimated, m_est);
  LatticeEquivalent out;
  double best = kInf;
  for (int k = 0; k < 6; ++k) {
    const double d = (Rotation(k * kPi / 3) - r_seen).squaredNorm();
    if (d < best) {
      best = d;
      out.rotation_60 = k;
    }
  }
  const Mat2 r = Rotation(out.rotation_60 * kPi / 3);
  const Eigen::Vector2i shift = NearestLatticeVector(model, m_true - r * m_est);
  out.shift_i = shift.x();
  out.shift_j = shift.y();
  const Mat3 s =
      AffineTransform(r, model.ModelFromLattice(shift.x(), shift.y()));
  out.image_from_model = estimated * s.inverse();
  out.image_from_model /= out.image_from_model(2, 2);
  return out;
}

}  // namespace anchord
