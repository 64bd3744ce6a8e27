#include "daemon/common/sample_stats.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace anchord::daemon {

double Median(std::vector<double> samples) {
  if (samples.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  return n % 2 == 1 ? samples[n / 2]
                    : 0.5 * (samples[n / 2 - 1] + samples[n / 2]);
}

double Percentile(std::vector<double> samples, double q) {
  if (samples.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(samples.begin(), samples.end());
  const size_t rank =
      static_cast<size_t>(std::ceil(q / 100.0 * samples.size()));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

Summary Summarize(const std::vector<double>& samples_ms) {
  Summary s;
  s.n = samples_ms.size();
  s.median_ms = Median(samples_ms);
  s.p99_ms = Percentile(samples_ms, 99);
  return s;
}

}  // namespace anchord::daemon
