#include "anchord/synth/synthetic_pair.h"

#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <random>

namespace anchord {

Status SyntheticPairOptions::Validate() const {
  Violations v("synthetic_pair");
  v.Merge(scan.Validate());
  const double half_w = 0.5 * scan.width_px, half_h = 0.5 * scan.height_px;
  v.Require(
      translation_px.allFinite() && std::abs(translation_px.x()) <= half_w &&
          std::abs(translation_px.y()) <= half_h,
      "translation_px", translation_px.transpose(), "within ± half the frame");
  ANCHORD_OPTION_IN_CLOSED(v, bumps, 0, 64);
  ANCHORD_OPTION_IN_CLOSED(v, bump_amplitude_px, 0.0, 50.0);
  ANCHORD_OPTION_IN_CLOSED(v, bump_sigma_fraction, 0.05, 2.0);
  return v.ToStatus();
}

namespace {

Vec2 BumpsAt(const std::vector<SyntheticBump>& bumps, const Vec2& q) {
  Vec2 sum = Vec2::Zero();
  for (const SyntheticBump& b : bumps) {
    const double r2 = (q - b.centre_px).squaredNorm();
    sum += b.amplitude_px * std::exp(-0.5 * r2 / (b.sigma_px * b.sigma_px));
  }
  return sum;
}

std::vector<SyntheticBump> DrawBumps(const SyntheticPairOptions& o,
                                     std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  const double side = std::max(o.scan.width_px, o.scan.height_px);
  std::vector<SyntheticBump> bumps;
  for (int k = 0; k < o.bumps; ++k) {
    SyntheticBump b;
    b.centre_px = Vec2(u(rng) * o.scan.width_px, u(rng) * o.scan.height_px);
    const double angle = 2 * M_PI * u(rng);
    const double size = o.bump_amplitude_px * (0.5 + 0.5 * u(rng));
    b.amplitude_px = size * Vec2(std::cos(angle), std::sin(angle));
    b.sigma_px = o.bump_sigma_fraction * side;
    bumps.push_back(b);
  }
  return bumps;
}

// White and per-row noise, as the scan generator draws them.
void AddNoise(cv::Mat1f& image,
              double white,
              double line,
              std::mt19937_64& rng) {
  std::normal_distribution<double> gauss(0, 1);
  for (int y = 0; y < image.rows; ++y) {
    const double offset = line * gauss(rng);
    float* row = image.ptr<float>(y);
    for (int x = 0; x < image.cols; ++x) {
      row[x] += static_cast<float>(offset + white * gauss(rng));
    }
  }
}

}  // namespace

Vec2 SyntheticPair::TrueDisplacement(const Vec2& p_px) const {
  Vec2 f = translation_px;
  // A contraction for bumps gentler than 1 px per px: at most 50 steps,
  // ended once a step moves less than 1e-9 px.
  for (int k = 0; k < 50; ++k) {
    const Vec2 next = translation_px + BumpsAt(bumps, p_px + f);
    const bool settled = (next - f).norm() < 1e-9;
    f = next;
    if (settled) break;
  }
  return f;
}

std::vector<double> SyntheticPair::TargetErrorsPx(const cv::Mat2f& estimate,
                                                  int step) const {
  ANCHORD_CHECK(estimate.size() == field.size() && step > 0);
  std::vector<double> errors;
  const int w = field.cols, h = field.rows;
  for (int y = 0; y < h; y += step) {
    for (int x = 0; x < w; x += step) {
      const cv::Vec2f t = field(y, x), f = estimate(y, x);
      const double mx = x + t[0], my = y + t[1];
      if (mx < 0 || my < 0 || mx > w - 1 || my > h - 1) continue;
      errors.push_back(std::hypot(f[0] - t[0], f[1] - t[1]));
    }
  }
  return errors;
}

SyntheticPair MakeSyntheticPair(const SyntheticPairOptions& options) {
  ANCHORD_CHECK(options.Validate().ok());
  const SyntheticScanOptions& s = options.scan;
  SyntheticPair pair;
  std::mt19937_64 rng(options.seed);
  pair.translation_px = options.translation_px;
  pair.bumps = DrawBumps(options, rng);
  // The noiseless base scan: both frames plus a margin for the field.
  const double reach = options.translation_px.lpNorm<Eigen::Infinity>() +
                       options.bumps * options.bump_amplitude_px + 4;
  const int margin = static_cast<int>(std::ceil(reach));
  SyntheticScanOptions base = s;
  base.width_px = s.width_px + 2 * margin;
  base.height_px = s.height_px + 2 * margin;
  base.field_of_view_nm = s.field_of_view_nm * base.width_px / s.width_px;
  base.noise = 0;
  base.line_noise = 0;
  base.glitch_lines = 0;
  const SyntheticScan scan = MakeSyntheticScan(base);
  // fixed(p) = base(p + margin); moving(q) = base(q + margin − t − b(q)).
  cv::Mat1f map_fx(s.height_px, s.width_px), map_fy(s.height_px, s.width_px);
  cv::Mat1f map_mx(s.height_px, s.width_px), map_my(s.height_px, s.width_px);
  for (int y = 0; y < s.height_px; ++y) {
    for (int x = 0; x < s.width_px; ++x) {
      const Vec2 q(x, y);
      const Vec2 from = q + Vec2::Constant(margin) - options.translation_px -
                        BumpsAt(pair.bumps, q);
      map_fx(y, x) = static_cast<float>(x + margin);
      map_fy(y, x) = static_cast<float>(y + margin);
      map_mx(y, x) = static_cast<float>(from.x());
      map_my(y, x) = static_cast<float>(from.y());
    }
  }
  pair.fixed = scan.frame;
  pair.moving = scan.frame;
  cv::remap(scan.frame.image, pair.fixed.image, map_fx, map_fy, cv::INTER_CUBIC,
            cv::BORDER_REFLECT);
  cv::remap(scan.frame.image, pair.moving.image, map_mx, map_my,
            cv::INTER_CUBIC, cv::BORDER_REFLECT);
  AddNoise(pair.fixed.image, s.noise, s.line_noise, rng);
  AddNoise(pair.moving.image, s.noise, s.line_noise, rng);
  pair.fixed.source = "synthetic_pair:fixed";
  pair.moving.source = "synthetic_pair:moving";
  pair.field = cv::Mat2f(s.height_px, s.width_px);
  for (int y = 0; y < s.height_px; ++y) {
    for (int x = 0; x < s.width_px; ++x) {
      const Vec2 f = pair.TrueDisplacement(Vec2(x, y));
      pair.field(y, x) =
          cv::Vec2f(static_cast<float>(f.x()), static_cast<float>(f.y()));
    }
  }
  return pair;
}

}  // namespace anchord
