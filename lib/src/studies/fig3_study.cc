#include "anchord/studies/fig3_study.h"

#include "anchord/quality/metrics.h"
#include "anchord/register/homography.h"
#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace anchord {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kOksThresholds[3] = {0.5, 0.75, 0.95};
constexpr int kMaxCount = 10000;
// |w| below this relative to the point's homogeneous scale: at infinity.
constexpr double kMinDivisor = 1e-12;
// The divisor Apply (util/geometry.h) requires: |w| > this, absolute.
constexpr double kApplyMinDivisor = 1e-12;

struct EstimatorName {
  Fig3Estimator estimator;
  const char* name;
};
constexpr EstimatorName kEstimatorNames[] = {
    {Fig3Estimator::kLmeds, "lmeds"},      {Fig3Estimator::kAnchord, "anchord"},
    {Fig3Estimator::kLeastSquares, "lsq"}, {Fig3Estimator::kRansac, "ransac"},
    {Fig3Estimator::kUsac, "usac"},
};

// Side n of an n×n grid of `count` points; 0 when count is no square.
int GridSide(int count) {
  if (count < 1) return 0;
  const int n = static_cast<int>(std::lround(std::sqrt(count)));
  return n * n == count ? n : 0;
}

// The median; the midpoint of the two middle values for an even count,
// NaN for none.
double MidpointMedian(std::vector<double> values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  const size_t n = values.size();
  std::nth_element(values.begin(), values.begin() + n / 2, values.end());
  const double upper = values[n / 2];
  if (n % 2 == 1) return upper;
  return 0.5 *
         (upper + *std::max_element(values.begin(), values.begin() + n / 2));
}

// SplitMix64 finaliser over the keys: a well-mixed seed per sample.
uint64_t MixSeed(uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t x = seed;
  for (uint64_t k : {a, b}) {
    x += 0x9E3779B97F4A7C15ull + k;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
  }
  return x;
}

// Apply(h, p), or nullopt when p lies on (or next to) h's line at
// infinity or the result is not finite.
std::optional<Vec2> SafeApply(const Mat3& h, const Vec2& p) {
  const Eigen::Vector3d q = h * Eigen::Vector3d(p.x(), p.y(), 1.0);
  const double scale = std::max({std::abs(q.x()), std::abs(q.y()), 1.0});
  if (!(std::abs(q.z()) > kMinDivisor * scale)) return std::nullopt;
  const Vec2 out(q.x() / q.z(), q.y() / q.z());
  if (!out.allFinite()) return std::nullopt;
  return out;
}

double HalfSide(int count, double margin) {
  return 0.5 * (GridSide(count) - 1) + margin;
}

// True when Apply(h, p) is defined for every p of `points` (the condition
// that Apply checks) and h is finite.
bool ApplicableOver(const Mat3& h, const std::vector<Vec2>& points) {
  if (!h.allFinite()) return false;
  for (const Vec2& p : points) {
    const double w = h.row(2).dot(Eigen::Vector3d(p.x(), p.y(), 1.0));
    if (!(std::abs(w) > kApplyMinDivisor)) return false;
  }
  return true;
}

// FitHomographyIterated's algorithm (robust LMedS start, ResidualInliers,
// least-squares refits on the inliers until the set is stable), with one
// guard: a fit that sends any anchor to infinity (a degenerate inlier set,
// e.g. four points of which three are collinear) is not used further — a
// refit ends the iteration with the previous fit, a start is returned as
// it is (its errors are infinite: a failure). EstimateHomography refuses
// fits that send one of their own points to infinity; this also covers the
// anchors outside the inlier set (N = 9, σ = 0.2, seed 1, sample 455).
std::optional<Mat3> FitIteratedGuarded(const Fig3Options& o,
                                       const std::vector<Vec2>& model,
                                       const std::vector<Vec2>& image) {
  Mat3 h;
  if (!EstimateHomography(model, image, HomographyMethod::kLmeds,
                          o.ransac_threshold, h)) {
    return std::nullopt;
  }
  if (!ApplicableOver(h, model)) return h;
  const auto inliers_of = [&](const Mat3& fit) {
    std::vector<Vec2> residuals;
    for (size_t k = 0; k < model.size(); ++k) {
      residuals.push_back(image[k] - Apply(fit, model[k]));
    }
    return ResidualInliers(residuals, o.anchord_inlier_sigmas,
                           o.anchord_min_inlier, o.anchord_max_inlier);
  };
  std::vector<bool> inlier = inliers_of(h);
  for (int it = 0; it < o.anchord_max_iterations; ++it) {
    std::vector<Vec2> m, i;
    for (size_t k = 0; k < model.size(); ++k) {
      if (!inlier[k]) continue;
      m.push_back(model[k]);
      i.push_back(image[k]);
    }
    Mat3 refit;
    if (!EstimateHomography(m, i, std::nullopt, 0.0, refit) ||
        !ApplicableOver(refit, model)) {
      break;
    }
    h = refit;
    std::vector<bool> next = inliers_of(refit);
    if (next == inlier) break;
    inlier = std::move(next);
  }
  return h;
}

}  // namespace

