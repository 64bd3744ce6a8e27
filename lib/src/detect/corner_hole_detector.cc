#include "anchord/detect/corner_hole_detector.h"

#include "anchord/util/validation.h"

#include "util/point_index.h"
#include "util/robust.h"
#include <opencv2/features2d.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <utility>

namespace anchord {
namespace {

// A level image resampled so that one expected cell spans about
// `working_cell_px` pixels; `scale` = working px per raw px (<= 1).
struct Working {
  cv::Mat1f image;
  double scale = 1.0;
};

Working MakeWorking(const cv::Mat1f& levelled,
                    double cell_px,
                    double working_cell_px) {
  Working w;
  w.scale = std::min(1.0, working_cell_px / cell_px);
  if (w.scale > 0.8) {
    w.scale = 1.0;
    w.image = levelled;
    return w;
  }
  const int cols = std::max(8, static_cast<int>(levelled.cols * w.scale));
  const int rows = std::max(8, static_cast<int>(levelled.rows * w.scale));
  cv::resize(levelled, w.image, cv::Size(cols, rows), 0, 0, cv::INTER_AREA);
  // Actual scale per axis differs by rounding; use the x scale (square
  // pixels in the working image are close enough for detection).
  w.scale = static_cast<double>(cols) / levelled.cols;
  return w;
}

// Raw-image position of a working-image position (pixel centres at
// integers in both; INTER_AREA keeps the centre mapping).
Vec2 RawFromWorking(const Vec2& p, double scale_x, double scale_y) {
  return Vec2((p.x() + 0.5) / scale_x - 0.5, (p.y() + 0.5) / scale_y - 0.5);
}

// 1-D vertex offset of a parabola through (−1, a), (0, b), (1, c).
double ParabolaPeak(double a, double b, double c) {
  const double denom = a - 2.0 * b + c;
  if (std::abs(denom) < 1e-12) return 0.0;
  return std::clamp(0.5 * (a - c) / denom, -0.5, 0.5);
}

// Keeps the strongest `max_count` candidates, strongest first.
void KeepStrongest(std::vector<Candidate>& c, size_t max_count) {
  std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
    return a.response > b.response;
  });
  if (c.size() > max_count) c.resize(max_count);
}

size_t MaxCandidates(cv::Size size, double cell_px, double per_cell) {
  const double cells =
      size.area() / (cell_px * cell_px * std::sqrt(3.0) / 2.0) + 4.0;
  // No more candidates than pixels (a huge product means that; a NaN or
  // negative one none).
  const double n = per_cell * cells;
  const double pixels = static_cast<double>(size.area());
  if (!(n > 0)) return 0;
  return static_cast<size_t>(n < pixels ? n : pixels);
}

// Scale-tuned difference of Gaussians: bright surroundings minus the dark
// core, peaks at corner holes; local maxima refined by parabola fits.
DetectResult DetectFast(const cv::Mat1f& levelled,
                        double cell_px,
                        const DetectOptions& o) {
  DetectResult result;
  const Working w = MakeWorking(levelled, cell_px, o.working_cell_px);
  const double cell_w = cell_px * w.scale;
  const double sigma = o.hole_sigma_fraction * cell_w;
  cv::Mat1f core, ring;
  cv::GaussianBlur(w.image, core, cv::Size(0, 0), sigma, sigma,
                   cv::BORDER_REFLECT);
  cv::GaussianBlur(w.image, ring, cv::Size(0, 0), 2.2 * sigma, 2.2 * sigma,
                   cv::BORDER_REFLECT);
  cv::Mat1f response = ring - core;

  std::vector<double> sample;
  const int step = std::max(1, response.rows * response.cols / 4096);
  for (int k = 0; k < response.rows * response.cols; k += step) {
    sample.push_back(response(k / response.cols, k % response.cols));
  }
  std::vector<double> copy = sample;
  const double median = internal::Median(copy);
  const double spread = internal::RobustSigma(sample);
  if (!(spread > 0)) return result;  // no contrast at this scale
  const double threshold = median + o.min_response_sigma * spread;

  const int r = std::max(1, static_cast<int>(o.nms_fraction * cell_w));
  cv::Mat1f dilated;
  cv::dilate(response, dilated,
             cv::getStructuringElement(cv::MORPH_ELLIPSE,
                                       cv::Size(2 * r + 1, 2 * r + 1)));
  const double sx = static_cast<double>(w.image.cols) / levelled.cols;
  const double sy = static_cast<double>(w.image.rows) / levelled.rows;
  for (int y = 1; y < response.rows - 1; ++y) {
    const float* row = response[y];
    const float* drow = dilated[y];
    for (int x = 1; x < response.cols - 1; ++x) {
      const float v = row[x];
      if (v <= threshold || v < drow[x]) continue;
      const double dx = ParabolaPeak(row[x - 1], v, row[x + 1]);
      const double dy = ParabolaPeak(response(y - 1, x), v, response(y + 1, x));
      Candidate c;
      c.p_px = RawFromWorking(Vec2(x + dx, y + dy), sx, sy);
      c.response = v;
      result.candidates.push_back(c);
    }
  }
  KeepStrongest(result.candidates, MaxCandidates(levelled.size(), cell_px,
                                                 o.max_candidates_per_cell));
  return result;
}

