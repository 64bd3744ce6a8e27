// SessionTracker::TrackAligned: drift from frames without a placed
// lattice, through their alignment to the frame before them.
#include "anchord/track/session_tracker.h"

#include "track/frame_view.h"
#include "track/session_state.h"
#include "track/state_limits.h"
#include "track/tracker_steps.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace anchord {
namespace {

constexpr int kPointsPerPair = 9;

bool Timed(const Frame& f) {
  return std::isfinite(f.acquired_unix_s) && f.acquired_unix_s > 0;
}

// Why the two frames' times or geometry give no drift, or "".
std::string FramesIssue(const Frame& reference,
                        const Frame& frame,
                        double max_duration_s) {
  if (!Timed(reference) || !Timed(frame)) {
    return "without acquisition times on both frames";
  }
  for (const Frame* f : {&reference, &frame}) {
    std::string issue = internal::TimingIssue(*f, max_duration_s);
    if (issue.empty()) issue = internal::ScanIssue(*f);
    if (!issue.empty()) return issue;
  }
  return {};
}

// Why the pair gives no drift, or "".
std::string PairIssue(const Frame& reference,
                      const Frame& frame,
                      const AlignResult& alignment,
                      double max_duration_s) {
  if (alignment.status != AlignStatus::kOk) {
    return std::string("alignment ") + AlignStatusName(alignment.status) +
           ": " + alignment.message;
  }
  return FramesIssue(reference, frame, max_duration_s);
}

// Keeps the aligned sightings of the newest max_frames pairs within
// window_s of `newest`.
void PruneAligned(double newest,
                  const DriftOptions& drift,
                  std::vector<DriftPoint>* points) {
  *points = internal::AlignedInWindow(*points, newest, drift);
  const size_t keep =
      static_cast<size_t>(drift.max_frames) * 2 * kPointsPerPair;
  if (points->size() > keep) {
    points->erase(points->begin(), points->end() - keep);
  }
}

}  // namespace

std::optional<AlignPrior> SessionTracker::PredictShift(
    const Frame& reference, const Frame& frame) const {
  const internal::SessionState& st = *state_;
  if (!st.fit.valid || !(st.t0_unix_s > 0)) return std::nullopt;
  if (!FramesIssue(reference, frame, options_.max_frame_duration_s).empty()) {
    return std::nullopt;
  }
  FrameResult unregistered;
  unregistered.image_from_model = Mat3::Identity();
  const internal::FrameView ref(reference, unregistered, st.t0_unix_s);
  const internal::FrameView view(frame, unregistered, st.t0_unix_s);
  const Vec2 p = ref.Centre();
  const double ta = ref.TimeOf(p), tb = view.TimeOf(view.Centre());
  // Uncompensated scanner position of the sample point in `frame`, then
  // back to a pixel through that frame's geometry (at its centre time).
  const Vec2 target =
      ref.Uncompensated(p) + st.fit.Displacement(tb) - st.fit.Displacement(ta);
  const Vec2 commanded =
      target - view.comp_offset - view.comp_velocity * (tb - view.start_s);
  const Mat2& linear = view.scan.linear;
  if (!(std::abs(linear.determinant()) > 0)) return std::nullopt;
  const Vec2 q = view.scan.centre_px +
                 linear.inverse() * (commanded - view.scan.offset_nm);
  const double px_nm = std::min(frame.pixel_size_x_nm, frame.pixel_size_y_nm);
  const double dt = std::abs(tb - ta);
  const double sigma_nm =
      st.fit.velocity_sigma_nm_per_s.norm() * dt + st.fit.residual_rms_nm;
  AlignPrior prior{q - p, sigma_nm / px_nm};
  if (!prior.shift_px.allFinite() || !std::isfinite(prior.sigma_px)) {
    return std::nullopt;
  }
  return prior;
}

const char* DriftSourceName(DriftSource s) {
  switch (s) {
    case DriftSource::kNone:
      return "none";
    case DriftSource::kLattice:
      return "lattice";
    case DriftSource::kAlignment:
      return "alignment";
  }
  return "none";
}

