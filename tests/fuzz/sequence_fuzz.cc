// libFuzzer target for frame sequences through the tracker, in process:
// each input is a script of up to 32 frames of one session, each a
// registered synthetic frame whose metadata (acquisition time, line time,
// pixel size, scan offset and angle, drift compensation) and homography
// the input overwrites — with ordinary values and with the absurd ones a
// careless controller sends (0, negative, 1e9, 1e300, NaN, ±inf) — and now
// and then a save / restore of the tracker state. The tracker hang that
// survived a restart was such a sequence: the second frame after an
// absurd one spun; libFuzzer's -timeout catches a repeat. A frame the
// tracker leaves unplaced is aligned to the one before, as the daemon does
// (the fit's predicted shift as the prior, then TrackAligned), so absurd
// metadata reaches the prediction and the aligned sightings too.
// Contracts: a placed frame has a finite footprint and a finite drift when
// valid; so has every aligned frame's drift.

#include "anchord/align/align_frames.h"
#include "anchord/track/session_tracker.h"

#include "daemon/wire/tracker_state_codec.h"
#include "fuzz_check.h"
#include "registered_frames.h"
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

namespace {

using anchord::fuzz::Check;

// An ordinary value in [lo, hi], or one of the values a careless sender
// uses.
double Pick(FuzzedDataProvider& in, double lo, double hi) {
  static constexpr double kAbsurd[] = {
      0.0,
      -1.0,
      1e9,
      -1e9,
      1e300,
      -1e300,
      5e-324,
      std::numeric_limits<double>::quiet_NaN(),
      std::numeric_limits<double>::infinity(),
      -std::numeric_limits<double>::infinity()};
  if (in.ConsumeIntegralInRange<int>(0, 7) != 0) {
    return in.ConsumeFloatingPointInRange<double>(lo, hi);
  }
  return kAbsurd[in.ConsumeIntegralInRange<size_t>(0, std::size(kAbsurd) - 1)];
}

void Mutate(FuzzedDataProvider& in,
            anchord::Frame& f,
            anchord::FrameResult& r,
            double* clock_s) {
  const int what = in.ConsumeIntegralInRange<int>(0, 9);
  switch (what) {
    case 0:
      f.line_time_s = Pick(in, 0, 1);
      f.line_times_s.clear();
      break;
    case 1:
      for (double& t : f.line_times_s) t *= Pick(in, 0, 4);
      break;
    case 2:
      f.pixel_size_x_nm *= Pick(in, 0.5, 2);
      break;
    case 3:
      f.scan_offset_x_nm = Pick(in, -500, 500);
      f.scan_offset_y_nm = Pick(in, -500, 500);
      break;
    case 4:
      f.scan_angle_deg = Pick(in, -180, 180);
      break;
    case 5:
      f.drift_compensation_nm_per_s =
          anchord::Vec2(Pick(in, -1, 1), Pick(in, -1, 1));
      break;
    case 6:
      r.image_from_model(0, 2) += Pick(in, -50, 50);
      r.image_from_model(1, 2) += Pick(in, -50, 50);
      break;
    case 7:
      r.status = anchord::Status::NoLattice("fuzz: no lattice");
      break;
    default:
      break;  // metadata as scanned
  }
  *clock_s += Pick(in, 0, 3600);
  f.acquired_unix_s = in.ConsumeBool() ? *clock_s : Pick(in, 0, 2e9);
}

void CheckDrift(const anchord::DriftReport& d) {
  if (!d.valid) return;
  Check(std::isfinite(d.velocity_nm_per_s.x()) &&
            std::isfinite(d.velocity_nm_per_s.y()) &&
            std::isfinite(d.next_scan_offset_nm.x()) &&
            std::isfinite(d.next_scan_offset_nm.y()),
        "a valid drift is finite");
}

// The daemon's path for an unplaced frame (daemon/serve/track_service.cc).
void AlignUnplaced(anchord::SessionTracker& tracker,
                   const anchord::Frame& previous,
                   const anchord::Frame& frame) {
  if (previous.image.size() != frame.image.size()) return;
  const std::optional<anchord::AlignPrior> prior =
      tracker.PredictShift(previous, frame);
  if (prior) {
    Check(prior->shift_px.allFinite() && std::isfinite(prior->sigma_px),
          "a predicted shift is finite");
  }
  anchord::AlignOptions options;
  options.smoothing_px = 5;
  const anchord::AlignResult a =
      anchord::AlignFrames(previous, frame, options, prior ? &*prior : nullptr);
  const anchord::TrackResult t = tracker.TrackAligned(previous, frame, a);
  Check(!t.placement.placed, "an aligned frame stays unplaced");
  CheckDrift(t.drift);
}

void CheckResult(const anchord::TrackResult& t) {
  if (!t.placement.placed) return;
  for (const anchord::Vec2& p : t.footprint_session_nm) {
    Check(std::isfinite(p.x()) && std::isfinite(p.y()), "finite footprint");
  }
  if (t.drift.valid) {
    Check(std::isfinite(t.drift.velocity_nm_per_s.x()) &&
              std::isfinite(t.drift.velocity_nm_per_s.y()),
          "a valid drift is finite");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& frames = anchord::fuzz::RegisteredFrames();
  Check(!frames.empty(), "the synthetic frames register");
  FuzzedDataProvider in(data, size);
  anchord::SessionTracker tracker(anchord::TrackOptions{},
                                  anchord::fuzz::Model());
  double clock_s = frames.front().frame.acquired_unix_s;
  const int steps = in.ConsumeIntegralInRange<int>(1, 32);
  anchord::Frame previous;
  for (int k = 0; k < steps && in.remaining_bytes() > 0; ++k) {
    const auto& base =
        frames[in.ConsumeIntegralInRange<size_t>(0, frames.size() - 1)];
    anchord::Frame f = base.frame;
    anchord::FrameResult r = base.result;
    Mutate(in, f, r, &clock_s);
    const anchord::TrackResult t = tracker.Track(f, r);
    CheckResult(t);
    if (!t.placement.placed && k > 0) AlignUnplaced(tracker, previous, f);
    previous = f;
    if (in.ConsumeIntegralInRange<int>(0, 7) == 0) {
      anchord::SessionTrackerState state;
      Check(anchord::daemon::DecodeTrackerState(
                anchord::daemon::EncodeTrackerState(tracker.ExportState()),
                &state)
                .ok(),
            "the state encodes and decodes");
      anchord::SessionTracker resumed(anchord::TrackOptions{},
                                      anchord::fuzz::Model());
      Check(resumed.RestoreState(state).ok(), "an exported state restores");
      tracker = std::move(resumed);
    }
  }
  return 0;
}
