// Step 5 of SessionTracker::Track: the drift report for a frame.
#include "track/tracker_steps.h"
#include "util/robust.h"

#include <vector>

namespace anchord::internal {
namespace {

// The frame period: the median gap between recent frame starts, or the
// latest frame's duration while there is one start only.
double FramePeriod(const SessionState& st) {
  double period = st.last_duration_s;
  if (st.frame_starts_s.size() >= 2) {
    std::vector<double> gaps;
    for (size_t k = 1; k < st.frame_starts_s.size(); ++k) {
      gaps.push_back(st.frame_starts_s[k] - st.frame_starts_s[k - 1]);
    }
    period = Median(gaps);
  }
  return period;
}

}  // namespace

DriftReport MakeDriftReport(const SessionState& st, const FrameView* view) {
  DriftReport d;
  const DriftFit& fit = st.fit;
  d.frames = fit.frames;
  d.residual_rms_nm = fit.residual_rms_nm;
  if (!fit.valid) {
    d.message =
        st.frames_placed == 0
            ? "no frame placed yet"
            : (fit.message.empty() ? "one frame placed so far" : fit.message);
    return d;
  }
  d.valid = true;
  d.velocity_nm_per_s = fit.velocity_nm_per_s;
  d.velocity_sigma_nm_per_s = fit.velocity_sigma_nm_per_s;
  const double now = view ? view->TimeOf(view->Centre()) : st.last_centre_s;
  d.creep_rate_nm_per_s = fit.Rate(now) - fit.velocity_nm_per_s;
  if (fit.has_creep) {
    // A·g(now) of the creep term is still to decay to 0: the drift has
    // that much left to go, with the opposite sign.
    d.creep_remaining_nm =
        -(fit.Displacement(now) - fit.velocity_nm_per_s * now);
  }
  const Vec2 comp = view ? view->comp_velocity : Vec2::Zero();
  d.apparent_velocity_nm_per_s = fit.Rate(now) - comp;
  if (view && view->frame->acquired_unix_s > 0 && !st.frame_starts_s.empty()) {
    const double period = FramePeriod(st);
    const double next_centre = now + period;
    d.next_frame_unix_s = st.t0_unix_s + view->start_s + period;
    d.centre_correction_nm =
        fit.Displacement(next_centre) - fit.Displacement(now) - comp * period;
    d.next_scan_offset_nm = view->scan.offset_nm + d.centre_correction_nm;
  }
  return d;
}

}  // namespace anchord::internal
