#include "daemon/instrument/drift_policy.h"

#include "anchord/util/validation.h"

#include <cmath>
#include <cstdio>

namespace anchord::daemon {

Status DriftPolicyOptions::Validate() const {
  Violations v("bridge");
  ANCHORD_OPTION_GT(v, max_drift_nm_per_min, 0);
  ANCHORD_OPTION_GT(v, max_sigma_nm_per_min, 0);
  ANCHORD_OPTION_GE(v, min_interval_s, 0);
  ANCHORD_OPTION_GE(v, min_change_nm_per_min, 0);
  return v.ToStatus();
}

const char* DriftActionName(DriftAction action) {
  switch (action) {
    case DriftAction::kApply:
      return "apply";
    case DriftAction::kNotValid:
      return "not_valid";
    case DriftAction::kNotPlaced:
      return "not_placed";
    case DriftAction::kNotFinite:
      return "not_finite";
    case DriftAction::kUncertain:
      return "uncertain";
    case DriftAction::kRateLimited:
      return "rate_limited";
    case DriftAction::kSaturated:
      return "saturated";
    case DriftAction::kUnchanged:
      return "unchanged";
  }
  return "unknown";
}

DriftDecision DecideDrift(const v1::DriftEstimate& e,
                          const DriftPolicyOptions& o,
                          double seconds_since_last_set,
                          const CompensationState& controller) {
  DriftDecision d;
  const auto refuse = [&d](DriftAction action, std::string why) {
    d.action = action;
    d.reason = std::move(why);
    return d;
  };
  if (!e.valid()) {
    return refuse(DriftAction::kNotValid, "estimate not valid: " + e.message());
  }
  if (!e.placed()) {
    return refuse(DriftAction::kNotPlaced,
                  "frame not placed: " + e.placement_message());
  }
  const Vec2 v(e.velocity_x_nm_per_s(), e.velocity_y_nm_per_s());
  const Vec2 sigma(e.velocity_x_sigma_nm_per_s(),
                   e.velocity_y_sigma_nm_per_s());
  if (!v.allFinite() || !sigma.allFinite()) {
    return refuse(DriftAction::kNotFinite, "velocity or sigma not finite");
  }
  const double sigma_nm_per_min = sigma.norm() * 60;
  if (sigma_nm_per_min > o.max_sigma_nm_per_min) {
    char why[128];
    std::snprintf(why, sizeof why, "sigma %.3g nm/min > %.3g", sigma_nm_per_min,
                  o.max_sigma_nm_per_min);
    return refuse(DriftAction::kUncertain, why);
  }
  if (controller.x_saturated || controller.y_saturated) {
    return refuse(DriftAction::kSaturated,
                  std::string("controller reports the ") +
                      (controller.x_saturated ? "X" : "Y") +
                      " drift correction saturated (switch the compensation "
                      "off and on to re-arm it)");
  }
  if (seconds_since_last_set < o.min_interval_s) {
    return refuse(DriftAction::kRateLimited, "previous setting too recent");
  }
  Vec2 set = v;
  const double max_nm_per_s = o.max_drift_nm_per_min / 60;
  if (set.norm() > max_nm_per_s) {
    set *= max_nm_per_s / set.norm();
    d.clamped = true;
  }
  if ((set - controller.velocity_nm_per_s).norm() * 60 <
      o.min_change_nm_per_min) {
    return refuse(DriftAction::kUnchanged, "change below the minimum");
  }
  d.action = DriftAction::kApply;
  d.velocity_nm_per_s = set;
  return d;
}

}  // namespace anchord::daemon
