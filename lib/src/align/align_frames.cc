#include "anchord/align/align_frames.h"

#include "anchord/util/stopwatch.h"
#include "anchord/util/validation.h"

#include "align/matches.h"
#include <Eigen/Dense>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <exception>

namespace anchord {

Status AlignOptions::Validate() const {
  Violations v("align");
  v.Merge(level.Validate());
  ANCHORD_OPTION_IN_CLOSED(v, smoothing_px, 0.0, 16.0);
  ANCHORD_OPTION_IN_CLOSED(v, coarse_max_side_px, 32, 65536);
  ANCHORD_OPTION_IN_CLOSED(v, patch_px, 8, 256);
  ANCHORD_OPTION_IN_CLOSED(v, patch_stride_px, 4, 256);
  ANCHORD_OPTION_IN_CLOSED(v, search_radius_px, 1, 7);
  ANCHORD_OPTION_IN_CLOSED(v, min_correlation, -1.0, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, max_keypoints, 10, 100000);
  v.Require(ratio_test > 0 && ratio_test <= 1, "ratio_test", ratio_test,
            "in (0, 1]");
  v.Merge(isolation_forest.Validate());
  v.Require(max_anomaly_score > 0.5 && max_anomaly_score <= 1,
            "max_anomaly_score", max_anomaly_score, "in (0.5, 1]");
  v.Merge(local.Validate());
  v.Merge(field.Validate());
  ANCHORD_OPTION_GE(v, min_inliers, 3);
  ANCHORD_OPTION_IN_CLOSED(v, min_overlap_fraction, 0.0, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, min_matched_fraction, 0.0, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, max_pixel_size_mismatch, 0.0, 1.0);
  return v.ToStatus();
}

const char* AlignStatusName(AlignStatus status) {
  switch (status) {
    case AlignStatus::kOk:
      return "ok";
    case AlignStatus::kNoOverlap:
      return "no_overlap";
    case AlignStatus::kInvalidInput:
      return "invalid_input";
  }
  return "invalid_input";
}

cv::Mat2f AffineField(const Eigen::Matrix<double, 2, 3>& affine,
                      int width,
                      int height) {
  cv::Mat2f field(height, width);
  for (int y = 0; y < height; ++y) {
    cv::Vec2f* row = field.ptr<cv::Vec2f>(y);
    for (int x = 0; x < width; ++x) {
      const Vec2 m = affine.leftCols<2>() * Vec2(x, y) + affine.col(2);
      row[x] = cv::Vec2f(static_cast<float>(m.x() - x),
                         static_cast<float>(m.y() - y));
    }
  }
  return field;
}

namespace {

// Relative difference of two pixel sizes; 0 when either is unknown.
double Mismatch(double a, double b) {
  if (!(a > 0) || !(b > 0)) return 0.0;
  return std::abs(a - b) / std::max(a, b);
}

// A reason the pair cannot be aligned at all, or empty.
std::string InputProblem(const Frame& fixed,
                         const Frame& moving,
                         const AlignOptions& options) {
  if (fixed.image.empty() || moving.image.empty()) return "empty frame";
  if (fixed.image.size() != moving.image.size()) {
    return "frames of different size: " + std::to_string(fixed.image.cols) +
           "x" + std::to_string(fixed.image.rows) + " and " +
           std::to_string(moving.image.cols) + "x" +
           std::to_string(moving.image.rows) + " px";
  }
  const double mx = Mismatch(fixed.pixel_size_x_nm, moving.pixel_size_x_nm);
  const double my = Mismatch(fixed.pixel_size_y_nm, moving.pixel_size_y_nm);
  if (mx > options.max_pixel_size_mismatch ||
      my > options.max_pixel_size_mismatch) {
    return "pixel sizes differ: " + std::to_string(fixed.pixel_size_x_nm) +
           " and " + std::to_string(moving.pixel_size_x_nm) + " nm";
  }
  const int side = 2 * options.search_radius_px + options.patch_px;
  if (fixed.image.cols < side || fixed.image.rows < side) {
    return "frame smaller than one patch and its search window";
  }
  return {};
}

double OverlapFraction(const Vec2& shift, int width, int height) {
  const double ox = std::max(0.0, width - std::abs(shift.x()));
  const double oy = std::max(0.0, height - std::abs(shift.y()));
  return ox * oy / (static_cast<double>(width) * height);
}

// Global consistency: drops matches whose displacement the isolation
// forest isolates early.
void RejectByIsolationForest(const AlignOptions& options,
                             std::vector<AlignMatch>& matches) {
  std::vector<Vec2> d;
  for (const AlignMatch& m : matches) d.push_back(m.moving_px - m.fixed_px);
  const std::vector<double> score =
      IsolationForestScores(d, options.isolation_forest);
  for (size_t k = 0; k < matches.size(); ++k) {
    matches[k].anomaly_score = score[k];
    if (score[k] > options.max_anomaly_score) {
      matches[k].fate = MatchFate::kIsolationForest;
    }
  }
}

// Local consistency over the survivors of the forest.
void RejectByLocalAffine(const AlignOptions& options,
                         std::vector<AlignMatch>& matches) {
  std::vector<size_t> idx;
  std::vector<Vec2> p, d;
  for (size_t k = 0; k < matches.size(); ++k) {
    if (matches[k].fate != MatchFate::kInlier) continue;
    idx.push_back(k);
    p.push_back(matches[k].fixed_px);
    d.push_back(matches[k].moving_px - matches[k].fixed_px);
  }
  const std::vector<bool> keep = LocallyConsistent(p, d, options.local);
  for (size_t k = 0; k < idx.size(); ++k) {
    if (!keep[k]) matches[idx[k]].fate = MatchFate::kLocalAffine;
  }
}

// Least-squares affine moving = A (x, y, 1) of the inliers; false when
// they do not span the plane.
bool FitAffine(const std::vector<AlignMatch>& matches,
               Eigen::Matrix<double, 2, 3>* affine) {
  Eigen::Matrix3d ata = Eigen::Matrix3d::Zero();
  Eigen::Matrix<double, 3, 2> atb = Eigen::Matrix<double, 3, 2>::Zero();
  for (const AlignMatch& m : matches) {
    if (m.fate != MatchFate::kInlier) continue;
    const Eigen::Vector3d a(m.fixed_px.x(), m.fixed_px.y(), 1.0);
    ata += a * a.transpose();
    atb += a * m.moving_px.transpose();
  }
  const Eigen::FullPivLU<Eigen::Matrix3d> lu(ata);
  if (lu.rank() < 3) return false;
  *affine = lu.solve(atb).transpose();
  return affine->allFinite();
}

// The field at a point, bilinear between pixels, clamped to the frame.
Vec2 SampleField(const cv::Mat2f& field, const Vec2& p) {
  const double x = std::clamp(p.x(), 0.0, field.cols - 1.0);
  const double y = std::clamp(p.y(), 0.0, field.rows - 1.0);
  const int x0 =
      std::min(static_cast<int>(x), field.cols - 2 < 0 ? 0 : field.cols - 2);
  const int y0 =
      std::min(static_cast<int>(y), field.rows - 2 < 0 ? 0 : field.rows - 2);
  const int x1 = std::min(x0 + 1, field.cols - 1),
            y1 = std::min(y0 + 1, field.rows - 1);
  const double fx = x - x0, fy = y - y0;
  auto at = [&](int yy, int xx) {
    const cv::Vec2f v = field(yy, xx);
    return Vec2(v[0], v[1]);
  };
  return (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) +
         fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
}

// The residuals and the counts of a finished alignment.
void Summarise(AlignResult& r) {
  double sum_field = 0, sum_affine = 0;
  int n = 0;
  r.patch_matches = r.keypoint_matches = r.after_isolation_forest = 0;
  for (const AlignMatch& m : r.matches) {
    (m.keypoint ? r.keypoint_matches : r.patch_matches)++;
    if (m.fate != MatchFate::kIsolationForest) ++r.after_isolation_forest;
    if (m.fate != MatchFate::kInlier) continue;
    const Vec2 d = m.moving_px - m.fixed_px;
    const Vec2 affine =
        r.affine.leftCols<2>() * m.fixed_px + r.affine.col(2) - m.fixed_px;
    const Vec2 model =
        r.field.empty() ? affine : SampleField(r.field, m.fixed_px);
    sum_field += (d - model).squaredNorm();
    sum_affine += (d - affine).squaredNorm();
    ++n;
  }
  r.inliers = n;
  if (n > 0) {
    r.residual_px = std::sqrt(sum_field / n);
    r.affine_residual_px = std::sqrt(sum_affine / n);
  }
}

AlignResult Fail(AlignStatus status, std::string why, AlignResult r) {
  r.status = status;
  r.message = std::move(why);
  r.field = cv::Mat2f();
  return r;
}

// The outlier stages, the affine and the field on r.matches; sets the
// status (ok or no_overlap), the figures and the stage timings.
void FinishAlignment(int w,
                     int h,
                     const AlignOptions& options,
                     AlignResult& r) {
  Stopwatch watch;
  for (AlignMatch& m : r.matches) m.fate = MatchFate::kInlier;
  RejectByIsolationForest(options, r.matches);
  RejectByLocalAffine(options, r.matches);
  r.timings.outliers_ms = watch.Lap();
  Summarise(r);
  if (r.inliers < options.min_inliers || !FitAffine(r.matches, &r.affine)) {
    r.status = AlignStatus::kNoOverlap;
    r.message = "too few consistent matches: " + std::to_string(r.inliers) +
                " of " + std::to_string(r.matches.size());
    r.field = cv::Mat2f();
    return;
  }
  const Vec2 centre(0.5 * (w - 1), 0.5 * (h - 1));
  r.translation_px = r.affine.leftCols<2>() * centre + r.affine.col(2) - centre;
  if (options.compute_field) {
    std::vector<Vec2> p, d;
    for (const AlignMatch& m : r.matches) {
      if (m.fate != MatchFate::kInlier) continue;
      p.push_back(m.fixed_px);
      d.push_back(m.moving_px - m.fixed_px);
    }
    r.field = DenseField(p, d, w, h, options.field);
  }
  r.timings.field_ms = watch.Lap();
  Summarise(r);
  r.status = AlignStatus::kOk;
}

AlignResult AlignChecked(const Frame& fixed,
                         const Frame& moving,
                         const AlignOptions& options,
                         const AlignPrior* prior) {
  AlignResult r;
  Stopwatch total, watch;
  LevelResult a = Level(fixed.image, options.level);
  LevelResult b = Level(moving.image, options.level);
  if (options.smoothing_px > 0 && a.status.ok() && b.status.ok()) {
    cv::GaussianBlur(a.image, a.image, cv::Size(), options.smoothing_px);
    cv::GaussianBlur(b.image, b.image, cv::Size(), options.smoothing_px);
  }
  r.timings.level_ms = watch.Lap();
  if (!a.status.ok()) {
    return Fail(AlignStatus::kInvalidInput,
                "fixed frame: " + a.status.message(), r);
  }
  if (!b.status.ok()) {
    return Fail(AlignStatus::kInvalidInput,
                "moving frame: " + b.status.message(), r);
  }
  r.prior_used = prior != nullptr && prior->shift_px.allFinite() &&
                 std::isfinite(prior->sigma_px) && prior->sigma_px >= 0 &&
                 3 * prior->sigma_px <= options.search_radius_px;
  if (r.prior_used) {
    r.coarse_shift_px = prior->shift_px;
  } else {
    r.coarse_shift_px = internal::CoarseShift(
        a.image, b.image, options.coarse_max_side_px, &r.coarse_response);
  }
  r.timings.coarse_ms = watch.Lap();
  const int w = a.image.cols, h = a.image.rows;
  r.overlap_fraction = OverlapFraction(r.coarse_shift_px, w, h);
  if (!r.coarse_shift_px.allFinite() ||
      r.overlap_fraction < options.min_overlap_fraction) {
    return Fail(AlignStatus::kNoOverlap, "the frames overlap too little", r);
  }
  r.matches =
      internal::PatchMatches(a.image, a.row_ok, b.image, b.row_ok,
                             r.coarse_shift_px, options, &r.patches_tried);
  if (options.keypoints) {
    for (const AlignMatch& m : internal::KeypointMatches(
             a.image, b.image, r.coarse_shift_px, options)) {
      r.matches.push_back(m);
    }
  }
  r.timings.match_ms = watch.Lap();
  FinishAlignment(w, h, options, r);
  int patch_inliers = 0;
  for (const AlignMatch& m : r.matches) {
    patch_inliers += !m.keypoint && m.fate == MatchFate::kInlier;
  }
  if (r.status == AlignStatus::kOk &&
      patch_inliers < options.min_matched_fraction * r.patches_tried) {
    r = Fail(
        AlignStatus::kNoOverlap,
        "too few patches match consistently: " + std::to_string(patch_inliers) +
            " of " + std::to_string(r.patches_tried),
        r);
  }
  r.timings.total_ms = total.Lap();
  return r;
}

}  // namespace

Vec2 AlignedPosition(const AlignResult& alignment, const Vec2& fixed_px) {
  if (!alignment.field.empty()) {
    return fixed_px + SampleField(alignment.field, fixed_px);
  }
  return alignment.affine.leftCols<2>() * fixed_px + alignment.affine.col(2);
}

AlignResult AlignMatches(std::vector<AlignMatch> matches,
                         int width,
                         int height,
                         const AlignOptions& options) {
  const Status valid = options.Validate();
  if (!valid.ok()) return Fail(AlignStatus::kInvalidInput, valid.message(), {});
  if (width <= 0 || height <= 0) {
    return Fail(AlignStatus::kInvalidInput, "empty frame", {});
  }
  AlignResult r;
  for (const AlignMatch& m : matches) {
    if (!m.fixed_px.allFinite() || !m.moving_px.allFinite()) {
      return Fail(AlignStatus::kInvalidInput, "a match is not finite", {});
    }
  }
  r.matches = std::move(matches);
  r.overlap_fraction = 1;
  Stopwatch total;
  try {
    FinishAlignment(width, height, options, r);
  } catch (const std::exception& e) {
    return Fail(AlignStatus::kInvalidInput,
                std::string("alignment failed: ") + e.what(), {});
  }
  r.timings.total_ms = total.Lap();
  return r;
}

AlignResult AlignFrames(const Frame& fixed,
                        const Frame& moving,
                        const AlignOptions& options,
                        const AlignPrior* prior) {
  const Status valid = options.Validate();
  if (!valid.ok()) return Fail(AlignStatus::kInvalidInput, valid.message(), {});
  const std::string problem = InputProblem(fixed, moving, options);
  if (!problem.empty()) return Fail(AlignStatus::kInvalidInput, problem, {});
  try {
    return AlignChecked(fixed, moving, options, prior);
  } catch (const std::exception& e) {
    return Fail(AlignStatus::kInvalidInput,
                std::string("alignment failed: ") + e.what(), {});
  }
}

}  // namespace anchord
