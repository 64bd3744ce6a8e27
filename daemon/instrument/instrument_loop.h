#pragma once

// The controller's side of a closed drift loop, played by the simulated
// instrument against a serving daemon: scan frame k, publish it, wait for
// the daemon's drift message for it, and set the instrument's drift
// compensation to the published velocity before frame k + 1 — what an SPM
// control loop does with Nanonis Piezo.DriftCompSet. The loop runs in
// simulated time: the instrument waits for the daemon, not for the wall
// clock, so a 100-frame, 90-minute session takes seconds.

#include "anchord/synth/simulated_instrument.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"
#include "anchord/v1/anchord.pb.h"

#include "daemon/instrument/frame_publisher.h"
#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace anchord::daemon {

struct InstrumentLoopOptions {
  // Frames to scan. Default 100; >= 1.
  int frames = 100;
  // Apply the daemon's drift velocity as compensation (else only watch).
  bool compensate = true;
  // Compensation velocities beyond this are not applied (a controller
  // never trusts a wild estimate), nm/s. Default 0.5; > 0.
  double max_compensation_nm_per_s = 0.5;
  // Frame.instrument and Frame.session of the frames; frame ids count
  // from first_frame_id.
  std::string instrument = "simulated";
  std::string session = "simulated";
  uint64_t first_frame_id = 1;
  // Longest wait for a frame's drift message before the loop gives up.
  std::chrono::milliseconds drift_timeout{30000};
  // Wall-clock pacing: at most this many frames per second; 0 = as fast
  // as the daemon answers.
  double rate_hz = 0;
};

// One frame of the loop, with the instrument's truth.
struct LoopFrame {
  uint64_t frame_id = 0;
  double start_unix_s = 0, duration_s = 0;
  Vec2 true_velocity_nm_per_s = Vec2::Zero();
  // Apparent displacement of the sample under the scanner (drift −
  // compensation + creep) at the frame's start and end, nm.
  Vec2 apparent_start_nm = Vec2::Zero(), apparent_end_nm = Vec2::Zero();
  Vec2 compensation_nm_per_s = Vec2::Zero();  // active during the frame
  v1::DriftEstimate drift;                    // what the daemon published
  bool unresolved = false;  // scanned with the blunt tip (no lattice)
};

struct InstrumentLoopResult {
  Status status;  // kInternal on a send failure or a missing drift message
  std::vector<LoopFrame> frames;
};

// Called after each frame's drift message arrived.
using LoopObserver =
    std::function<void(const LoopFrame& frame, const SimulatedFrame& scan)>;

// Runs the loop. `drift` must be a SUB socket connected to the daemon's
// results endpoint and subscribed to the drift topic; `publisher` open on
// the daemon's frame endpoint. Stops early (status kOk) when `stop` is set.
InstrumentLoopResult RunInstrumentLoop(SimulatedInstrument& instrument,
                                       FramePublisher& publisher,
                                       zmq::socket_t& drift,
                                       const InstrumentLoopOptions& options,
                                       const std::atomic<bool>& stop,
                                       const LoopObserver& observer = {});

// Residual drift of a loop, from the instrument's truth (nm/min).
struct ResidualDrift {
  // |apparent displacement from the start of frame `from` to the end of
  // the last frame| / elapsed time.
  double net_nm_per_min = 0;
  // RMS over frames `from`… of each frame's own apparent velocity.
  double rms_nm_per_min = 0;
  // Largest of those per-frame values.
  double max_nm_per_min = 0;
  int frames = 0;
};
ResidualDrift MeasureResidualDrift(const std::vector<LoopFrame>& frames,
                                   int from);

}  // namespace anchord::daemon
