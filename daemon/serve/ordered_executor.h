#pragma once

#include "daemon/serve/stage.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace anchord::daemon {

// Runs the pipeline's ordered stages on one job at a time on a thread of
// its own, so that the ordered thread can give up on a job whose ordered
// stages run past a deadline (a watchdog: a stuck tracker never holds the
// pipeline). The abandoned job stays with the executor until its stages
// return; meanwhile the executor is busy and later jobs are not run.
//
// States: idle → Run() → running → idle (the caller took the job back, or
// the job was abandoned and its stages returned).
// Thread-safe for one caller (the ordered thread).
class OrderedExecutor {
 public:
  // `run` applies the ordered stages to a job; it is called on the
  // executor's thread.
  explicit OrderedExecutor(std::function<void(Job&)> run);
  // Joins the thread: callers that may hold a stuck executor Abandon()
  // it instead of destroying it.
  ~OrderedExecutor();
  OrderedExecutor(const OrderedExecutor&) = delete;
  OrderedExecutor& operator=(const OrderedExecutor&) = delete;

  // False while a job (an abandoned one) is still being run.
  bool idle() const;
  // Runs `job` and waits up to `deadline` (zero or negative: no limit).
  // Returns the job when its stages finished in time; null when they did
  // not — the job is abandoned and destroyed once they return. Requires
  // idle().
  std::unique_ptr<Job> Run(std::unique_ptr<Job> job,
                           std::chrono::steady_clock::duration deadline);
  // For shutdown with a stuck job: lets the thread go on without anyone
  // waiting for it. The executor and what `run` refers to must then stay
  // alive until the process ends (the caller leaks them on purpose).
  void Detach();

 private:
  void Loop();

  const std::function<void(Job&)> run_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::unique_ptr<Job> job_;
  bool running_ = false;    // job_ is being run
  bool abandoned_ = false;  // the caller stopped waiting for job_
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace anchord::daemon
