#include "anchord/preprocess/level.h"

#include "anchord/util/validation.h"

#include "util/robust.h"
#include <Eigen/Dense>

#include <algorithm>
#include <cmath>

namespace anchord {
namespace {

using internal::Median;
using internal::RobustSigma;

// Rows with too few finite pixels are masked; NaN pixels elsewhere take the
// row median so later filters see finite data.
int FillNonFinite(cv::Mat1f& img, std::vector<bool>& row_ok) {
  if (cv::checkRange(img, true)) return 0;  // all finite: the common case
  int masked = 0;
  std::vector<double> finite;
  for (int y = 0; y < img.rows; ++y) {
    finite.clear();
    float* row = img[y];
    for (int x = 0; x < img.cols; ++x) {
      if (std::isfinite(row[x])) finite.push_back(row[x]);
    }
    if (finite.size() < static_cast<size_t>(img.cols) / 2) {
      row_ok[y] = false;
      ++masked;
      continue;
    }
    if (finite.size() == static_cast<size_t>(img.cols)) continue;
    const float m = static_cast<float>(Median(finite));
    for (int x = 0; x < img.cols; ++x) {
      if (!std::isfinite(row[x])) row[x] = m;
    }
  }
  return masked;
}

// Least-squares plane z = c0 + c1 x + c2 y on a subsample of good rows,
// refitted once without points beyond 2.5 robust sigma.
void RemovePlane(cv::Mat1f& img, const std::vector<bool>& row_ok) {
  const int step = std::max(1, std::max(img.rows, img.cols) / 64);
  std::vector<Eigen::Vector3d> pts;
  for (int y = 0; y < img.rows; y += step) {
    if (!row_ok[y]) continue;
    for (int x = 0; x < img.cols; x += step) pts.emplace_back(x, y, img(y, x));
  }
  if (pts.size() < 3) return;
  Eigen::Vector3d coef = Eigen::Vector3d::Zero();
  double limit = std::numeric_limits<double>::infinity();
  for (int pass = 0; pass < 2; ++pass) {
    Eigen::Matrix3d ata = Eigen::Matrix3d::Zero();
    Eigen::Vector3d atb = Eigen::Vector3d::Zero();
    std::vector<double> residuals;
    for (const auto& p : pts) {
      const Eigen::Vector3d a(1.0, p.x(), p.y());
      const double r = p.z() - a.dot(coef);
      if (std::abs(r) > limit) continue;
      ata += a * a.transpose();
      atb += a * p.z();
    }
    coef = ata.ldlt().solve(atb);
    for (const auto& p : pts) {
      residuals.push_back(p.z() - Eigen::Vector3d(1.0, p.x(), p.y()).dot(coef));
    }
    limit = 2.5 * RobustSigma(residuals) + 1e-12;
  }
  const float slope_x = static_cast<float>(coef[1]);
  for (int y = 0; y < img.rows; ++y) {
    const float base = static_cast<float>(coef[0] + coef[2] * y);
    float* row = img[y];
    for (int x = 0; x < img.cols; ++x) row[x] -= base + slope_x * x;
  }
}

// Robust offset of one row: the mean after two rounds of clipping at 2.5
// standard deviations (spikes and a few deep holes do not pull it; a
// branch-free pass per round is several times cheaper than a median).
float ClippedMean(const float* row, int n) {
  // Sums relative to the first pixel keep float accumulation accurate.
  const float ref = row[0];
  float sum = 0, sq = 0;
  for (int x = 0; x < n; ++x) {
    const float v = row[x] - ref;
    sum += v;
    sq += v * v;
  }
  float mean = sum / n;
  float sd = std::sqrt(std::max(0.0f, sq / n - mean * mean));
  for (int round = 0; round < 2; ++round) {
    const float lo = mean - 2.5f * sd, hi = mean + 2.5f * sd;
    float s = 0, s2 = 0, count = 0;
    for (int x = 0; x < n; ++x) {
      const float v = row[x] - ref;
      const float in = (v >= lo && v <= hi) ? 1.0f : 0.0f;
      s += in * v;
      s2 += in * v * v;
      count += in;
    }
    if (count == 0) break;
    mean = s / count;
    sd = std::sqrt(std::max(0.0f, s2 / count - mean * mean));
  }
  return ref + mean;
}

// Subtracts each row's robust offset (per-line levelling), estimated on
// the row minus `signal` when that has the image's size.
void SubtractRowOffsets(cv::Mat1f& img, const cv::Mat1f& signal) {
  const bool with_signal = signal.size() == img.size();
  std::vector<float> residual(with_signal ? img.cols : 0);
  for (int y = 0; y < img.rows; ++y) {
    float* row = img[y];
    float m = 0;
    if (with_signal) {
      const float* s = signal[y];
      for (int x = 0; x < img.cols; ++x) residual[x] = row[x] - s[x];
      m = ClippedMean(residual.data(), img.cols);
    } else {
      m = ClippedMean(row, img.cols);
    }
    for (int x = 0; x < img.cols; ++x) row[x] -= m;
  }
}

// Marks rows whose mean absolute difference to the average of their
// neighbour rows is far above the frame's typical value (spikes, tip
// changes). Returns the number of newly masked rows.
int MaskGlitchRows(const cv::Mat1f& img,
                   std::vector<bool>& row_ok,
                   double threshold) {
  const int h = img.rows;
  if (h < 3) return 0;
  std::vector<double> score(h, 0.0);
  for (int y = 0; y < h; ++y) {
    const int ya = y > 0 ? y - 1 : y + 1;
    const int yb = y < h - 1 ? y + 1 : y - 1;
    double sum = 0;
    for (int x = 0; x < img.cols; ++x) {
      sum += std::abs(img(y, x) - 0.5 * (img(ya, x) + img(yb, x)));
    }
    score[y] = sum / img.cols;
  }
  std::vector<double> sorted = score;
  const double typical = Median(sorted);
  int masked = 0;
  for (int y = 0; y < h; ++y) {
    // A glitch row also raises the score of its neighbours by half its
    // own excess; only the row that stands out against both is masked.
    const bool peak = (y == 0 || score[y] >= score[y - 1]) &&
                      (y == h - 1 || score[y] >= score[y + 1]);
    if (row_ok[y] && peak && score[y] > threshold * typical) {
      row_ok[y] = false;
      ++masked;
    }
  }
  return masked;
}

// Fills masked rows by linear interpolation between the nearest good rows.
void FillMaskedRows(cv::Mat1f& img, const std::vector<bool>& row_ok) {
  const int h = img.rows;
  for (int y = 0; y < h; ++y) {
    if (row_ok[y]) continue;
    int above = y - 1, below = y + 1;
    while (above >= 0 && !row_ok[above]) --above;
    while (below < h && !row_ok[below]) ++below;
    for (int x = 0; x < img.cols; ++x) {
      if (above >= 0 && below < h) {
        const double t = double(y - above) / (below - above);
        img(y, x) =
            static_cast<float>((1 - t) * img(above, x) + t * img(below, x));
      } else if (above >= 0) {
        img(y, x) = img(above, x);
      } else if (below < h) {
        img(y, x) = img(below, x);
      }
    }
  }
}

}  // namespace

Status LevelOptions::Validate() const {
  Violations v("level");
  ANCHORD_OPTION_GT(v, glitch_threshold, 1.0);
  ANCHORD_OPTION_IN_OPEN(v, max_masked_row_fraction, 0.0, 1.0);
  return v.ToStatus();
}

LevelResult Level(const cv::Mat1f& raw,
                  const LevelOptions& options,
                  const cv::Mat1f& lattice_signal) {
  LevelResult result;
  if (raw.empty()) {
    result.status = Status::InvalidInput("level: empty image");
    return result;
  }
  cv::Mat1f img = raw.clone();
  result.row_ok.assign(img.rows, true);
  int masked = FillNonFinite(img, result.row_ok);
  if (masked == img.rows) {
    result.status = Status::InvalidInput("level: no row has finite data");
    return result;
  }
  FillMaskedRows(img, result.row_ok);
  if (options.remove_plane) RemovePlane(img, result.row_ok);
  if (options.level_lines) {
    result.plane_removed = img.clone();
    SubtractRowOffsets(img, lattice_signal);
  }
  if (options.mask_glitches) {
    // Refilled rows interpolate levelled neighbours: no second levelling.
    masked += MaskGlitchRows(img, result.row_ok, options.glitch_threshold);
    FillMaskedRows(img, result.row_ok);
  }
  result.masked_rows = masked;
  if (masked > options.max_masked_row_fraction * img.rows) {
    result.status = Status::InvalidInput("level: " + std::to_string(masked) +
                                         " of " + std::to_string(img.rows) +
                                         " rows are missing or glitched");
    return result;
  }
  const int step = std::max(1, img.rows * img.cols / 8192);
  std::vector<double> sample;
  for (int k = 0; k < img.rows * img.cols; k += step) {
    sample.push_back(img(k / img.cols, k % img.cols));
  }
  const double sigma = RobustSigma(sample);
  // Float rounding leaves ~1e-7 of the data's magnitude after the plane;
  // spread at that level is no contrast.
  double magnitude = 1e-30;
  for (int k = 0; k < img.rows * img.cols; k += step) {
    const float v = raw(k / img.cols, k % img.cols);
    if (std::isfinite(v)) magnitude = std::max(magnitude, double(std::abs(v)));
  }
  const double floor = 1e-5 * magnitude;
  if (!(sigma > floor) || !std::isfinite(sigma)) {
    result.status = Status::NoLattice("level: the frame is flat (no contrast)");
    return result;
  }
  img *= 1.0 / sigma;
  result.scale = sigma;
  result.image = img;
  return result;
}

}  // namespace anchord
