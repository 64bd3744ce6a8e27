#include "anchord/preprocess/integrate.h"

#include <cmath>
#include <limits>

namespace anchord {
namespace {

// Removes the least-squares line a + b·x from one row.
void DetrendRow(float* row, int n) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (int x = 0; x < n; ++x) {
    sx += x;
    sy += row[x];
    sxx += double(x) * x;
    sxy += double(x) * row[x];
  }
  const double denom = n * sxx - sx * sx;
  const double b = denom != 0 ? (n * sxy - sx * sy) / denom : 0.0;
  const double a = (sy - b * sx) / n;
  for (int x = 0; x < n; ++x) row[x] -= static_cast<float>(a + b * x);
}

}  // namespace

cv::Mat1f IntegrateFastAxis(const cv::Mat1f& error_signal, double sign) {
  cv::Mat1f out(error_signal.size());
  for (int y = 0; y < error_signal.rows; ++y) {
    const float* in = error_signal[y];
    double mean = 0;
    int finite = 0;
    for (int x = 0; x < error_signal.cols; ++x) {
      if (!std::isfinite(in[x])) continue;
      mean += in[x];
      ++finite;
    }
    mean = finite ? mean / finite : 0.0;
    float* row = out[y];
    double acc = 0;
    for (int x = 0; x < error_signal.cols; ++x) {
      if (std::isfinite(in[x])) acc += sign * (in[x] - mean);
      row[x] = static_cast<float>(acc);
    }
    if (finite < error_signal.cols / 2) {
      // A row that is mostly missing stays missing for the levelling.
      row[0] = std::numeric_limits<float>::quiet_NaN();
      for (int x = 0; x < error_signal.cols; ++x) row[x] = row[0];
      continue;
    }
    DetrendRow(row, error_signal.cols);
  }
  return out;
}

}  // namespace anchord
