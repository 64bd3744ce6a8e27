#include "support/domain_composer.h"

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <map>
#include <random>

namespace anchord::testing {
namespace {

SyntheticScanOptions Domain(const TwoRegionOptions& o,
                            double rotation_deg,
                            uint64_t seed) {
  SyntheticScanOptions s;
  s.width_px = o.size_px;
  s.height_px = o.size_px;
  s.field_of_view_nm = o.field_of_view_nm;
  s.rotation_deg = rotation_deg;
  s.scale_error_x = 0.04;
  s.scale_error_y = -0.03;
  s.shear = 0.03;
  s.noise = o.noise;
  s.vacancy_fraction = 0.03;
  s.seed = seed;
  return s;
}

// Bumps like adatoms (σ 0.17 nm, height 1, blurred as the generator's
// tip) at random places, 12 per 6.26 nm² (the 7×7 cell's adatom
// density), plus white noise.
cv::Mat1f Disordered(const TwoRegionOptions& o) {
  const double px_nm = o.field_of_view_nm / o.size_px;
  const double area_nm2 = o.field_of_view_nm * o.field_of_view_nm;
  const int n = static_cast<int>(area_nm2 * 12.0 / 6.26);
  std::mt19937_64 rng(o.seed * 31 + 5);
  std::uniform_real_distribution<double> u(0.0, o.size_px);
  cv::Mat1f img(o.size_px, o.size_px, 0.0f);
  const double sigma_px = std::hypot(0.17, 0.05) / px_nm;
  const int reach = static_cast<int>(std::ceil(3 * sigma_px));
  for (int k = 0; k < n; ++k) {
    const double cx = u(rng), cy = u(rng);
    const int x0 = static_cast<int>(cx), y0 = static_cast<int>(cy);
    for (int y = std::max(0, y0 - reach);
         y <= std::min(o.size_px - 1, y0 + reach); ++y) {
      for (int x = std::max(0, x0 - reach);
           x <= std::min(o.size_px - 1, x0 + reach); ++x) {
        const double d2 = (x - cx) * (x - cx) + (y - cy) * (y - cy);
        img(y, x) +=
            static_cast<float>(std::exp(-0.5 * d2 / (sigma_px * sigma_px)));
      }
    }
  }
  std::normal_distribution<double> noise(0.0, o.noise);
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) img(y, x) += noise(rng);
  }
  return img;
}

}  // namespace

TwoRegionFrame MakeTwoRegionFrame(const TwoRegionOptions& o) {
  TwoRegionFrame f;
  f.pixel_size_nm = o.field_of_view_nm / o.size_px;
  const cv::Mat1f a =
      MakeSyntheticScan(Domain(o, o.rotation_a_deg, o.seed)).frame.image;
  const cv::Mat1f b =
      o.b_disordered
          ? Disordered(o)
          : MakeSyntheticScan(Domain(o, o.rotation_b_deg, o.seed + 1000))
                .frame.image;
  f.image = cv::Mat1f(o.size_px, o.size_px);
  f.truth = cv::Mat1b(o.size_px, o.size_px);
  f.boundary_distance_nm = cv::Mat1f(o.size_px, o.size_px);
  const double t = o.boundary_angle_deg * CV_PI / 180.0;
  const double c = 0.5 * (o.size_px - 1) * (1.0 + o.boundary_offset);
  for (int y = 0; y < o.size_px; ++y) {
    for (int x = 0; x < o.size_px; ++x) {
      // Signed distance to the line through (c, c) with normal t.
      const double s = (x - c) * std::cos(t) + (y - c) * std::sin(t);
      const bool in_b = s > 0;
      f.truth(y, x) = in_b ? 1 : 0;
      f.image(y, x) = in_b ? b(y, x) : a(y, x);
      f.boundary_distance_nm(y, x) =
          static_cast<float>(std::abs(s) * f.pixel_size_nm);
    }
  }
  return f;
}

double PixelAgreement(const cv::Mat1i& labels,
                      const TwoRegionFrame& frame,
                      double band_nm) {
  std::map<int, std::pair<long, long>> votes;  // label → (region 0, 1)
  for (int y = 0; y < labels.rows; ++y) {
    for (int x = 0; x < labels.cols; ++x) {
      if (frame.boundary_distance_nm(y, x) <= band_nm) continue;
      auto& v = votes[labels(y, x)];
      (frame.truth(y, x) ? v.second : v.first) += 1;
    }
  }
  long good = 0, total = 0;
  for (const auto& [label, v] : votes) {
    total += v.first + v.second;
    if (label >= 0) good += std::max(v.first, v.second);
  }
  return total ? double(good) / total : 0.0;
}

}  // namespace anchord::testing
