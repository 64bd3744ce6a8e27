#include "support/truth_match.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <vector>

namespace anchord::testing {
namespace {

// Sample-plane distance (nm) of a pixel offset near pixel p, through the
// true mapping's local Jacobian.
double DistanceNm(const SyntheticScan& scan, const Vec2& p, const Vec2& d) {
  const Mat3& h = scan.image_from_model;
  const Mat2 j = Jacobian(h, Apply(h.inverse(), p));
  return (j.inverse() * d).norm();
}

bool InsideBorder(const Vec2& p, cv::Size size, double border_px) {
  return p.x() >= border_px && p.y() >= border_px &&
         p.x() <= size.width - 1 - border_px &&
         p.y() <= size.height - 1 - border_px;
}

// Nearest point of `pts` to q by brute force on a coarse grid bucket.
class Grid {
 public:
  Grid(const std::vector<Vec2>& pts, double cell) : pts_(pts), cell_(cell) {
    for (size_t k = 0; k < pts.size(); ++k) {
      buckets_[Key(pts[k])].push_back(static_cast<int>(k));
    }
  }
  int Nearest(const Vec2& q, double& dist) const {
    int best = -1;
    dist = std::numeric_limits<double>::infinity();
    const auto [cx, cy] = Key(q);
    for (int dx = -1; dx <= 1; ++dx) {
      for (int dy = -1; dy <= 1; ++dy) {
        const auto it = buckets_.find({cx + dx, cy + dy});
        if (it == buckets_.end()) continue;
        for (int k : it->second) {
          const double d = (pts_[k] - q).norm();
          if (d < dist) {
            dist = d;
            best = k;
          }
        }
      }
    }
    return best;
  }

 private:
  std::pair<long, long> Key(const Vec2& p) const {
    return {static_cast<long>(std::floor(p.x() / cell_)),
            static_cast<long>(std::floor(p.y() / cell_))};
  }
  const std::vector<Vec2>& pts_;
  double cell_;
  std::map<std::pair<long, long>, std::vector<int>> buckets_;
};

}  // namespace

void TruthScore::Add(const TruthScore& o) {
  truth_sites += o.truth_sites;
  matched_sites += o.matched_sites;
  reported_sites += o.reported_sites;
  reported_matched += o.reported_matched;
  occupied_matched += o.occupied_matched;
  sum_sq_error_nm += o.sum_sq_error_nm;
  true_vacancies += o.true_vacancies;
  reported_vacancies += o.reported_vacancies;
  vacancy_hits += o.vacancy_hits;
  reported_vacancy_hits += o.reported_vacancy_hits;
  truth_holes += o.truth_holes;
  matched_holes += o.matched_holes;
  faulted_agree += o.faulted_agree;
}

std::string TruthScore::Summary() const {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "sites %d: recall %.4f precision %.4f rms %.1f pm | "
                "vacancies %d: P %.3f R %.3f | holes %d: recall %.4f | "
                "faulted %.3f",
                truth_sites, recall(), precision(), 1000 * rms_error_nm(),
                true_vacancies, vacancy_precision(), vacancy_recall(),
                truth_holes, hole_recall(), faulted_accuracy());
  return buf;
}

TruthScore ScoreAgainstTruth(const FrameResult& result,
                             const SyntheticScan& scan,
                             double border_nm,
                             double match_nm) {
  TruthScore s;
  const cv::Size size = scan.frame.image.size();
  const double px_nm = scan.frame.pixel_size_x_nm;
  // Border in px through the nominal pixel size.
  const double border_px = border_nm / px_nm;
  std::vector<Vec2> reported;
  for (const AdatomSite& a : result.sites.adatoms) reported.push_back(a.p_px);
  const double cell = 1.0 / px_nm;  // ~1 nm buckets
  const Grid rep_grid(reported, cell);
  std::vector<Vec2> truth;
  for (const TruthAdatom& t : scan.adatoms) truth.push_back(t.p_px);
  const Grid truth_grid(truth, cell);

  for (const TruthAdatom& t : scan.adatoms) {
    if (!InsideBorder(t.p_px, size, border_px)) continue;
    ++s.truth_sites;
    s.true_vacancies += !t.occupied;
    double d_px = 0;
    const int k = rep_grid.Nearest(t.p_px, d_px);
    if (k < 0) continue;
    const AdatomSite& a = result.sites.adatoms[k];
    const double d_nm = DistanceNm(scan, t.p_px, a.p_px - t.p_px);
    if (d_nm > match_nm) continue;
    ++s.matched_sites;
    s.faulted_agree += a.faulted == t.faulted;
    if (t.occupied) {
      ++s.occupied_matched;
      s.sum_sq_error_nm += d_nm * d_nm;
    }
    s.vacancy_hits += !t.occupied && !a.occupied;
  }
  for (const AdatomSite& a : result.sites.adatoms) {
    if (!InsideBorder(a.p_px, size, border_px)) continue;
    ++s.reported_sites;
    s.reported_vacancies += !a.occupied;
    double d_px = 0;
    const int k = truth_grid.Nearest(a.p_px, d_px);
    if (k >= 0 && DistanceNm(scan, a.p_px, truth[k] - a.p_px) <= match_nm) {
      ++s.reported_matched;
      s.reported_vacancy_hits += !a.occupied && !scan.adatoms[k].occupied;
    }
  }
  std::vector<Vec2> holes;
  for (const CornerHoleSite& c : result.sites.corner_holes) {
    holes.push_back(c.p_px);
  }
  const Grid hole_grid(holes, cell);
  for (const TruthCornerHole& t : scan.corner_holes) {
    if (!InsideBorder(t.p_px, size, border_px)) continue;
    ++s.truth_holes;
    double d_px = 0;
    const int k = hole_grid.Nearest(t.p_px, d_px);
    if (k >= 0 && DistanceNm(scan, t.p_px, holes[k] - t.p_px) <= match_nm) {
      ++s.matched_holes;
    }
  }
  return s;
}

}  // namespace anchord::testing
