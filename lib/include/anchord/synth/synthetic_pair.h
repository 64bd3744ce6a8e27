#pragma once

#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/frame.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <cstdint>
#include <vector>

namespace anchord {

// Two scans of the same sample related by a known displacement field: a
// translation plus smooth Gaussian bumps (creep and drift that one
// transform cannot follow), for frame-to-frame alignment
// (anchord/align/align_frames.h).
struct SyntheticPairOptions {
  // The sample, its distortion and the noise levels. width_px × height_px
  // is each frame's size and field_of_view_nm the fixed frame's width.
  // `noise` and `line_noise` are drawn for each frame independently after
  // the warp; glitch lines are not rendered.
  SyntheticScanOptions scan;
  // t: a feature at fixed pixel p is at moving pixel p + t + b(·), px;
  // each component within ±(frame side / 2).
  Vec2 translation_px = Vec2(20, -12);
  // Number of bumps and the largest displacement of each, px; [0, 64] and
  // [0, 50].
  int bumps = 4;
  double bump_amplitude_px = 3;
  // Gaussian σ of each bump as a fraction of the frame's larger side;
  // [0.05, 2].
  double bump_sigma_fraction = 0.2;
  // Seed of the bumps and of both frames' noise. Default 1.
  uint64_t seed = 1;

  Status Validate() const;
};

struct SyntheticBump {
  Vec2 centre_px = Vec2::Zero();     // moving-frame pixel
  Vec2 amplitude_px = Vec2::Zero();  // displacement at the centre
  double sigma_px = 1;
};

struct SyntheticPair {
  Frame fixed, moving;
  Vec2 translation_px = Vec2::Zero();
  std::vector<SyntheticBump> bumps;
  // The true field at every fixed pixel: moving px = p + field(p);
  // CV_32FC2 (x, y).
  cv::Mat2f field;
  // The true displacement at any fixed-frame point p: the solution f of
  // f = t + b(p + f), b the sum of the bumps.
  Vec2 TrueDisplacement(const Vec2& p_px) const;
  // Target registration errors of an estimated field (CV_32FC2, the fixed
  // frame's size): |estimate − truth| at every step-th fixed pixel whose
  // true match lies inside the moving frame, px, in row order.
  std::vector<double> TargetErrorsPx(const cv::Mat2f& estimate,
                                     int step = 8) const;
};

// Renders the pair: one noiseless scan with a margin around both frames,
// the fixed frame a crop of it, the moving frame the same scan resampled
// (bicubic) through the field, then each frame's own noise. Deterministic
// for the options. Requires options.Validate().ok() (checked).
SyntheticPair MakeSyntheticPair(const SyntheticPairOptions& options);

}  // namespace anchord
