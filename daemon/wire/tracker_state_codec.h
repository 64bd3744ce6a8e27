#pragma once

// The stored tracker state (anchord/track/session_tracker_state.h):
// SessionTrackerState as the bytes
// of anchord.v1.TrackerState (proto/anchord/v1/tracker_state.proto), and
// back, with a reader for the text format sessions were stored in before
// (version 1). Pure functions; thread-safe.

#include "anchord/track/session_tracker_state.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <string>

namespace anchord::daemon {

// TrackerState.version this codec writes and reads.
inline constexpr uint32_t kTrackerStateVersion = 2;

// The state as serialized TrackerState bytes (binary: may hold NULs; the
// catalog binds them as a BLOB).
std::string EncodeTrackerState(const SessionTrackerState& state);

// Bytes of EncodeTrackerState back into `out`. kInvalidInput, saying
// which, for bytes that are not a TrackerState message, a version other
// than kTrackerStateVersion, arrays of the wrong length (scanner map 4,
// site counts 12) or a site count above 65535; `out` is then unchanged.
// The limits of CheckSessionTrackerState are checked by RestoreState.
Status DecodeTrackerState(const std::string& bytes, SessionTrackerState* out);

// A state as the catalog holds it: TrackerState bytes, or else the legacy
// text of older versions (ParseLegacyTrackerState). kInvalidInput naming
// both failures when the bytes are neither; `out` is then unchanged.
Status ReadStoredTrackerState(const std::string& bytes,
                              SessionTrackerState* out);

}  // namespace anchord::daemon
