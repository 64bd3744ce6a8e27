#pragma once

// Stages for pipeline tests: they stand in for the real decode / register /
// encode stages so the runner's queues, ordering and counters can be
// driven on purpose.

#include "daemon/serve/stage.h"

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace anchord::testing {

// Sleeps for `delay` (plus up to `jitter`, random) and succeeds.
class SlowStage final : public daemon::Stage {
 public:
  explicit SlowStage(std::chrono::milliseconds delay,
                     std::chrono::milliseconds jitter = {})
      : delay_(delay), jitter_(jitter) {}
  const char* name() const override { return "slow"; }
  bool Process(daemon::Job&) override {
    auto d = delay_;
    if (jitter_.count() > 0) {
      std::lock_guard lock(mutex_);
      d += std::chrono::milliseconds(rng_() % (jitter_.count() + 1));
    }
    std::this_thread::sleep_for(d);
    return true;
  }

 private:
  std::chrono::milliseconds delay_, jitter_;
  std::mutex mutex_;
  std::mt19937 rng_{7};
};

// Fails every job whose payload equals `bad`; throws for `poison`.
class PickyStage final : public daemon::Stage {
 public:
  const char* name() const override { return "picky"; }
  bool Process(daemon::Job& job) override {
    if (job.payload == "poison") throw std::runtime_error("poisoned");
    if (job.payload == "bad") {
      job.status = Status::InvalidInput("bad payload");
      return false;
    }
    return true;
  }
};

// Counts the jobs it sees (to prove later stages still run after a failure).
class CountingStage final : public daemon::Stage {
 public:
  const char* name() const override { return "count"; }
  bool Process(daemon::Job&) override {
    ++seen;
    return true;
  }
  std::atomic<int> seen{0};
};

// Collects delivered jobs (thread-safe).
class RecordingSink {
 public:
  void operator()(std::unique_ptr<daemon::Job> job) {
    std::lock_guard lock(mutex_);
    jobs_.push_back(std::move(job));
  }
  std::vector<uint64_t> Sequences() const {
    std::lock_guard lock(mutex_);
    std::vector<uint64_t> s;
    for (const auto& j : jobs_) s.push_back(j->sequence);
    return s;
  }
  std::vector<std::string> Payloads() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> s;
    for (const auto& j : jobs_) s.push_back(j->payload);
    return s;
  }
  size_t size() const {
    std::lock_guard lock(mutex_);
    return jobs_.size();
  }
  const daemon::Job& at(size_t k) const {
    std::lock_guard lock(mutex_);
    return *jobs_[k];
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<daemon::Job>> jobs_;
};

}  // namespace anchord::testing