const char* Fig3EstimatorName(Fig3Estimator e) {
  for (const EstimatorName& n : kEstimatorNames) {
    if (n.estimator == e) return n.name;
  }
  return "lmeds";
}

std::optional<Fig3Estimator> ParseFig3Estimator(std::string_view name) {
  for (const EstimatorName& n : kEstimatorNames) {
    if (name == n.name) return n.estimator;
  }
  return std::nullopt;
}

const char* Fig3WhereName(Fig3Where w) {
  return w == Fig3Where::kFitted ? "fitted" : "field";
}

Status Fig3Options::Validate() const {
  Violations v("fig3");
  v.Require(!sigmas.empty(), "sigmas", "(empty)", "not empty");
  for (double sigma : sigmas) {
    v.Require(std::isfinite(sigma) && sigma >= 0, "sigmas[]", sigma, ">= 0");
  }
  v.Require(!counts.empty(), "counts", "(empty)", "not empty");
  for (int count : counts) {
    v.Require(GridSide(count) >= 2 && count <= kMaxCount, "counts[]", count,
              "a perfect square in [4, 10000]");
  }
  v.Require(!estimators.empty(), "estimators", "(empty)", "not empty");
  const std::set<Fig3Estimator> unique(estimators.begin(), estimators.end());
  v.Require(unique.size() == estimators.size(), "estimators", estimators.size(),
            "no estimator twice");
  ANCHORD_OPTION_GE(v, samples, 1);
  ANCHORD_OPTION_GT(v, kappa, 0.0);
  ANCHORD_OPTION_GE(v, field_grid, 2);
  ANCHORD_OPTION_GE(v, field_margin, 0.0);
  ANCHORD_OPTION_GE(v, max_scale, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, max_shear, 0.0, 0.5);
  ANCHORD_OPTION_IN_CLOSED(v, max_rotation_deg, 0.0, 180.0);
  v.Require(max_perspective >= 0 && max_perspective < 0.5, "max_perspective",
            max_perspective, "in [0, 0.5)");
  ANCHORD_OPTION_GE(v, max_translation, 0.0);
  ANCHORD_OPTION_GT(v, ransac_threshold, 0.0);
  ANCHORD_OPTION_GT(v, anchord_inlier_sigmas, 0.0);
  ANCHORD_OPTION_GT(v, anchord_min_inlier, 0.0);
  ANCHORD_OPTION_GT(v, anchord_max_inlier, anchord_min_inlier);
  ANCHORD_OPTION_GE(v, anchord_max_iterations, 1);
  return v.ToStatus();
}

std::vector<Vec2> AnchorGrid(int count) {
  const int n = GridSide(count);
  ANCHORD_CHECK(n >= 1) << "count " << count << " is no perfect square";
  const double c = 0.5 * (n - 1);
  std::vector<Vec2> points;
  points.reserve(count);
  for (int row = 0; row < n; ++row) {
    for (int col = 0; col < n; ++col) points.emplace_back(col - c, row - c);
  }
  return points;
}

