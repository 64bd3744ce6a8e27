#pragma once

// `anchord bridge nanonis`: a Nanonis controller as the daemon's frame
// source and, optionally, the daemon's drift estimate as the controller's
// drift compensation.
//
// Per finished frame (Scan.WaitEndOfScan without time-out): the buffer
// (Scan.BufferGet: lines, pixels, recorded channels), the line times
// (Scan.SpeedGet), the scan frame (Scan.FrameGet: centre, size, angle),
// the compensation in force (Piezo.DriftCompGet), the Z controller's state
// (ZCtrl.OnOffGet, for the automatic channel) and the chosen channel's
// data (Scan.FrameDataGrab) become one anchord.v1.Frame on the frames
// PUB socket. Its acquisition time is the controller's end of scan minus
// the frame's duration (lines × (forward + backward time per line)): the
// moment Scan.WaitEndOfScan returned is the end of the frame, whatever
// the bridge does afterwards.
//
// With apply_drift, every `drift` message of this bridge's session is
// judged by DecideDrift (drift_policy.h) and, when it passes, set with
// Piezo.DriftCompSet (on, vx, vy in m/s, vz and the saturation limit kept
// as the controller reported them).
//
// Loss of the controller (a failed connect, read or write, a time-out, a
// malformed response) closes the connection and reconnects with doubling
// back-off; loss of the daemon shows as frames without drift messages and
// is logged; both are counted. Nothing the controller or the daemon sends
// ends the bridge: only `stop` or the frame count does.
//
// Pixel rows: Scan.FrameDataGrab's rows are taken in the order of the
// .sxm data block (acquisition order: row 0 is the first line scanned; a
// backward line as the tip moved, right to left) and put into the
// canonical orientation as the .sxm reader does (io/sxm.h). The public
// protocol document does not state the order; check a real controller's
// first frame against its saved .sxm.

#include "anchord/io/sxm.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include "daemon/instrument/drift_policy.h"
#include "daemon/instrument/frame_publisher.h"
#include "daemon/instrument/nanonis_client.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>

namespace anchord::daemon {

struct BridgeOptions {
  // The controller's TCP interface.
  NanonisClientOptions controller;
  // The frames PUB socket (default: bind tcp://127.0.0.1:5555, where the
  // default daemon connects).
  PublisherOptions publisher;
  // The daemon's results endpoint, for the `drift` topic. Default
  // "tcp://127.0.0.1:5556"; not empty.
  std::string results_endpoint = "tcp://127.0.0.1:5556";
  // Channel to publish, matched against Scan.FrameDataGrab's channel name
  // (exactly, else ignoring case and a trailing " (unit)"). Empty
  // (default): Z while the Z controller is on (ZCtrl.OnOffGet), and at
  // constant height (off) the signal channel: Current, Frequency_Shift,
  // OC M1 Freq. Shift, Amplitude, Excitation, else any but Z.
  std::string channel;
  // Trace to publish. Default forward.
  SxmTrace trace = SxmTrace::kForward;
  // Frame.instrument and Frame.session. Defaults "nanonis"; the session a
  // valid session name (daemon/common/session_name.h).
  std::string instrument = "nanonis";
  std::string session = "nanonis";
  // Set the daemon's drift as the controller's compensation. Default off.
  bool apply_drift = false;
  // When and what is set (clamp, uncertainty, rate).
  DriftPolicyOptions drift;
  // Saturation limit sent with Piezo.DriftCompSet, percent of the piezo
  // range; < 0: the one the controller reported (none for a controller
  // whose DriftCompGet has none: the older 16-byte request). Default -1;
  // < 0 or in (0, 100].
  double saturation_limit_percent = -1;
  // Scan.WaitEndOfScan is called with this time-out, ms, so that drift
  // messages and `stop` are handled at least this often. Default 200; in
  // [1, 60000].
  int wait_slice_ms = 200;
  // Reconnect back-off: first wait and largest wait, ms. Defaults 250 and
  // 8000; 0 < initial <= max <= 600000.
  int backoff_initial_ms = 250;
  int backoff_max_ms = 8000;
  // Frames without a drift message after which the daemon counts as
  // silent (logged once per silence). Default 5; >= 1.
  int daemon_silence_frames = 5;
  // Stop after publishing this many frames; 0 = until stopped. Default 0;
  // >= 0.
  int64_t max_frames = 0;

  // kOk, or kInvalidInput listing every violation.
  Status Validate() const;
};

// Counters since the bridge started.
struct BridgeCounters {
  int64_t frames_published = 0;
  int64_t frames_failed = 0;      // a finished frame that could not be read
  int64_t connects = 0;           // successful connections
  int64_t reconnects = 0;         // connections after the first
  int64_t connect_failures = 0;   // failed connection attempts
  int64_t controller_losses = 0;  // connections lost (transport/protocol)
  int64_t controller_errors = 0;  // responses with the error block set
  int64_t drift_messages = 0;     // drift messages of this session
  int64_t drift_applied = 0;      // Piezo.DriftCompSet sent and accepted
  int64_t drift_clamped = 0;      // of those, clamped
  int64_t drift_refused = 0;      // judged and not applied (any reason)
  int64_t drift_saturated = 0;    // of those, for a saturated axis
  int64_t daemon_silences = 0;    // times the daemon went silent
};

// The compensation the controller has applied over time, as the bridge
// saw it set and reported: its velocity and the displacement it has
// accumulated (Frame.drift_compensation_*). Bounded: the latest 256
// changes.
class CompensationTrack {
 public:
  // From `t_s` (s since the epoch; not before the latest change, else
  // taken at the latest change) on the velocity is `v` (scanner nm/s).
  void Set(double t_s, const Vec2& v_nm_per_s);
  // The velocity in force and the displacement accumulated at `t_s`.
  Vec2 VelocityAt(double t_s) const;
  Vec2 OffsetAt(double t_s) const;
  bool empty() const { return segments_.empty(); }
  Vec2 current() const;

 private:
  struct Segment {
    double t_s;
    Vec2 offset_nm;
    Vec2 v_nm_per_s;
  };
  const Segment* At(double t_s) const;
  std::deque<Segment> segments_;
};

// Runs the bridge until `stop` is set or options.max_frames frames are
// published. kInternal when the frames socket cannot be opened (or an
// option is invalid: kInvalidInput); kOk otherwise.
Status RunNanonisBridge(const BridgeOptions& options,
                        const std::atomic<bool>& stop,
                        BridgeCounters* counters);

}  // namespace anchord::daemon
