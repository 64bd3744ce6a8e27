#include "anchord/util/frame.h"

#include <cmath>

namespace anchord {

std::pair<int, int> ScannedRows(const cv::Mat1f& image) {
  const auto scanned = [&](int y) {
    int n = 0;
    const float* row = image[y];
    for (int x = 0; x < image.cols; ++x) n += std::isfinite(row[x]);
    return 2 * n >= image.cols;
  };
  int begin = 0, end = image.rows;
  while (begin < end && !scanned(begin)) ++begin;
  while (end > begin && !scanned(end - 1)) --end;
  return {begin, end};
}

}  // namespace anchord