std::vector<Vec2> FieldGrid(int count, const Fig3Options& options) {
  const double h = HalfSide(count, options.field_margin);
  const int g = options.field_grid;
  std::vector<Vec2> points;
  points.reserve(g * g);
  for (int row = 0; row < g; ++row) {
    for (int col = 0; col < g; ++col) {
      points.emplace_back(-h + 2 * h * col / (g - 1),
                          -h + 2 * h * row / (g - 1));
    }
  }
  return points;
}

Mat3 RandomFig3Homography(const Fig3Options& o,
                          double field_half_side,
                          std::mt19937_64& rng) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const auto uniform = [&](double lo, double hi) {
    return lo + (hi - lo) * unit(rng);
  };
  const double log_scale = std::log(o.max_scale);
  Mat2 scale = Mat2::Zero();
  scale(0, 0) = std::exp(uniform(-log_scale, log_scale));
  scale(1, 1) = std::exp(uniform(-log_scale, log_scale));
  Mat2 shear = Mat2::Identity();
  shear(0, 1) = uniform(-o.max_shear, o.max_shear);
  const double theta =
      uniform(-o.max_rotation_deg, o.max_rotation_deg) * kPi / 180.0;
  Mat2 rotation;
  rotation << std::cos(theta), -std::sin(theta), std::sin(theta),
      std::cos(theta);
  const Mat2 linear = rotation * shear * scale;
  // The divisor changes by `relative` over the half-diagonal of the field
  // as seen after the linear part (≈ √2 · half side · mean scale).
  const double relative = uniform(0.0, o.max_perspective);
  const double direction = uniform(0.0, 2 * kPi);
  const double half_diagonal = std::sqrt(2.0) * field_half_side *
                               std::sqrt(std::abs(linear.determinant()));
  Mat3 perspective = Mat3::Identity();
  perspective(2, 0) = relative / half_diagonal * std::cos(direction);
  perspective(2, 1) = relative / half_diagonal * std::sin(direction);
  const Vec2 t(uniform(-o.max_translation, o.max_translation),
               uniform(-o.max_translation, o.max_translation));
  // Model y up, image y down (README.md, Conventions): every map reverses
  // orientation.
  Mat2 flip = Mat2::Identity();
  flip(1, 1) = -1;
  Mat3 h = AffineTransform(Mat2::Identity(), t) * perspective *
           AffineTransform(linear * flip, Vec2::Zero());
  return h / h(2, 2);
}

Fig3Sample MakeFig3Sample(const Fig3Options& options,
                          int count,
                          double sigma,
                          int64_t index) {
  std::mt19937_64 rng(MixSeed(options.seed, static_cast<uint64_t>(count),
                              static_cast<uint64_t>(index)));
  Fig3Sample s;
  s.model = AnchorGrid(count);
  s.image_from_model =
      RandomFig3Homography(options, HalfSide(count, options.field_margin), rng);
  std::normal_distribution<double> gauss(0.0, 1.0);
  s.image.reserve(s.model.size());
  for (const Vec2& m : s.model) {
    const Vec2 unit_noise(gauss(rng), gauss(rng));
    s.image.push_back(Apply(s.image_from_model, m) + sigma * unit_noise);
  }
  return s;
}

std::optional<Mat3> EstimateFig3Homography(Fig3Estimator estimator,
                                           const Fig3Options& o,
                                           const std::vector<Vec2>& model,
                                           const std::vector<Vec2>& image) {
  Mat3 h;
  bool ok = false;
  switch (estimator) {
    case Fig3Estimator::kLmeds:
      ok = EstimateHomography(model, image, HomographyMethod::kLmeds,
                              o.ransac_threshold, h);
      break;
    case Fig3Estimator::kLeastSquares:
      ok = EstimateHomography(model, image, std::nullopt, 0.0, h);
      break;
    case Fig3Estimator::kRansac:
      ok = EstimateHomography(model, image, HomographyMethod::kRansac,
                              o.ransac_threshold, h);
      break;
    case Fig3Estimator::kUsac:
      ok = EstimateHomography(model, image, HomographyMethod::kUsac,
                              o.ransac_threshold, h);
      break;
    case Fig3Estimator::kAnchord:
      return FitIteratedGuarded(o, model, image);
  }
  if (!ok || !h.allFinite()) return std::nullopt;
  return h;
}

