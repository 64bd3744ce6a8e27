// SessionTracker::TrackAligned: drift through frames the tracker cannot
// place, from their alignment to the frame before them.
#include "anchord/align/align_frames.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/simulated_instrument.h"
#include "anchord/track/session_tracker.h"

#include <doctest/doctest.h>

#include <cmath>
#include <optional>

namespace anchord {
namespace {

constexpr double kNmPerMin = 1.0 / 60.0;  // nm/s per nm/min

// 256 px over 30 nm, 12.8 s frames every ~65 s, constant drift.
SimulatedInstrumentOptions Instrument(const Vec2& drift_nm_per_min,
                                      uint64_t seed) {
  SimulatedInstrumentOptions o;
  o.scan = ModeratelyDistortedScan(seed, 256, 30);
  o.scan.adsorbates_per_cell = 0.01;
  o.line_time_s = 0.05;
  o.frame_gap_s = 4 * 256 * 0.05;
  o.drift_nm_per_s = drift_nm_per_min * kNmPerMin;
  o.drift_walk_nm_per_s_per_sqrt_s = 0;
  o.creep_fraction = 0;
  o.seed = seed;
  return o;
}

struct Run {
  std::vector<TrackResult> results;
  int predictions = 0;
  Vec2 truth = Vec2::Zero();
};

// Every frame through Track; `registered(k)` says whether frame k is
// registered (else it is given to Track as not registered) and every
// unplaced frame is aligned to the one before it.
template <typename Registered>
Run RunSequence(const SimulatedInstrumentOptions& o,
                int frames,
                Registered registered) {
  SimulatedInstrument instrument(o);
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions popt;
  popt.make_corrected = false;
  Run run;
  Frame previous;
  for (int k = 0; k < frames; ++k) {
    const SimulatedFrame sf = instrument.ScanNextFrame();
    FrameResult r;
    if (registered(k)) {
      r = RegisterFrame(sf.scan.frame, model, popt);
    } else {
      r.status = Status::NoLattice("not registered (test)");
    }
    TrackResult tr = tracker.Track(sf.scan.frame, r);
    if (!tr.placement.placed && k > 0) {
      const std::optional<AlignPrior> prior =
          tracker.PredictShift(previous, sf.scan.frame);
      const AlignResult a =
          AlignFrames(previous, sf.scan.frame, AlignOptions{});
      REQUIRE_MESSAGE(a.status == AlignStatus::kOk, a.message);
      if (prior) {
        // The prediction of the fit so far agrees with the alignment.
        const Vec2 centre =
            0.5 * Vec2(previous.image.cols - 1, previous.image.rows - 1);
        const Vec2 aligned = AlignedPosition(a, centre) - centre;
        CAPTURE(prior->shift_px.transpose());
        CAPTURE(aligned.transpose());
        CHECK((prior->shift_px - aligned).norm() <= 3 * prior->sigma_px + 0.5);
        ++run.predictions;
      }
      tr = tracker.TrackAligned(previous, sf.scan.frame, a);
    }
    previous = sf.scan.frame;
    run.truth = sf.drift_velocity_nm_per_s;
    run.results.push_back(std::move(tr));
  }
  return run;
}

void CheckVelocity(const Run& run) {
  const DriftReport& d = run.results.back().drift;
  REQUIRE_MESSAGE(d.valid, d.message);
  const double error = (d.velocity_nm_per_s - run.truth).norm();
  MESSAGE("true " << run.truth.transpose() / kNmPerMin << " nm/min, estimated "
                  << d.velocity_nm_per_s.transpose() / kNmPerMin << " ± "
                  << d.velocity_sigma_nm_per_s.transpose() / kNmPerMin
                  << " nm/min (" << d.frames << " frames)");
  CHECK(error <= std::max(0.05 * run.truth.norm(), 0.05 * kNmPerMin));
  CHECK(error <= 4 * d.velocity_sigma_nm_per_s.norm() + 1e-4 * kNmPerMin);
}

TEST_CASE("no frame registered: the drift comes from the alignments") {
  for (const Vec2& v : {Vec2(2.0, 0.0), Vec2(-1.2, 1.6)}) {
    CAPTURE(v.transpose());
    const Run run = RunSequence(Instrument(v, 5), 8, [](int) { return false; });
    CHECK(!run.results[0].drift.valid);
    for (size_t k = 1; k < run.results.size(); ++k) {
      CHECK(run.results[k].drift.source == DriftSource::kAlignment);
      CHECK(!run.results[k].placement.placed);
    }
    CHECK(run.predictions >= 5);
    CheckVelocity(run);
  }
}

TEST_CASE("every other frame without a lattice: lattice and alignment agree") {
  const Run run = RunSequence(Instrument(Vec2(1.5, -1.0), 9), 10,
                              [](int k) { return k % 2 == 0; });
  int lattice = 0, aligned = 0;
  for (const TrackResult& r : run.results) {
    lattice += r.drift.source == DriftSource::kLattice;
    aligned += r.drift.source == DriftSource::kAlignment;
  }
  CHECK(lattice == 5);
  CHECK(aligned == 5);
  CheckVelocity(run);
}

TEST_CASE("an alignment that failed, or frames without times, add nothing") {
  SimulatedInstrument instrument(Instrument(Vec2(2, 0), 3));
  SessionTracker tracker(TrackOptions{}, MakeSi7x7Model());
  const SimulatedFrame a = instrument.ScanNextFrame();
  const SimulatedFrame b = instrument.ScanNextFrame();
  FrameResult none;
  none.status = Status::NoLattice("test");
  tracker.Track(a.scan.frame, none);
  tracker.Track(b.scan.frame, none);
  AlignResult failed;
  failed.status = AlignStatus::kNoOverlap;
  failed.message = "test";
  TrackResult r = tracker.TrackAligned(a.scan.frame, b.scan.frame, failed);
  CHECK(r.drift.source == DriftSource::kNone);
  CHECK(r.placement.message.find("no_overlap") != std::string::npos);
  Frame untimed = b.scan.frame;
  untimed.acquired_unix_s = 0;
  const AlignResult ok = AlignFrames(a.scan.frame, untimed, AlignOptions{});
  REQUIRE(ok.status == AlignStatus::kOk);
  r = tracker.TrackAligned(a.scan.frame, untimed, ok);
  CHECK(r.drift.source == DriftSource::kNone);
  CHECK(r.placement.message.find("acquisition times") != std::string::npos);
  CHECK(!tracker.drift().valid);
  CHECK(tracker.frames_seen() == 2);
}

}  // namespace
}  // namespace anchord
