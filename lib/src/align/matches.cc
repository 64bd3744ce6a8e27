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
  // phaseCorrelate multiplies its inputs by the window in place: never the
  // caller's frames.
  if (a.data == fixed.data) a = fixed.clone();
  if (b.data == moving.data) b = moving.clone();
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

// Lanes of the correlation accumulator: the shifts of one search row,
// padded to a multiple of the vector width.
constexpr int kLanes = 16;

// Sum and sum of squares of the moving frame over rectangles, from its
// integral images (computed once per frame).
struct WindowSums {
  cv::Mat1d sum, sqsum;
  explicit WindowSums(const cv::Mat1f& image) {
    cv::integral(image, sum, sqsum, CV_64F, CV_64F);
  }
  // Over the p × p window with top-left (x, y).
  void At(int x, int y, int p, double* s, double* s2) const {
    *s = sum(y + p, x + p) - sum(y, x + p) - sum(y + p, x) + sum(y, x);
    *s2 = sqsum(y + p, x + p) - sqsum(y, x + p) - sqsum(y + p, x) + sqsum(y, x);
  }
};

// Normalised cross-correlation of the zero-mean template `t` (norm
// `t_norm`) with every p × p window of `moving` whose top-left lies in
// [s0, s0 + n) on both axes: ncc(v, u) for window (s0.x + u, s0.y + v).
// Direct sums (the template is small), the window statistics from the
// integral images.
void Correlate(const cv::Mat1f& t,
               double t_norm,
               const cv::Mat1f& moving,
               const WindowSums& sums,
               const cv::Point& s0,
               int n,
               cv::Mat1f& ncc) {
  const int p = t.rows;
  // The search window, zero-padded on the right so that every row offers
  // kLanes shifts.
  cv::Mat1f window = cv::Mat1f::zeros(p + n - 1, p + kLanes);
  moving(cv::Rect(s0.x, s0.y, p + n - 1, p + n - 1))
      .copyTo(window(cv::Rect(0, 0, p + n - 1, p + n - 1)));
  ncc.create(n, n);
  for (int v = 0; v < n; ++v) {
    float acc[kLanes] = {};
    for (int i = 0; i < p; ++i) {
      const float* trow = t.ptr<float>(i);
      const float* srow = window.ptr<float>(v + i);
      for (int j = 0; j < p; ++j) {
        const float tv = trow[j];
        const float* s = srow + j;
        for (int u = 0; u < kLanes; ++u) acc[u] += tv * s[u];
      }
    }
    const double count = static_cast<double>(p) * p;
    for (int u = 0; u < n; ++u) {
      double s = 0, s2 = 0;
      sums.At(s0.x + u, s0.y + v, p, &s, &s2);
      const double var = s2 - s * s / count;
      ncc(v, u) = var > 1e-12 * count
                      ? static_cast<float>(acc[u] / (t_norm * std::sqrt(var)))
                      : 0.0f;
    }
  }
}

// One patch with origin `o` (top-left, fixed px): the match or nothing.
bool MatchPatch(const cv::Mat1f& fixed,
                const cv::Mat1f& moving,
                const WindowSums& sums,
                const cv::Point& o,
                const cv::Point& predicted,
                const AlignOptions& options,
                AlignMatch* match) {
  const int p = options.patch_px, r = options.search_radius_px;
  cv::Mat1f templ;
  fixed(cv::Rect(o.x, o.y, p, p)).copyTo(templ);
  templ -= cv::mean(templ)[0];
  const double t_norm = cv::norm(templ);
  if (!(t_norm > 1e-6 * p)) return false;
  const cv::Point s0 = o + predicted - cv::Point(r, r);
  cv::Mat1f ncc;
  Correlate(templ, t_norm, moving, sums, s0, 2 * r + 1, ncc);
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
  const WindowSums sums(moving);
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
      if (MatchPatch(fixed, moving, sums, {x, y}, predicted, options, &m)) {
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
