#include "util/robust.h"

#include <algorithm>
#include <cmath>

namespace anchord::internal {

double Quantile(std::vector<double>& values, double q) {
  if (values.empty()) return 0.0;
  const size_t k = std::min(values.size() - 1,
                            static_cast<size_t>(q * (values.size() - 1) + 0.5));
  std::nth_element(values.begin(), values.begin() + k, values.end());
  return values[k];
}

double Median(std::vector<double>& values) { return Quantile(values, 0.5); }

double RobustSigma(std::vector<double>& values) {
  if (values.empty()) return 0.0;
  const double m = Median(values);
  for (double& v : values) v = std::abs(v - m);
  return 1.4826 * Median(values);
}

}  // namespace anchord::internal
