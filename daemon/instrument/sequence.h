#pragma once

// A drifting sequence of synthetic Si(111)-7×7 frames of one sample: what
// a live instrument would publish while the sample drifts under the tip.
// Used by `anchord replay --synthetic`, `anchord demo` and the daemon's
// integration tests. Pure functions of their arguments: no clocks, no
// sockets; thread-safe.

#include "anchord/synth/simulated_instrument.h"
#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include "daemon/wire/wire.h"

#include <cstdint>
#include <string>

namespace anchord::daemon {

// A frame of the simulated instrument as its controller sends it: the
// frame with its metadata, acquired_unix_ns from its acquisition clock.
InboundFrame SimulatedInbound(const SimulatedFrame& frame,
                              const std::string& instrument,
                              const std::string& session,
                              uint64_t frame_id);

// Frame k (k = 0, 1, …) of the sequence scans the sample of `base` (same
// `base.seed`: the same lattice, vacancies and corner holes at the same
// model positions) with the scan frame moved by k × drift_nm_per_frame
// and fresh measurement noise. Everything else (distortion, size, nominal
// pixel size) is that of `base`.
struct SyntheticSequence {
  // Frame 0. Its offset_nm is the sample point under the centre of frame
  // 0; its noise_seed is ignored (see NoiseSeed).
  SyntheticScanOptions base;
  // Movement of the sample point under the frame centre from one frame to
  // the next, model nm.
  Vec2 drift_nm_per_frame = Vec2::Zero();
  // Frame k carries frame_id = first_frame_id + k.
  uint64_t first_frame_id = 1;
  std::string instrument = "synthetic";
  std::string session = "anchord-synthetic";

  // kOk, or kInvalidInput naming the violation: base must be valid, the
  // drift finite.
  Status Validate() const;

  // The noise seed of frame k: a function of base.seed and k only,
  // never 0, and different for different k (a bijective hash of k; the
  // single k whose hash is 0 gets 1 instead). Requires k >= 0.
  uint64_t NoiseSeed(int64_t k) const;
  // The options of frame k: base with offset_nm = base.offset_nm +
  // k · drift_nm_per_frame and noise_seed = NoiseSeed(k). Requires k >= 0.
  SyntheticScanOptions Options(int64_t k) const;
  // Frame k with its ground truth: MakeSyntheticScan(Options(k)). Requires
  // Validate().ok() (checked) and k >= 0.
  SyntheticScan Truth(int64_t k) const;
  // Frame k as the controller sends it: frame_id = first_frame_id + k,
  // instrument, session, acquired_unix_ns = 0 (the sender stamps it), and
  // Truth(k).frame (nominal pixel sizes, channel "Z") with source
  // "synthetic:seed=S k=K offset_nm=X,Y" (for reports; not sent).
  InboundFrame Inbound(int64_t k) const;
  // The same from an already rendered Truth(k).
  InboundFrame Inbound(int64_t k, const SyntheticScan& truth) const;
};

}  // namespace anchord::daemon
