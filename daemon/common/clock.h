#pragma once

#include <cstdint>

namespace anchord::daemon {

// Nanoseconds since the Unix epoch, now (the system clock). The one wall
// clock of the daemon: frame receipt, acquisition times of frames that
// carry none, status and health replies.
int64_t NowUnixNs();

}  // namespace anchord::daemon
