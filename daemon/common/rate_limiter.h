#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>

namespace anchord::daemon {

// Allows at most `per_second` events per second on average (token bucket
// with a burst of one second's worth) and counts the rest, so per-frame
// warnings cannot flood the log (spdlog's once-per-second err_handler, in
// spirit). Thread-safe.
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RateLimiter(double per_second)
      : rate_(per_second), tokens_(per_second), last_(Clock::now()) {}

  // Changes the rate from now on (a configuration reload).
  void set_rate(double per_second) {
    std::lock_guard lock(mutex_);
    rate_ = per_second;
    tokens_ = std::min(tokens_, rate_);
  }

  // True when the event may be logged; `suppressed` then holds how many
  // were held back since the last allowed one.
  bool Allow(uint64_t& suppressed) {
    std::lock_guard lock(mutex_);
    const Clock::time_point now = Clock::now();
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    last_ = now;
    tokens_ = std::min(rate_, tokens_ + elapsed * rate_);
    if (rate_ <= 0 || tokens_ < 1.0) {
      ++suppressed_;
      return false;
    }
    tokens_ -= 1.0;
    suppressed = suppressed_;
    suppressed_ = 0;
    return true;
  }

 private:
  std::mutex mutex_;
  double rate_;
  double tokens_;
  Clock::time_point last_;
  uint64_t suppressed_ = 0;
};

}  // namespace anchord::daemon
