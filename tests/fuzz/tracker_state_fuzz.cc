// libFuzzer target for the stored tracker state: ReadStoredTrackerState
// (anchord.v1.TrackerState, else the legacy text) on the input, then
// RestoreState into a tracker, as a daemon does when a session resumes. A
// restored tracker must take a frame without hanging (libFuzzer's
// -timeout catches that) and export a state that decodes again.

#include "anchord/model/lattice_model.h"
#include "anchord/track/session_tracker.h"

#include "daemon/wire/tracker_state_codec.h"
#include "fuzz_check.h"

#include <cstddef>
#include <cstdint>
#include <string>

using anchord::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  anchord::SessionTrackerState state;
  if (!anchord::daemon::ReadStoredTrackerState(bytes, &state).ok()) return 0;
  static const anchord::LatticeModel model = anchord::MakeSi7x7Model();
  anchord::SessionTracker tracker(anchord::TrackOptions{}, model);
  if (!tracker.RestoreState(state).ok()) return 0;
  anchord::SessionTrackerState round;
  Check(anchord::daemon::DecodeTrackerState(
            anchord::daemon::EncodeTrackerState(tracker.ExportState()), &round)
            .ok(),
        "an exported state decodes");
  anchord::SessionTracker again(anchord::TrackOptions{}, model);
  Check(again.RestoreState(round).ok(), "an exported state restores");
  return 0;
}