std::vector<double> ReconstructionErrors(const Mat3& estimated,
                                         const Mat3& truth,
                                         const std::vector<Vec2>& points) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const Mat3 model_from_image = estimated.inverse();
  std::vector<double> errors;
  errors.reserve(points.size());
  for (const Vec2& q : points) {
    const std::optional<Vec2> p = SafeApply(truth, q);
    const std::optional<Vec2> back =
        p ? SafeApply(model_from_image, *p) : std::nullopt;
    errors.push_back(back ? (*back - q).norm() : kInf);
  }
  return errors;
}

Fig3Accumulator::Fig3Accumulator(double kappa) : kappa_(kappa) {}

void Fig3Accumulator::AddSample(const std::vector<double>& errors) {
  double sum = 0;
  for (double d : errors) {
    sum += d;
    const double oks = Oks(d, kappa_);
    for (int t = 0; t < 3; ++t) hits_[t] += oks >= kOksThresholds[t];
  }
  error_sum_ += sum;
  error_points_ += static_cast<int64_t>(errors.size());
  total_points_ += static_cast<int64_t>(errors.size());
  sample_mae_.push_back(errors.empty() ? 0.0 : sum / errors.size());
}

void Fig3Accumulator::AddFailure(int points) {
  total_points_ += points;
  ++failures_;
}

void Fig3Accumulator::Finish(Fig3Row& row) const {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  row.mae = error_points_ > 0 ? error_sum_ / error_points_ : nan;
  row.mae_median = MidpointMedian(sample_mae_);
  const auto recall = [&](int t) {
    return total_points_ > 0 ? static_cast<double>(hits_[t]) / total_points_
                             : 0.0;
  };
  row.oks50 = recall(0);
  row.oks75 = recall(1);
  row.oks95 = recall(2);
  row.samples = static_cast<int>(sample_mae_.size()) + failures_;
  row.failures = failures_;
}

std::vector<Fig3Row> RunFig3Cell(const Fig3Options& options,
                                 int count,
                                 double sigma) {
  const std::vector<Vec2> field = FieldGrid(count, options);
  const size_t k_count = options.estimators.size();
  // Per estimator: fitted, field.
  std::vector<Fig3Accumulator> acc(2 * k_count, Fig3Accumulator(options.kappa));
  for (int64_t index = 0; index < options.samples; ++index) {
    const Fig3Sample s = MakeFig3Sample(options, count, sigma, index);
    for (size_t k = 0; k < k_count; ++k) {
      const std::optional<Mat3> h = EstimateFig3Homography(
          options.estimators[k], options, s.model, s.image);
      std::vector<double> fitted, at_field;
      if (h) {
        fitted = ReconstructionErrors(*h, s.image_from_model, s.model);
        at_field = ReconstructionErrors(*h, s.image_from_model, field);
      }
      const auto all_finite = [](const std::vector<double>& e) {
        return std::all_of(e.begin(), e.end(),
                           [](double d) { return std::isfinite(d); });
      };
      if (h && all_finite(fitted) && all_finite(at_field)) {
        acc[2 * k].AddSample(fitted);
        acc[2 * k + 1].AddSample(at_field);
      } else {
        acc[2 * k].AddFailure(count);
        acc[2 * k + 1].AddFailure(static_cast<int>(field.size()));
      }
    }
  }
  std::vector<Fig3Row> rows;
  for (size_t k = 0; k < k_count; ++k) {
    for (const Fig3Where where : {Fig3Where::kFitted, Fig3Where::kField}) {
      Fig3Row row;
      row.estimator = options.estimators[k];
      row.sigma = sigma;
      row.count = count;
      row.where = where;
      acc[2 * k + (where == Fig3Where::kField)].Finish(row);
      rows.push_back(row);
    }
  }
  return rows;
}

std::vector<Fig3Row> RunFig3Study(const Fig3Options& options) {
  const Status valid = options.Validate();
  ANCHORD_CHECK(valid.ok()) << valid.message();
  std::vector<Fig3Row> rows;
  for (double sigma : options.sigmas) {
    for (int count : options.counts) {
      for (const Fig3Row& row : RunFig3Cell(options, count, sigma)) {
        rows.push_back(row);
      }
    }
  }
  return rows;
}

}  // namespace anchord
