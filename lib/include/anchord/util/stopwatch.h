#pragma once

#include <chrono>

namespace anchord {

// Measures elapsed wall time in milliseconds since construction or the
// last Lap().
class Stopwatch {
 public:
  Stopwatch() : start_(Clock::now()) {}
  // Milliseconds since the previous Lap() (or construction); restarts.
  double Lap() {
    const auto now = Clock::now();
    const double ms =
        std::chrono::duration<double, std::milli>(now - start_).count();
    start_ = now;
    return ms;
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
};

}  // namespace anchord
