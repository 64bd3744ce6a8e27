#pragma once

#include <opencv2/core.hpp>

namespace anchord {

// Turns a feedback-error channel into a topography-like image. In
// constant-current mode the current channel is the loop's error signal,
// proportional to the slope of the topography along the fast scan axis;
// its cumulative sum along each row recovers the topography up to a
// per-row offset and slope, which are removed (least-squares line per
// row). `sign` (+1 or −1) is the polarity of the error signal, which
// depends on the trace direction and the loop's sign convention; the
// caller tries both when it does not know it. Non-finite pixels count as
// zero slope.
cv::Mat1f IntegrateFastAxis(const cv::Mat1f& error_signal, double sign);

}  // namespace anchord
