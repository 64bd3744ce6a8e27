#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace anchord::daemon {

// Counters and execution-time percentiles of one stage, as published on
// the status topic.
struct StageSnapshot {
  std::string name;
  uint64_t processed = 0;
  uint64_t errors = 0;
  double exec_ms_p50 = 0, exec_ms_p90 = 0, exec_ms_p99 = 0, exec_ms_max = 0;
};

// Execution times of one stage over a sliding window of the last
// `window` samples, plus lifetime counters. Thread-safe.
class ExecStats {
 public:
  explicit ExecStats(std::string name, size_t window = 2048);

  void Record(double exec_ms, bool error);
  StageSnapshot Snapshot() const;

 private:
  const std::string name_;
  const size_t window_;
  mutable std::mutex mutex_;
  std::vector<double> samples_;  // ring buffer
  size_t next_ = 0;
  uint64_t processed_ = 0;
  uint64_t errors_ = 0;
};

}  // namespace anchord::daemon