TrackResult SessionTracker::TrackAligned(const Frame& reference,
                                         const Frame& frame,
                                         const AlignResult& alignment) {
  internal::SessionState& st = *state_;
  TrackResult out;
  FrameResult unregistered;  // the views need a map: identity
  unregistered.image_from_model = Mat3::Identity();
  const std::string issue =
      PairIssue(reference, frame, alignment, options_.max_frame_duration_s);
  if (!issue.empty()) {
    out.placement.message = "not placed; " + issue;
    out.drift = internal::MakeDriftReport(st, nullptr);
    return out;
  }
  const double t0 = st.t0_unix_s > 0 ? st.t0_unix_s : reference.acquired_unix_s;
  const internal::FrameView ref(reference, unregistered, t0);
  const internal::FrameView view(frame, unregistered, t0);
  // Sightings: the reference frame as frame −(frames_seen − 1), this one
  // as −frames_seen (negative: apart from the placed frames' indices).
  std::vector<DriftPoint> sightings;
  int64_t key = st.next_aligned_key;
  for (const double fy : {1.0 / 6, 0.5, 5.0 / 6}) {
    for (const double fx : {1.0 / 6, 0.5, 5.0 / 6}) {
      const Vec2 p((ref.size().width - 1) * fx, (ref.size().height - 1) * fy);
      const Vec2 q = AlignedPosition(alignment, p);
      if (!internal::Inside(q, view.size(), 0.0)) continue;
      sightings.push_back(DriftPoint{key, -(st.frames_seen - 1), ref.TimeOf(p),
                                     ref.Uncompensated(p)});
      sightings.push_back(DriftPoint{key, -st.frames_seen, view.TimeOf(q),
                                     view.Uncompensated(q)});
      ++key;
    }
  }
  Status in_range = Status::Ok();
  for (size_t k = 0; k < sightings.size() && in_range.ok(); ++k) {
    in_range = internal::CheckTime("aligned point", sightings[k].t_s);
    if (in_range.ok()) {
      in_range =
          internal::CheckScanner("aligned point", sightings[k].scanner_nm);
    }
  }
  if (sightings.empty() || !in_range.ok()) {
    out.placement.message =
        sightings.empty() ? "not placed; aligned, but no sample point of the "
                            "reference frame lies in this frame"
                          : "not placed; aligned point out of range (" +
                                in_range.message() + ")";
    out.drift = internal::MakeDriftReport(st, nullptr);
    return out;
  }
  // Commit: the session clock, the scan offset (creep restarts on a
  // change), the frame period, the sightings and the fit.
  st.t0_unix_s = t0;
  if (st.have_offset &&
      (view.scan.offset_nm - st.last_offset_nm).norm() > 1e-6) {
    st.offset_change_s = view.start_s;
  }
  st.have_offset = true;
  st.last_offset_nm = view.scan.offset_nm;
  st.frame_starts_s.push_back(view.start_s);
  while (st.frame_starts_s.size() >
         static_cast<size_t>(TrackerStateLimits::kMaxFrameStarts)) {
    st.frame_starts_s.pop_front();
  }
  st.last_duration_s = internal::FrameDuration(frame);
  st.next_aligned_key = key;
  st.aligned_points.insert(st.aligned_points.end(), sightings.begin(),
                           sightings.end());
  PruneAligned(view.TimeOf(view.Centre()), options_.drift, &st.aligned_points);
  std::vector<DriftPoint> all = st.points;
  all.insert(all.end(), st.aligned_points.begin(), st.aligned_points.end());
  st.aligned_sigma_nm =
      std::max(st.aligned_sigma_nm,
               internal::kAlignedPositionSigmaPx *
                   std::max(frame.pixel_size_x_nm, frame.pixel_size_y_nm));
  st.fit =
      FitDrift(all, st.offset_change_s,
               internal::FitOptions(st, st.aligned_points, options_.drift));
  out.placement.message = "not placed (" +
                          std::to_string(sightings.size() / 2) +
                          " sample points aligned to the previous frame)";
  out.drift = internal::MakeDriftReport(st, &view);
  out.drift.source = DriftSource::kAlignment;
  return out;
}

}  // namespace anchord
