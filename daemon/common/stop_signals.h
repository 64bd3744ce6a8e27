#pragma once

#include <atomic>
#include <memory>
#include <thread>

namespace anchord::daemon {

// Turns SIGINT and SIGTERM into a flag, for commands that run until they
// are interrupted (`anchord replay`, `anchord demo`). While an instance is
// alive, those signals no longer terminate the process: a Boost.Asio
// signal_set on a thread of its own catches them. Asio delivers a signal
// to every signal_set registered for it, so this coexists with the
// Server's own handlers in the same process (the demo runs both).
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // True once SIGINT or SIGTERM arrived or RequestStop() was called.
  bool stop_requested() const { return stop_; }
  // The flag itself, for loops that take a stop flag; valid while *this
  // lives.
  const std::atomic<bool>& flag() const { return stop_; }
  // The signal that arrived (SIGINT, SIGTERM), 0 when none did.
  int signal_number() const { return signal_; }
  // Sets the flag as a signal would. Thread-safe.
  void RequestStop() { stop_ = true; }

 private:
  struct Runtime;
  std::atomic<bool> stop_{false};
  std::atomic<int> signal_{0};
  std::unique_ptr<Runtime> runtime_;
  std::thread thread_;
};

}  // namespace anchord::daemon