// The detector of Diao et al., Sci. Rep. 15, 13486 (2025): SIFT keypoints
// whose (smoothed) pixel value is below the image mean, merged when
// several scales fire on one hole.
DetectResult DetectSift(const cv::Mat1f& levelled,
                        double cell_px,
                        const DetectOptions& o) {
  DetectResult result;
  const Working w = MakeWorking(levelled, cell_px, 2.0 * o.working_cell_px);
  const double cell_w = cell_px * w.scale;
  // SIFT sees an 8-bit copy; depth (the keep / rank criterion) is read at
  // the corner-hole scale.
  cv::Mat1f light, smooth;
  cv::GaussianBlur(w.image, light, cv::Size(0, 0), 1.0);
  const double sigma = o.hole_sigma_fraction * cell_w;
  cv::GaussianBlur(w.image, smooth, cv::Size(0, 0), sigma, sigma);
  double lo = 0, hi = 0;
  cv::minMaxLoc(light, &lo, &hi);
  cv::Mat img8;
  light.convertTo(img8, CV_8U, 255.0 / std::max(hi - lo, 1e-9),
                  -lo * 255.0 / std::max(hi - lo, 1e-9));
  const double mean = cv::mean(smooth)[0];
  std::vector<cv::KeyPoint> keypoints;
  cv::SIFT::create()->detect(img8, keypoints);
  const double sx = static_cast<double>(w.image.cols) / levelled.cols;
  const double sy = static_cast<double>(w.image.rows) / levelled.rows;
  std::vector<Candidate> raw;
  for (const cv::KeyPoint& k : keypoints) {
    const int x =
        std::clamp(static_cast<int>(std::lround(k.pt.x)), 0, smooth.cols - 1);
    const int y =
        std::clamp(static_cast<int>(std::lround(k.pt.y)), 0, smooth.rows - 1);
    if (smooth(y, x) >= mean) continue;
    // Corner holes give keypoint diameters of ~0.2 cell; the dark gaps
    // between adatoms ~0.12 cell.
    if (k.size < 0.15 * cell_w || k.size > 0.5 * cell_w) continue;
    Candidate c;
    // OpenCV's SIFT doubles the image for its first octave and reports
    // positions as upsampled pixel × 0.5, which puts them 0.25 px right and
    // down of the pixel-centre convention (pixel i of the doubled image is
    // at i / 2 − 0.25).
    c.p_px = RawFromWorking(Vec2(k.pt.x - 0.25, k.pt.y - 0.25), sx, sy);
    c.response = mean - smooth(y, x);
    raw.push_back(c);
  }
  KeepStrongest(raw, raw.size());
  // Merge keypoints closer than the suppression radius (strongest wins).
  const double r = o.nms_fraction * cell_px;
  std::vector<Vec2> kept;
  for (const Candidate& c : raw) {
    bool near = false;
    for (const Vec2& p : kept) {
      if ((p - c.p_px).squaredNorm() < r * r) {
        near = true;
        break;
      }
    }
    if (near) continue;
    kept.push_back(c.p_px);
    result.candidates.push_back(c);
  }
  KeepStrongest(result.candidates, MaxCandidates(levelled.size(), cell_px,
                                                 o.max_candidates_per_cell));
  return result;
}

}  // namespace

const char* DetectorKindName(DetectorKind k) {
  return k == DetectorKind::kFast ? "fast" : "sift";
}

std::optional<DetectorKind> ParseDetectorKind(std::string_view name) {
  for (DetectorKind k : {DetectorKind::kFast, DetectorKind::kSift}) {
    if (name == DetectorKindName(k)) return k;
  }
  return std::nullopt;
}

Status DetectOptions::Validate() const {
  Violations v("detect");
  ANCHORD_OPTION_IN_OPEN(v, hole_sigma_fraction, 0.0, 0.5);
  ANCHORD_OPTION_GE(v, working_cell_px, 8.0);
  ANCHORD_OPTION_GT(v, min_response_sigma, 0.0);
  ANCHORD_OPTION_IN_OPEN(v, nms_fraction, 0.0, 1.0);
  ANCHORD_OPTION_GE(v, max_candidates_per_cell, 1.0);
  return v.ToStatus();
}

DetectResult DetectCornerHoles(const cv::Mat1f& levelled,
                               double cell_px,
                               const DetectOptions& options) {
  if (levelled.rows < 8 || levelled.cols < 8 || !(cell_px > 0)) {
    DetectResult bad;
    bad.status = Status::InvalidInput(
        "detect: needs an image of at least 8 × 8 px and a positive cell");
    return bad;
  }
  // Valid options bound the sizes derived from them (NMS radius, working
  // image) together with the cell.
  if (Status valid = options.Validate(); !valid.ok()) {
    DetectResult bad;
    bad.status = std::move(valid);
    return bad;
  }
  // A cell no longer than the image's larger side keeps every size
  // derived from it (NMS radius, working image, candidate cap) in int.
  if (!(cell_px <= std::max(levelled.rows, levelled.cols))) {
    DetectResult none;
    none.status = Status::NoLattice(
        "detect: a cell of " + std::to_string(cell_px) +
        " px is longer than the image; no lattice fits in it");
    return none;
  }
  DetectResult result = options.kind == DetectorKind::kFast
                            ? DetectFast(levelled, cell_px, options)
                            : DetectSift(levelled, cell_px, options);
  if (result.candidates.size() < 4) {
    result.status = Status::NoLattice(
        "detect: " + std::to_string(result.candidates.size()) +
        " corner-hole candidates (need at least 4)");
  }
  return result;
}

}  // namespace anchord
