#pragma once

// Internal robust statistics helpers.

#include <vector>

namespace anchord::internal {

// Median of the values (the vector is reordered). 0 for an empty vector.
double Median(std::vector<double>& values);
// Quantile q in [0, 1] by nth_element (reorders). 0 for an empty vector.
double Quantile(std::vector<double>& values, double q);
// 1.4826 × median absolute deviation from the median: a robust standard
// deviation for Gaussian data. Reorders the vector.
double RobustSigma(std::vector<double>& values);

}  // namespace anchord::internal
