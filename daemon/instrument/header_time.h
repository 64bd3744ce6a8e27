#pragma once

// The acquisition time a file header states, for frames replayed or
// watched from files (`anchord replay --time header`, `anchord watch`).
// Pure functions; thread-safe.

#include "anchord/util/frame.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace anchord::daemon {

// "2016-01-07T12:54:04" (Frame::acquired_at, the .sxm REC_DATE and
// REC_TIME) as ns since the Unix epoch. The header names no time zone:
// the time is read as UTC, so absolute times may be off by the
// instrument's UTC offset while differences between frames, all the drift
// needs, are right. nullopt when `iso` is not a valid date and time.
std::optional<int64_t> IsoLocalTimeToUnixNs(std::string_view iso);

// IsoLocalTimeToUnixNs(frame.acquired_at): the start of the frame's
// acquisition as its header records it (Nanonis REC_TIME, whole seconds).
std::optional<int64_t> HeaderAcquiredUnixNs(const Frame& frame);

}  // namespace anchord::daemon
