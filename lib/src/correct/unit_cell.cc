#include "anchord/correct/unit_cell.h"

#include "anchord/util/checked_round.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

namespace anchord {
namespace {

// Lattice coordinates, relative to the cell under the frame centre, are
// clamped to ±this many cells (NaN to the lower bound); only a degenerate
// H comes near it, and float keeps 0.001 of a cell at this magnitude.
constexpr float kMaxCells = 8192;

// Per-row coefficients of lattice_from_image (u, v) = (nu, nv) / w, each
// linear in x, as floats.
struct RowMap {
  float nu0, nu1, nv0, nv1, w0, w1;
};

// lattice_from_image = diag(B⁻¹, 1) · H⁻¹ with B = [a1 a2], translated by
// whole cells so that the frame centre lies in cell (0, 0) (the
// fractional parts are unchanged, and floats keep their precision for any
// model origin). nullopt when H or B cannot be inverted or the centre's
// cell is beyond int.
std::optional<Mat3> LatticeFromImage(const Mat3& image_from_model,
                                     const LatticeModel& model,
                                     cv::Size size) {
  Mat2 basis;
  basis.col(0) = model.a1_nm;
  basis.col(1) = model.a2_nm;
  if (!image_from_model.allFinite() || !basis.allFinite()) return std::nullopt;
  const double det_h = image_from_model.determinant();
  const double det_b = basis.determinant();
  if (!(std::abs(det_h) > 1e-12 * std::pow(image_from_model.norm(), 3)) ||
      !(std::abs(det_b) > 1e-12 * basis.squaredNorm())) {
    return std::nullopt;
  }
  Mat3 lattice_from_model = Mat3::Identity();
  lattice_from_model.topLeftCorner<2, 2>() = basis.inverse();
  Mat3 l = lattice_from_model * image_from_model.inverse();
  const Vec2 centre =
      Apply(l, Vec2(0.5 * (size.width - 1), 0.5 * (size.height - 1)));
  const std::optional<int> ci = RoundToInt(centre.x());
  const std::optional<int> cj = RoundToInt(centre.y());
  if (!ci || !cj) return std::nullopt;
  Mat3 shift = Mat3::Identity();
  shift(0, 2) = -*ci;
  shift(1, 2) = -*cj;
  return shift * l;
}

RowMap MapOfRow(const Mat3& l, int y) {
  return RowMap{
      static_cast<float>(l(0, 1) * y + l(0, 2)), static_cast<float>(l(0, 0)),
      static_cast<float>(l(1, 1) * y + l(1, 2)), static_cast<float>(l(1, 0)),
      static_cast<float>(l(2, 1) * y + l(2, 2)), static_cast<float>(l(2, 0))};
}

// Fractional part of t ∈ [−kMaxCells, kMaxCells], in [0, 1]. Branch-free
// with a truncating cast, so the row loops below vectorise (std::floor is
// a library call on baseline x86-64).
inline float Frac(float t) {
  const float f = t - static_cast<float>(static_cast<int32_t>(t));
  return f + (f < 0 ? 1.0f : 0.0f);
}

inline float Clamp(float t) {
  return t > -kMaxCells ? (t < kMaxCells ? t : kMaxCells) : -kMaxCells;
}

// The fractional lattice coordinates of row y's pixels, scaled by
// `scale` and shifted by `offset`: fu[x] = Frac(u(x, y)) · scale + offset.
void RowFractions(const RowMap& m,
                  int cols,
                  float scale,
                  float offset,
                  float* fu,
                  float* fv) {
  for (int x = 0; x < cols; ++x) {
    const float xf = static_cast<float>(x);
    const float inv_w = 1.0f / (m.w0 + m.w1 * xf);
    const float u = Clamp((m.nu0 + m.nu1 * xf) * inv_w);
    const float v = Clamp((m.nv0 + m.nv1 * xf) * inv_w);
    fu[x] = Frac(u) * scale + offset;
    fv[x] = Frac(v) * scale + offset;
  }
}

}  // namespace

UnitCellMean FoldIntoUnitCell(const cv::Mat1f& image,
                              const std::vector<bool>& row_ok,
                              const Mat3& image_from_model,
                              const LatticeModel& model,
                              int bins) {
  UnitCellMean cell;
  if (image.empty() || bins < 4 || bins > 256) {
    cell.status =
        Status::InvalidInput("unit cell: empty image or bins outside [4, 256]");
    return cell;
  }
  if (static_cast<double>(image.total()) < 4.0 * bins * bins) {
    cell.status = Status::InvalidInput(
        "unit cell: fewer than 4 pixels per bin on average");
    return cell;
  }
  const std::optional<Mat3> l =
      LatticeFromImage(image_from_model, model, image.size());
  if (!l) {
    cell.status = Status::InvalidInput("unit cell: H or the basis is singular");
    return cell;
  }
  std::vector<double> sum(static_cast<size_t>(bins) * bins, 0.0);
  std::vector<int> count(sum.size(), 0);
  std::vector<float> fu(image.cols), fv(image.cols);
  // Bins of [0, 1] · bins; the rare Frac of exactly 1 lands in the last.
  const float top = static_cast<float>(bins) - 0.5f;
  for (int y = 0; y < image.rows; ++y) {
    if (!row_ok.empty() && !row_ok[y]) continue;
    const float* row = image[y];
    RowFractions(MapOfRow(*l, y), image.cols, static_cast<float>(bins), 0.0f,
                 fu.data(), fv.data());
    for (int x = 0; x < image.cols; ++x) {
      if (!std::isfinite(row[x])) continue;
      const int bu = static_cast<int>(std::min(fu[x], top));
      const int bv = static_cast<int>(std::min(fv[x], top));
      const size_t k = static_cast<size_t>(bv) * bins + bu;
      sum[k] += row[x];
      ++count[k];
    }
  }
  double total = 0;
  int filled = 0;
  for (size_t k = 0; k < sum.size(); ++k) {
    if (count[k] == 0) continue;
    sum[k] /= count[k];
    total += sum[k];
    ++filled;
  }
  if (filled == 0) {
    cell.status = Status::InvalidInput("unit cell: no finite pixel to fold");
    return cell;
  }
  const double offset = total / filled;
  cell.bins = bins;
  cell.mean.create(bins, bins);
  for (int k = 0; k < bins * bins; ++k) {
    cell.mean(k / bins, k % bins) =
        count[k] > 0 ? static_cast<float>(sum[k] - offset) : 0.0f;
  }
  cell.filled_fraction = double(filled) / (bins * bins);
  return cell;
}

cv::Mat1f RenderUnitCell(const UnitCellMean& cell,
                         cv::Size size,
                         const Mat3& image_from_model,
                         const LatticeModel& model) {
  if (!cell.status.ok() || cell.mean.empty() || size.empty()) {
    return cv::Mat1f();
  }
  const std::optional<Mat3> l = LatticeFromImage(image_from_model, model, size);
  if (!l) return cv::Mat1f();
  // One bin of wrapped border on each side: cv::remap's bilinear sample
  // at bin coordinate s lies between the bin centres of the periodic cell.
  cv::Mat1f padded;
  cv::copyMakeBorder(cell.mean, padded, 1, 1, 1, 1, cv::BORDER_WRAP);
  cv::Mat1f map_u(size), map_v(size);
  for (int y = 0; y < size.height; ++y) {
    // Centre of bin k at padded column k + 1: s = frac · bins − 0.5 + 1.
    RowFractions(MapOfRow(*l, y), size.width, static_cast<float>(cell.bins),
                 0.5f, map_u[y], map_v[y]);
  }
  cv::Mat1f out;
  cv::remap(padded, out, map_u, map_v, cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return out;
}

}  // namespace anchord
