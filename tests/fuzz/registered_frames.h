#pragma once

// A few registered frames of one drifting synthetic session (the
// simulated instrument of the legacy tracker-state fixture: 96 px, 12 nm,
// 0.01 nm/s drift), made once per fuzzing process: the raw material the
// tracker fuzzers mutate.

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/simulated_instrument.h"
#include "anchord/util/frame.h"

#include "support/legacy_tracker_state.h"

#include <vector>

namespace anchord::fuzz {

struct RegisteredFrame {
  Frame frame;
  FrameResult result;
};

inline const LatticeModel& Model() {
  static const LatticeModel model = MakeSi7x7Model();
  return model;
}

inline const std::vector<RegisteredFrame>& RegisteredFrames() {
  static const std::vector<RegisteredFrame> frames = [] {
    std::vector<RegisteredFrame> out;
    SimulatedInstrument instrument(testing::LegacyStateSequence());
    for (int k = 0; k < 6; ++k) {
      SimulatedFrame s = instrument.ScanNextFrame();
      RegisteredFrame r{s.scan.frame, RegisterFrame(s.scan.frame, Model(),
                                                    PipelineOptions{})};
      if (r.result.status.ok()) out.push_back(std::move(r));
    }
    return out;
  }();
  return frames;
}

}  // namespace anchord::fuzz
