#include "daemon/common/exec_stats.h"

#include "daemon/common/sample_stats.h"

#include <algorithm>
#include <cmath>

namespace anchord::daemon {

ExecStats::ExecStats(std::string name, size_t window)
    : name_(std::move(name)), window_(window == 0 ? 1 : window) {
  samples_.reserve(window_);
}

void ExecStats::Record(double exec_ms, bool error) {
  std::lock_guard lock(mutex_);
  ++processed_;
  errors_ += error;
  if (samples_.size() < window_) {
    samples_.push_back(exec_ms);
  } else {
    samples_[next_] = exec_ms;
  }
  next_ = (next_ + 1) % window_;
}

StageSnapshot ExecStats::Snapshot() const {
  std::vector<double> copy;
  StageSnapshot s;
  {
    std::lock_guard lock(mutex_);
    copy = samples_;
    s.processed = processed_;
    s.errors = errors_;
  }
  s.name = name_;
  if (copy.empty()) return s;
  s.exec_ms_p50 = Percentile(copy, 50);
  s.exec_ms_p90 = Percentile(copy, 90);
  s.exec_ms_p99 = Percentile(copy, 99);
  s.exec_ms_max = *std::max_element(copy.begin(), copy.end());
  return s;
}

}  // namespace anchord::daemon
