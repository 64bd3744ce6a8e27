#pragma once

// Order statistics of measurement samples for the study and bench reports.

#include <cstddef>
#include <vector>

namespace anchord::daemon {

// Median: the middle sample, or the midpoint of the two middle samples for
// an even count. NaN for no samples.
double Median(std::vector<double> samples);

// Percentile q in (0, 100] by nearest rank: the ceil(q/100 · n)-th smallest
// sample. NaN for no samples.
double Percentile(std::vector<double> samples, double q);

// Median and p99 (nearest rank) of timing samples, ms.
struct Summary {
  double median_ms = 0;
  double p99_ms = 0;
  size_t n = 0;
};
Summary Summarize(const std::vector<double>& samples_ms);

}  // namespace anchord::daemon
