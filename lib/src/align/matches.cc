#include "align/matches.h"

#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace anchord::internal {

Vec2 CoarseShift(const cv::Mat1f& fixed,
                 const cv::Mat1f& moving,
                 int max_side_px,
                 double* response) {
  cv::Mat1f a = fixed, b = moving;
  double factor = 1;
  // At most 30 halvings: a side is below 2^31 px.
  for (int k = 0; k < 30 && std::max(a.cols, a.rows) > max_side_px; ++k) {
    cv::Mat1f a2, b2;
    cv::pyrDown(a, a2);
    cv::pyrDown(b, b2);
    a = a2;
    b = b2;
    factor *= 2;
  }
  cv::Mat window;
  cv::createHanningWindow(window, a.size(), CV_32F);
  // phaseCorrelate(a, b) is the shift of b against a: b(x) ≈ a(x − shift).
  const cv::Point2d s = cv::phaseCorrelate(a, b, window, response);
  return Vec2(s.x, s.y) * factor;
}

namespace {

// The vertex offset of a parabola through (−1, l), (0, c), (1, r), within
// ±0.5; 0 when the three are not a peak.
double ParabolaPeak(double l, double c, double r) {
  const double den = l - 2 * c + r;
  if (!(den < 0)) return 0.0;
  return std::clamp(0.5 * (l - r) / den, -0.5, 0.5);
}

bool RowsOk(const std::vector<bool>& rows_ok, int y0, int y1) {
  for (int y = std::max(0, y0); y < std::min<int>(y1, rows_ok.size()); ++y) {
    if (!rows_ok[y]) return false;
  }
  return true;
}

// One patch with origin `o` (top-left, fixed px): the match or nothing.
bool MatchPatch(const cv::Mat1f& fixed,
                const cv::Mat1f& moving,
                const cv::Point& o,
                const cv::Point& predicted,
                const AlignOptions& options,
                AlignMatch* match) {
  const int p = options.patch_px, r = options.search_radius_px;
  const cv::Mat1f templ = fixed(cv::Rect(o.x, o.y, p, p));
  cv::Scalar mean, sd;
  cv::meanStdDev(templ, mean, sd);
  if (!(sd[0] > 1e-6)) return false;
  const cv::Point s0 = o + predicted - cv::Point(r, r);
  const cv::Mat1f search = moving(cv::Rect(s0.x, s0.y, p + 2 * r, p + 2 * r));
  cv::Mat1f ncc;
  cv::matchTemplate(search, templ, ncc, cv::TM_CCOEFF_NORMED);
  double best = 0;
  cv::Point at;
  cv::minMaxLoc(ncc, nullptr, &best, nullptr, &at);
  if (!(best >= options.min_correlation)) return false;
  if (at.x == 0 || at.y == 0 || at.x == ncc.cols - 1 || at.y == ncc.rows - 1) {
    return false;  // the peak may lie beyond the search window
  }
  const double dx =
      ParabolaPeak(ncc(at.y, at.x - 1), best, ncc(at.y, at.x + 1));
  const double dy =
      ParabolaPeak(ncc(at.y - 1, at.x), best, ncc(at.y + 1, at.x));
  const double half = 0.5 * (p - 1);
  match->fixed_px = Vec2(o.x + half, o.y + half);
  match->moving_px = Vec2(s0.x + at.x + dx + half, s0.y + at.y + dy + half);
  match->correlation = best;
  match->keypoint = false;
  return true;
}

}  // namespace

std::vector<AlignMatch> PatchMatches(const cv::Mat1f& fixed,
                                     const std::vector<bool>& fixed_rows_ok,
                                     const cv::Mat1f& moving,
                                     const std::vector<bool>& moving_rows_ok,
                                     const Vec2& shift,
                                     const AlignOptions& options,
                                     int* tried) {
  std::vector<AlignMatch> out;
  *tried = 0;
  const int p = options.patch_px, r = options.search_radius_px;
  // The shift is bounded by the frame size (phase correlation), so the
  // rounding is in range.
  const cv::Point predicted(static_cast<int>(std::lround(shift.x())),
                            static_cast<int>(std::lround(shift.y())));
  const int step = options.patch_stride_px;
  for (int y = 0; y + p <= fixed.rows; y += step) {
    const int sy = y + predicted.y - r;
    if (sy < 0 || sy + p + 2 * r > moving.rows) continue;
    if (!RowsOk(fixed_rows_ok, y, y + p)) continue;
    if (!RowsOk(moving_rows_ok, sy, sy + p + 2 * r)) continue;
    for (int x = 0; x + p <= fixed.cols; x += step) {
      const int sx = x + predicted.x - r;
      if (sx < 0 || sx + p + 2 * r > moving.cols) continue;
      ++*tried;
      AlignMatch m;
      if (MatchPatch(fixed, moving, {x, y}, predicted, options, &m)) {
        out.push_back(m);
      }
    }
  }
  return out;
}

namespace {

cv::Mat1b ToBytes(const cv::Mat1f& image) {
  cv::Mat1b out;
  cv::normalize(image, out, 0, 255, cv::NORM_MINMAX, CV_8U);
  return out;
}

}  // namespace

std::vector<AlignMatch> KeypointMatches(const cv::Mat1f& fixed,
                                        const cv::Mat1f& moving,
                                        const Vec2& shift,
                                        const AlignOptions& options) {
  std::vector<AlignMatch> out;
  cv::Ptr<cv::ORB> orb = cv::ORB::create(options.max_keypoints);
  std::vector<cv::KeyPoint> ka, kb;
  cv::Mat da, db;
  orb->detectAndCompute(ToBytes(fixed), cv::noArray(), ka, da);
  orb->detectAndCompute(ToBytes(moving), cv::noArray(), kb, db);
  if (ka.size() < 2 || kb.size() < 2) return out;
  cv::BFMatcher matcher(cv::NORM_HAMMING);
  std::vector<std::vector<cv::DMatch>> knn;
  matcher.knnMatch(da, db, knn, 2);
  const double gate = 2.0 * options.search_radius_px;
  for (const auto& pair : knn) {
    if (pair.size() < 2) continue;
    if (!(pair[0].distance < options.ratio_test * pair[1].distance)) continue;
    const cv::Point2f a = ka[pair[0].queryIdx].pt, b = kb[pair[0].trainIdx].pt;
    AlignMatch m;
    m.fixed_px = Vec2(a.x, a.y);
    m.moving_px = Vec2(b.x, b.y);
    m.keypoint = true;
    if ((m.moving_px - m.fixed_px - shift).norm() > gate) continue;
    out.push_back(m);
  }
  return out;
}

}  // namespace anchord::internal
