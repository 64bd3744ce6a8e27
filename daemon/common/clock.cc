#include "daemon/common/clock.h"

#include <chrono>

namespace anchord::daemon {

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace anchord::daemon
