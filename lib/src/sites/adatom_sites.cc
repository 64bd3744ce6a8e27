#include "anchord/sites/adatom_sites.h"

#include "anchord/util/validation.h"

#include "sites/occupancy_template.h"
#include "util/image_sample.h"
#include "util/robust.h"
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace anchord {
namespace {

// Site contrast: the highest smoothed height within 0.12 nm of the site
// (tolerates a position error of that size) minus the mean of six points
// half an adatom spacing away (the saddles towards its neighbours), in the
// model plane mapped through the local Jacobian. ~0 for a vacancy.
double Contrast(const cv::Mat1f& smooth, const Vec2& p, const Mat2& jacobian) {
  constexpr double kPi = 3.14159265358979323846;
  double ring = 0;
  double top = internal::Bilinear(smooth, p);
  for (int k = 0; k < 6; ++k) {
    const double a = k * kPi / 3.0 + kPi / 6.0;
    const Vec2 dir(std::cos(a), std::sin(a));
    ring += internal::Bilinear(
        smooth, p + jacobian * (0.5 * kSi7x7AdatomSpacingNm * dir));
    top =
        std::max(top, internal::Bilinear(smooth, p + jacobian * (0.12 * dir)));
  }
  return top - ring / 6.0;
}

struct Site {
  Vec2 model_nm;
  int i, j;
  const BasisSite* basis;
};

// Every basis site of every cell whose lattice box can reach the frame.
std::vector<Site> EnumerateSites(const LatticeModel& model,
                                 const Mat3& image_from_model,
                                 cv::Size size) {
  const Mat3 model_from_image = image_from_model.inverse();
  double i0 = 1e18, i1 = -1e18, j0 = 1e18, j1 = -1e18;
  for (const Vec2& c : {Vec2(0, 0), Vec2(size.width, 0), Vec2(0, size.height),
                        Vec2(size.width, size.height)}) {
    const Vec2 f = model.LatticeFromModel(Apply(model_from_image, c));
    i0 = std::min(i0, f.x());
    i1 = std::max(i1, f.x());
    j0 = std::min(j0, f.y());
    j1 = std::max(j1, f.y());
  }
  std::vector<Site> sites;
  // As lattice registration's guard: a degenerate map (a non-finite
  // range, or more than 4e6 cells) enumerates nothing; within it the
  // casts and the loop bounds stay far inside int.
  if (!((i1 - i0 + 3) * (j1 - j0 + 3) <= 4e6 && std::abs(i0) < 1e9 &&
        std::abs(i1) < 1e9 && std::abs(j0) < 1e9 && std::abs(j1) < 1e9)) {
    return sites;
  }
  for (int i = static_cast<int>(std::floor(i0)) - 1; i <= i1 + 1; ++i) {
    for (int j = static_cast<int>(std::floor(j0)) - 1; j <= j1 + 1; ++j) {
      const Vec2 origin = model.ModelFromLattice(i, j);
      for (const BasisSite& b : model.sites) {
        sites.push_back(
            {origin + model.ModelFromLattice(b.frac.x(), b.frac.y()), i, j,
             &b});
      }
    }
  }
  return sites;
}

// Turns the registration by 180° about the centre of cell (0, 0)'s long
// diagonal: model point m → (a1 + a2) − m; lattice (i, j) → (1 − i, 1 − j).
// T1 and T2 swap; the code order within a half (corner sites first,
// counter-clockwise, then centre sites; anchord/model/lattice_model.h) is
// kept.
RegisterResult TurnHalf(const RegisterResult& reg, const LatticeModel& model) {
  RegisterResult out = reg;
  const Vec2 t = model.a1_nm + model.a2_nm;
  Mat3 m = Mat3::Identity();
  m(0, 0) = -1;
  m(1, 1) = -1;
  m(0, 2) = t.x();
  m(1, 2) = t.y();
  out.image_from_model = reg.image_from_model * m;
  out.image_from_model /= out.image_from_model(2, 2);
  for (HolePair& p : out.pairs) {
    p.i = 1 - p.i;
    p.j = 1 - p.j;
    p.model_nm = t - p.model_nm;
  }
  return out;
}

// 1-D vertex offset of a parabola through (−1, a), (0, b), (1, c).
double ParabolaPeak(double a, double b, double c) {
  const double denom = a - 2.0 * b + c;
  if (std::abs(denom) < 1e-12) return 0.0;
  return std::clamp(0.5 * (a - c) / denom, -0.5, 0.5);
}

// Sub-pixel local maximum of `img` within `radius` px of p (the peak
// detection of Schwenker et al., "An Autonomous Microscopy Workflow for
// Structure Determination from Atomic-Resolution Images": integer maximum,
// then a parabola per axis). False when the maximum lies on the search
// boundary (no peak inside).
bool PeakNear(const cv::Mat1f& img, const Vec2& p, double radius, Vec2& peak) {
  // A radius or a position outside the image (or NaN) finds no peak; the
  // conversions below are then of values within the image's sides.
  const double side = std::max(img.cols, img.rows);
  if (!(radius <= side && std::abs(p.x()) <= side && std::abs(p.y()) <= side)) {
    return false;
  }
  const int r = std::max(1, static_cast<int>(std::ceil(radius)));
  const int cx = static_cast<int>(std::lround(p.x()));
  const int cy = static_cast<int>(std::lround(p.y()));
  if (cx - r < 1 || cy - r < 1 || cx + r > img.cols - 2 ||
      cy + r > img.rows - 2) {
    return false;
  }
  int bx = cx, by = cy;
  float best = -std::numeric_limits<float>::infinity();
  for (int y = cy - r; y <= cy + r; ++y) {
    for (int x = cx - r; x <= cx + r; ++x) {
      if ((Vec2(x, y) - p).squaredNorm() > radius * radius) continue;
      if (img(y, x) > best) {
        best = img(y, x);
        bx = x;
        by = y;
      }
    }
  }
  if ((Vec2(bx, by) - p).norm() > radius - 1.0) return false;
  peak = Vec2(bx + ParabolaPeak(img(by, bx - 1), best, img(by, bx + 1)),
              by + ParabolaPeak(img(by - 1, bx), best, img(by + 1, bx)));
  return true;
}

// Refines predicted adatom positions by the intensity maxima: each cell
// takes the mean offset (maximum − prediction) of the occupied adatoms in
// it and its six neighbour cells. Averaging over a neighbourhood keeps
// the lattice prediction's precision while following deformations the
// corner holes alone miss.
void RefineToPeaks(const cv::Mat1f& smooth,
                   double radius_px,
                   std::vector<AdatomSite>& adatoms) {
  std::map<std::pair<int, int>, std::pair<Vec2, int>> cell;
  for (const AdatomSite& a : adatoms) {
    Vec2 peak;
    if (!a.occupied || !PeakNear(smooth, a.p_px, radius_px, peak)) continue;
    auto it = cell.try_emplace({a.i, a.j}, Vec2::Zero(), 0).first;
    it->second.first += peak - a.p_px;
    ++it->second.second;
  }
  constexpr int kDi[7] = {0, 1, -1, 0, 0, 1, -1};
  constexpr int kDj[7] = {0, 0, 0, 1, -1, -1, 1};
  std::map<std::pair<int, int>, Vec2> offset;
  for (AdatomSite& a : adatoms) {
    const auto key = std::make_pair(a.i, a.j);
    auto it = offset.find(key);
    if (it == offset.end()) {
      Vec2 sum = Vec2::Zero();
      int n = 0;
      for (int k = 0; k < 7; ++k) {
        const auto c = cell.find({a.i + kDi[k], a.j + kDj[k]});
        if (c == cell.end()) continue;
        sum += c->second.first;
        n += c->second.second;
      }
      it = offset.emplace(key, n >= 6 ? Vec2(sum / n) : Vec2::Zero()).first;
    }
    a.p_px += it->second;
  }
}

bool Inside(const Vec2& p, cv::Size size, double border) {
  return p.x() >= border && p.y() >= border &&
         p.x() <= size.width - 1 - border && p.y() <= size.height - 1 - border;
}

}  // namespace

const char* OccupancyMethodName(OccupancyMethod m) {
  return m == OccupancyMethod::kThreshold ? "threshold" : "template";
}

Status SitesOptions::Validate() const {
  Violations v("sites");
  ANCHORD_OPTION_GE(v, border_px, 0.0);
  ANCHORD_OPTION_IN_OPEN(v, refine_radius_fraction, 0.0, 1.0);
  ANCHORD_OPTION_IN_OPEN(v, vacancy_threshold, 0.0, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, template_window_nm, 0.1, 0.5);
  ANCHORD_OPTION_IN_CLOSED(v, template_max_shift_nm, 0.0, 0.3);
  return v.ToStatus();
}

namespace {

// Every site of the frame under the registration as given, with its
// position (the displacement field applied) and its contrast.
struct SampledSites {
  std::vector<Site> sites;
  std::vector<Vec2> pos;
  std::vector<double> contrast;
};

SampledSites SampleSites(const cv::Mat1f& smooth,
                         const LatticeModel& model,
                         const RegisterResult& registration,
                         const SitesOptions& o) {
  SampledSites out;
  const Mat3& h0 = registration.image_from_model;
  const DisplacementField field(model, h0, registration.pairs);
  for (const Site& s : EnumerateSites(model, h0, smooth.size())) {
    const Vec2 p = field.ImageFromModel(s.model_nm);
    if (!Inside(p, smooth.size(), o.border_px)) continue;
    out.sites.push_back(s);
    out.pos.push_back(p);
    out.contrast.push_back(Contrast(smooth, p, Jacobian(h0, s.model_nm)));
  }
  return out;
}

// Which half is faulted, and the registration relabelled so that it is T1
// when canonical_faulted_t1 asks for it.
struct Halves {
  RegisterResult registration;
  Half faulted = Half::kT1;
  double faulted_contrast = 0;  // (brighter − darker) / darker half median
};

// The brighter half is the faulted one (in the DAS model the half carrying
// the stacking fault images brighter in filled states). When the turn is
// made, `sites` are relabelled in place.
Halves ChooseHalves(const LatticeModel& model,
                    const RegisterResult& registration,
                    const std::vector<double>& contrast,
                    const SitesOptions& o,
                    std::vector<Site>& sites) {
  std::vector<double> c_half[2];
  for (size_t k = 0; k < sites.size(); ++k) {
    c_half[static_cast<int>(sites[k].basis->half)].push_back(contrast[k]);
  }
  const double m1 = internal::Median(c_half[0]);
  const double m2 = internal::Median(c_half[1]);
  const bool turn = o.canonical_faulted_t1 && m2 > m1;
  Halves out;
  out.registration = turn ? TurnHalf(registration, model) : registration;
  if (turn) {
    // Same physical sites, new labels: cell (i, j) → (−i, −j), the other
    // half, the same code index (see TurnHalf). Relies on the model's basis
    // listing T2 as the point reflection of T1, site k + 6 ↔ site k.
    const Vec2 t = model.a1_nm + model.a2_nm;
    const size_t half_size = model.sites.size() / 2;
    for (Site& s : sites) {
      const size_t k = static_cast<size_t>(s.basis - model.sites.data());
      s.basis = &model.sites[(k + half_size) % model.sites.size()];
      s.model_nm = t - s.model_nm;
      s.i = -s.i;
      s.j = -s.j;
    }
  }
  out.faulted = (m2 > m1) != turn ? Half::kT2 : Half::kT1;
  const double unfaulted_level = std::max(std::min(m1, m2), 1e-9);
  out.faulted_contrast =
      (std::max(m1, m2) - std::min(m1, m2)) / unfaulted_level;
  return out;
}

// Occupied or vacant, with a confidence, by a threshold per (half, kind)
// group: a fraction of the group's median contrast (most sites are
// occupied).
std::vector<AdatomSite> ClassifySites(const SampledSites& sampled,
                                      Half faulted,
                                      const SitesOptions& o) {
  const std::vector<Site>& sites = sampled.sites;
  const std::vector<double>& contrast = sampled.contrast;
  double median[2][2], spread[2][2];
  for (int hf = 0; hf < 2; ++hf) {
    for (int kd = 0; kd < 2; ++kd) {
      std::vector<double> g;
      for (size_t k = 0; k < sites.size(); ++k) {
        if (static_cast<int>(sites[k].basis->half) == hf &&
            static_cast<int>(sites[k].basis->kind) == kd) {
          g.push_back(contrast[k]);
        }
      }
      median[hf][kd] = internal::Median(g);
      std::vector<double> occ;
      for (double c : g) {
        if (c > o.vacancy_threshold * median[hf][kd]) occ.push_back(c);
      }
      spread[hf][kd] = std::max(internal::RobustSigma(occ), 1e-6);
    }
  }
  std::vector<AdatomSite> adatoms;
  for (size_t k = 0; k < sites.size(); ++k) {
    const Site& s = sites[k];
    const int hf = static_cast<int>(s.basis->half);
    const int kd = static_cast<int>(s.basis->kind);
    const double thr = o.vacancy_threshold * median[hf][kd];
    AdatomSite a;
    a.p_px = sampled.pos[k];
    a.model_nm = s.model_nm;
    a.i = s.i;
    a.j = s.j;
    a.half = s.basis->half;
    a.kind = s.basis->kind;
    a.code_index = s.basis->code_index;
    a.faulted = a.half == faulted;
    a.contrast = contrast[k];
    a.occupied = contrast[k] > thr;
    a.confidence =
        1.0 /
        (1.0 + std::exp(-2.0 * std::abs(contrast[k] - thr) / spread[hf][kd]));
    adatoms.push_back(a);
  }
  return adatoms;
}

// Rotation (model plane) about its half's centre that carries the
// canonical site of each basis site's (half, kind) group — the first in
// code order — onto it: a multiple of 120° (the half's 3-fold symmetry).
std::vector<Mat2> CanonicalRotations(const LatticeModel& model) {
  std::vector<Mat2> out(model.sites.size(), Mat2::Identity());
  for (size_t k = 0; k < model.sites.size(); ++k) {
    const BasisSite& s = model.sites[k];
    Vec2 centre = Vec2::Zero();
    int in_half = 0;
    const BasisSite* canonical = &s;
    for (const BasisSite& t : model.sites) {
      if (t.half != s.half) continue;
      centre += model.ModelFromLattice(t.frac.x(), t.frac.y());
      ++in_half;
      if (t.kind == s.kind && t.code_index < canonical->code_index) {
        canonical = &t;
      }
    }
    centre /= std::max(1, in_half);
    const Vec2 os = model.ModelFromLattice(s.frac.x(), s.frac.y()) - centre;
    const Vec2 oc =
        model.ModelFromLattice(canonical->frac.x(), canonical->frac.y()) -
        centre;
    const double phi = std::atan2(os.y(), os.x()) - std::atan2(oc.y(), oc.x());
    out[k] << std::cos(phi), -std::sin(phi), std::sin(phi), std::cos(phi);
  }
  return out;
}

// Occupancy by the template fit (internal::FitOccupancyTemplates) on the
// refined positions; replaces the threshold rule's labels.
void ClassifyByTemplate(const cv::Mat1f& smooth,
                        const LatticeModel& model,
                        const Mat3& image_from_model,
                        const SitesOptions& o,
                        std::vector<AdatomSite>& adatoms) {
  const std::vector<Mat2> rotation = CanonicalRotations(model);
  std::vector<internal::TemplateSite> sites;
  sites.reserve(adatoms.size());
  for (const AdatomSite& a : adatoms) {
    size_t basis = 0;
    for (size_t k = 0; k < model.sites.size(); ++k) {
      if (model.sites[k].half == a.half &&
          model.sites[k].code_index == a.code_index) {
        basis = k;
      }
    }
    internal::TemplateSite t;
    t.p_px = a.p_px;
    t.image_from_site =
        Jacobian(image_from_model, a.model_nm) * rotation[basis];
    t.group = 2 * static_cast<int>(a.half) + static_cast<int>(a.kind);
    sites.push_back(t);
  }
  internal::TemplateFitOptions fo;
  fo.window_sigma_nm = o.template_window_nm;
  fo.max_shift_nm = o.template_max_shift_nm;
  fo.groups = 4;
  const internal::OccupancyFit fit =
      internal::FitOccupancyTemplates(smooth, sites, fo);
  for (size_t k = 0; k < adatoms.size(); ++k) {
    adatoms[k].occupied = fit.occupied[k];
    adatoms[k].confidence = fit.confidence[k];
    adatoms[k].template_amplitude = fit.amplitude[k];
  }
}

// The corner holes of the cells the sites belong to (their origins plus
// the neighbours that close the border) inside the frame, each marked
// detected when the registration paired it.
std::vector<CornerHoleSite> ListCornerHoles(const LatticeModel& model,
                                            const RegisterResult& reg,
                                            const std::vector<Site>& sites,
                                            const cv::Size& size,
                                            const SitesOptions& o) {
  const DisplacementField field(model, reg.image_from_model, reg.pairs);
  std::vector<std::pair<int, int>> detected;
  for (const HolePair& p : reg.pairs) detected.emplace_back(p.i, p.j);
  std::sort(detected.begin(), detected.end());
  std::vector<std::pair<int, int>> cells;
  for (const Site& s : sites) cells.emplace_back(s.i, s.j);
  std::sort(cells.begin(), cells.end());
  cells.erase(std::unique(cells.begin(), cells.end()), cells.end());
  std::vector<std::pair<int, int>> holes;
  for (const auto& [i, j] : cells) {
    for (int di = 0; di <= 1; ++di) {
      for (int dj = 0; dj <= 1; ++dj) holes.emplace_back(i + di, j + dj);
    }
  }
  std::sort(holes.begin(), holes.end());
  holes.erase(std::unique(holes.begin(), holes.end()), holes.end());
  std::vector<CornerHoleSite> out;
  for (const auto& [i, j] : holes) {
    CornerHoleSite c;
    c.i = i;
    c.j = j;
    c.model_nm = model.ModelFromLattice(i, j);
    c.p_px = field.ImageFromModel(c.model_nm);
    if (!Inside(c.p_px, size, o.border_px)) continue;
    c.detected = std::binary_search(detected.begin(), detected.end(),
                                    std::make_pair(i, j));
    out.push_back(c);
  }
  return out;
}

}  // namespace

SitesResult LocateSites(const cv::Mat1f& levelled,
                        const LatticeModel& model,
                        const RegisterResult& registration,
                        const SitesOptions& o) {
  SitesResult res;
  const cv::Size size = levelled.size();
  const Vec2 centre(0.5 * (size.width - 1), 0.5 * (size.height - 1));
  const Mat3& h0 = registration.image_from_model;
  const Mat2 jac = Jacobian(h0, Apply(h0.inverse(), centre));
  const double px_per_nm = std::sqrt(std::abs(jac.determinant()));
  const double sigma = 0.2 * kSi7x7AdatomSpacingNm * px_per_nm;
  cv::Mat1f smooth;
  cv::GaussianBlur(levelled, smooth, cv::Size(0, 0), std::max(0.5, sigma));
  res.smoothed = smooth;

  SampledSites sampled = SampleSites(smooth, model, registration, o);
  const Halves halves =
      ChooseHalves(model, registration, sampled.contrast, o, sampled.sites);
  res.faulted_contrast = halves.faulted_contrast;
  res.image_from_model = halves.registration.image_from_model;
  res.adatoms = ClassifySites(sampled, halves.faulted, o);

  RefineToPeaks(smooth,
                o.refine_radius_fraction * kSi7x7AdatomSpacingNm * px_per_nm,
                res.adatoms);
  // Refinement moves sites by a fraction of a pixel: apply the border again.
  std::erase_if(res.adatoms, [&](const AdatomSite& a) {
    return !Inside(a.p_px, size, o.border_px);
  });
  if (o.occupancy == OccupancyMethod::kTemplate) {
    ClassifyByTemplate(smooth, model, res.image_from_model, o, res.adatoms);
  }
  res.vacancies = static_cast<int>(
      std::count_if(res.adatoms.begin(), res.adatoms.end(),
                    [](const AdatomSite& a) { return !a.occupied; }));
  res.corner_holes =
      ListCornerHoles(model, halves.registration, sampled.sites, size, o);
  return res;
}

}  // namespace anchord
