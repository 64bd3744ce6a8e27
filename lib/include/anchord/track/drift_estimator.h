#pragma once

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace anchord {

struct DriftOptions {
  // Frames older than this before the newest frame leave the fit, s.
  // Default 1200; > 0.
  double window_s = 1200.0;
  // At most this many recent frames are fitted. Default 12; >= 2.
  int max_frames = 12;
  // Decay time of the piezo creep after a scan offset change, s; the
  // creep is modelled as A · exp(−(t − t_change) / tau) after the latest
  // change. 0 disables the creep term. Default 60; >= 0.
  double creep_tau_s = 60.0;
  // Residuals beyond this many robust standard deviations are dropped
  // and the fit repeated once. Default 5; > 1.
  double outlier_sigmas = 5.0;
  // Floor of the one-sigma error of one frame's position, nm: the
  // velocity uncertainty never claims better than this over the fitted
  // time span. Default 0.005; > 0.
  double position_sigma_nm = 0.005;

  Status Validate() const;
};

// One corner hole of one frame: the same `key` in two frames is the same
// sample point.
struct DriftPoint {
  int64_t key = 0;
  int frame = 0;   // the tracker's frame counter
  double t_s = 0;  // acquisition time of the point, s since the session's
                   // reference time
  // Scanner position (nm, x right, y up) at which the point was imaged,
  // plus the drift compensation accumulated at t_s: the position it would
  // have had without compensation.
  Vec2 scanner_nm = Vec2::Zero();
};

// The fitted drift D(t) = v · t + A · g(t) of the sample under the
// scanner, in scanner coordinates, with g(t) = exp(−(t − t_change) / tau)
// after the latest scan offset change (0 before). D is defined up to a
// constant; differences are what count.
struct DriftFit {
  bool valid = false;
  std::string message;  // why not valid
  Vec2 velocity_nm_per_s = Vec2::Zero();
  Vec2 velocity_sigma_nm_per_s = Vec2::Zero();
  bool has_creep = false;
  Vec2 creep_amplitude_nm = Vec2::Zero();  // A
  double creep_change_s = 0;               // t_change
  double creep_tau_s = 0;
  int frames = 0;  // frames that contributed
  double residual_rms_nm = 0;

  // D(t) (0 at t = 0 when not valid).
  Vec2 Displacement(double t_s) const;
  // dD/dt at t: velocity plus creep rate.
  Vec2 Rate(double t_s) const;
};

// Fits D(t) to repeated sightings of the same points: every point key
// seen in two or more frames contributes; its unknown scanner position at
// D = 0 is eliminated per key (a fixed-effects regression), so no scanner
// calibration enters the velocity. Uncertainties are cluster-robust with
// frames as clusters, floored by position_sigma_nm over the fitted time
// span. `offset_change_s` is the latest scan offset change (or NaN for
// none).
DriftFit FitDrift(const std::vector<DriftPoint>& points,
                  double offset_change_s,
                  const DriftOptions& options);

}  // namespace anchord
