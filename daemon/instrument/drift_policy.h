#pragma once

// When and what a controller bridge sets as drift compensation from the
// daemon's `drift` topic (anchord.v1.DriftEstimate): only a valid estimate
// of a placed frame, with finite values and a small enough uncertainty,
// clamped to a largest velocity, at most once per interval, and never
// while the controller reports an axis saturated. Pure functions: no
// clocks, no sockets; thread-safe.

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"
#include "anchord/v1/anchord.pb.h"

#include <string>

namespace anchord::daemon {

struct DriftPolicyOptions {
  // Largest compensation velocity set, nm/min (an estimate beyond it is
  // scaled down to it, keeping its direction). Default 20; > 0.
  double max_drift_nm_per_min = 20;
  // Largest accepted one-sigma uncertainty of the estimate
  // (hypot(sigma_x, sigma_y)), nm/min; a less certain estimate is not
  // applied. Default 0.5; > 0.
  double max_sigma_nm_per_min = 0.5;
  // Shortest time between two settings, s (later estimates wait). Default
  // 10; >= 0.
  double min_interval_s = 10;
  // Smallest change worth a setting, nm/min (a smaller change is not
  // sent). Default 0; >= 0.
  double min_change_nm_per_min = 0;

  // kOk, or kInvalidInput listing every violation ("bridge.
  // max_drift_nm_per_min = 0. Violated constraint: > 0").
  Status Validate() const;
};

// What to do with one estimate.
enum class DriftAction {
  kApply,        // set `velocity_nm_per_s`
  kNotValid,     // the estimate is not valid (too few frames, …)
  kNotPlaced,    // its frame was not placed in the session
  kNotFinite,    // a velocity or sigma is NaN/Inf
  kUncertain,    // sigma beyond max_sigma_nm_per_min
  kRateLimited,  // the previous setting is too recent
  kSaturated,    // the controller reports an X or Y axis saturated
  kUnchanged,    // the change is below min_change_nm_per_min
};

// "apply", "not_valid", … (for logs and counters).
const char* DriftActionName(DriftAction action);

struct DriftDecision {
  DriftAction action = DriftAction::kNotValid;
  // The velocity to set (scanner x right, y up), nm/s; kApply only.
  Vec2 velocity_nm_per_s = Vec2::Zero();
  // True when the estimate was beyond max_drift_nm_per_min and scaled.
  bool clamped = false;
  // Why it is not applied, for the log; empty for kApply.
  std::string reason;
};

// What the controller reported before the decision (Piezo.DriftCompGet).
struct CompensationState {
  Vec2 velocity_nm_per_s = Vec2::Zero();  // currently set
  bool x_saturated = false, y_saturated = false;
};

// Decides on `estimate`. `seconds_since_last_set` is the time since the
// bridge last set the compensation (a large value when never).
DriftDecision DecideDrift(const v1::DriftEstimate& estimate,
                          const DriftPolicyOptions& options,
                          double seconds_since_last_set,
                          const CompensationState& controller);

}  // namespace anchord::daemon
