#include "anchord/sites/off_lattice.h"

#include "anchord/util/validation.h"

#include "util/image_sample.h"
#include "util/point_index.h"
#include "util/robust.h"
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

namespace anchord {
namespace {

// LocateSites measures AdatomSite::contrast on the levelled frame smoothed
// with std 0.2 × the adatom spacing (at the frame centre's scale, at least
// 0.5 px). Heights are measured on the same image so that they are
// commensurate with that contrast; keep the two in step.
constexpr double kSiteSmoothFraction = 0.2;
// Sites whose offsets carry the displacement field to a feature, and the
// fewest occupied sites a local adatom level is taken over.
constexpr int kFieldSites = 6;
constexpr int kMinLevelSites = 6;
// Floor of the confidence scale, in height units: the adatom levels of a
// noise-free synthetic frame have no spread at all.
constexpr double kMinSpread = 0.05;

// 1-D vertex offset of a parabola through (−1, a), (0, b), (1, c).
double ParabolaPeak(double a, double b, double c) {
  const double denom = a - 2.0 * b + c;
  if (std::abs(denom) < 1e-12) return 0.0;
  return std::clamp(0.5 * (a - c) / denom, -0.5, 0.5);
}

// True when img(y, x) is ≥ its eight neighbours (1 ≤ x < cols − 1, same
// for y). Plateaus give several maxima; the suppression step merges them.
bool IsLocalMax(const cv::Mat1f& img, int x, int y) {
  const float v = img(y, x);
  for (int dy = -1; dy <= 1; ++dy) {
    const float* row = img[y + dy];
    for (int dx = -1; dx <= 1; ++dx) {
      if ((dx != 0 || dy != 0) && row[x + dx] > v) return false;
    }
  }
  return true;
}

}  // namespace

Status OffLatticeOptions::Validate() const {
  Violations v("off_lattice");
  ANCHORD_OPTION_GT(v, min_height, 0.0);
  ANCHORD_OPTION_IN_OPEN(v, min_site_distance_nm, 0.0, 0.768);
  ANCHORD_OPTION_GT(v, level_radius_nm, 0.0);
  ANCHORD_OPTION_GE(v, border_nm, 0.0);
  ANCHORD_OPTION_GE(v, merge_distance_nm, 0.0);
  return v.ToStatus();
}

std::vector<OffLatticeFeature> FindOffLatticeFeatures(
    const cv::Mat1f& levelled,
    const SitesResult& sites,
    const OffLatticeOptions& o) {
  std::vector<OffLatticeFeature> out;
  if (!o.enabled || levelled.rows < 3 || levelled.cols < 3) return out;
  std::vector<double> contrast;
  for (const AdatomSite& a : sites.adatoms) {
    if (a.occupied) contrast.push_back(a.contrast);
  }
  const double unit = internal::Median(contrast);
  if (contrast.empty() || !(unit > 0)) return out;

  const cv::Size size = levelled.size();
  const Mat3& h = sites.image_from_model;
  const Mat3 model_from_image = h.inverse();
  const Vec2 centre(0.5 * (size.width - 1), 0.5 * (size.height - 1));
  const double px_per_nm = std::sqrt(
      std::abs(Jacobian(h, Apply(model_from_image, centre)).determinant()));
  if (!std::isfinite(px_per_nm) || px_per_nm <= 0) return out;

  // LocateSites' smoothing when it came along (same scale), else the same
  // blur here.
  cv::Mat1f smooth = sites.smoothed;
  if (smooth.size() != size) {
    cv::GaussianBlur(
        levelled, smooth, cv::Size(0, 0),
        std::max(0.5, kSiteSmoothFraction * kSi7x7AdatomSpacingNm * px_per_nm));
  }
  std::vector<double> occupied_level;
  for (const AdatomSite& a : sites.adatoms) {
    if (a.occupied)
      occupied_level.push_back(internal::Bilinear(smooth, a.p_px));
  }
  std::vector<double> scratch = occupied_level;
  const float prefilter =
      static_cast<float>(internal::Median(scratch) + 0.5 * o.min_height * unit);

  // Integer maxima above the prefilter, clear of the border.
  const double border_px = std::max(1.0, o.border_nm * px_per_nm);
  std::vector<Vec2> peaks;
  for (int y = 1; y < size.height - 1; ++y) {
    const float* row = smooth[y];
    for (int x = 1; x < size.width - 1; ++x) {
      if (row[x] <= prefilter || !IsLocalMax(smooth, x, y)) continue;
      const Vec2 p(
          x + ParabolaPeak(row[x - 1], row[x], row[x + 1]),
          y + ParabolaPeak(smooth(y - 1, x), row[x], smooth(y + 1, x)));
      if (p.x() >= border_px && p.y() >= border_px &&
          p.x() <= size.width - 1 - border_px &&
          p.y() <= size.height - 1 - border_px) {
        peaks.push_back(p);
      }
    }
  }
  if (peaks.empty()) return out;

  // Every site in the model plane with its offset model − H⁻¹(px): the
  // displacement field plus the peak refinement, as LocateSites placed it.
  std::vector<Vec2> site_nm, offset_nm, occupied_nm;
  for (const AdatomSite& a : sites.adatoms) {
    site_nm.push_back(a.model_nm);
    offset_nm.push_back(a.model_nm - Apply(model_from_image, a.p_px));
    if (a.occupied) occupied_nm.push_back(a.model_nm);
  }
  const internal::PointIndex all_sites(std::move(site_nm));
  const internal::PointIndex occupied_sites(std::move(occupied_nm));
  std::vector<double> level;
  for (const Vec2& p : peaks) {
    const Vec2 m0 = Apply(model_from_image, p);
    Vec2 shift = Vec2::Zero();
    const auto near = all_sites.KNearest(m0, kFieldSites);
    for (const auto& [k, d] : near) shift += offset_nm[k];
    const Vec2 m = m0 + shift / static_cast<double>(near.size());
    if (all_sites.Nearest(m).second < o.min_site_distance_nm) continue;

    auto local = occupied_sites.Within(m, o.level_radius_nm);
    if (static_cast<int>(local.size()) < kMinLevelSites) {
      local = occupied_sites.KNearest(m, kMinLevelSites);
    }
    level.clear();
    for (const auto& [k, d] : local) level.push_back(occupied_level[k]);
    const double height =
        (internal::Bilinear(smooth, p) - internal::Median(level)) / unit;
    if (height < o.min_height) continue;
    const double spread =
        std::max(kMinSpread, internal::RobustSigma(level) / unit);
    OffLatticeFeature f;
    f.p_px = p;
    f.model_nm = m;
    f.height = height;
    f.confidence =
        1.0 / (1.0 + std::exp(-2.0 * (height - o.min_height) / spread));
    out.push_back(f);
  }

  // Non-maximum suppression in the model plane, highest first.
  std::sort(out.begin(), out.end(),
            [](const OffLatticeFeature& a, const OffLatticeFeature& b) {
              return a.height > b.height;
            });
  std::vector<OffLatticeFeature> kept;
  const double merge2 = o.merge_distance_nm * o.merge_distance_nm;
  for (const OffLatticeFeature& f : out) {
    const bool shadowed =
        std::any_of(kept.begin(), kept.end(), [&](const OffLatticeFeature& k) {
          return (k.model_nm - f.model_nm).squaredNorm() < merge2;
        });
    if (!shadowed) kept.push_back(f);
  }
  return kept;
}

}  // namespace anchord
