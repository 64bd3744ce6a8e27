#pragma once

// Checks shared by the tracker tests that feed absurd frames.

#include "anchord/track/session_tracker.h"

#include <doctest/doctest.h>

#include <cmath>

namespace anchord::testing {

// Every figure of a drift report is finite, whatever the frame was.
inline void CheckDriftFinite(const DriftReport& d) {
  CHECK(d.velocity_nm_per_s.allFinite());
  CHECK(d.velocity_sigma_nm_per_s.allFinite());
  CHECK(d.creep_rate_nm_per_s.allFinite());
  CHECK(d.creep_remaining_nm.allFinite());
  CHECK(d.apparent_velocity_nm_per_s.allFinite());
  CHECK(d.next_scan_offset_nm.allFinite());
  CHECK(d.centre_correction_nm.allFinite());
  CHECK(std::isfinite(d.next_frame_unix_s));
  CHECK(std::isfinite(d.residual_rms_nm));
}

}  // namespace anchord::testing
