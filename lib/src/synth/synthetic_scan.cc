#include "anchord/synth/synthetic_scan.h"

#include "anchord/util/check.h"
#include "anchord/util/validation.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <random>

namespace anchord {
namespace {

constexpr double kPi = 3.14159265358979323846;

double Deg(double d) { return d * kPi / 180.0; }

// Deterministic uniform [0, 1) from integer keys (SplitMix64 finaliser), so
// site occupancy needs no storage and is the same for every pixel.
double HashUniform(uint64_t seed, int64_t a, int64_t b, int64_t c) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull;
  for (int64_t k : {a, b, c}) {
    x ^= static_cast<uint64_t>(k) + 0x9E3779B97F4A7C15ull + (x << 6) + (x >> 2);
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
  }
  return (x >> 11) * (1.0 / 9007199254740992.0);
}

// Minimum distance of an adsorbate from every adatom site and corner hole.
constexpr double kAdsorbateClearanceNm = 0.45;
// Hashed candidate positions tried per cell for a fixed adsorbate: about
// 1.4 % of a cell clears kAdsorbateClearanceNm, so a cell is skipped with
// probability ~1e-6.
constexpr int kFixedAdsorbateTries = 1024;
// Salts that give the fixed adsorbates hash streams of their own.
constexpr uint64_t kFixedAdsorbateSalt = 0xAD50AB17E5ull;
constexpr int64_t kFixedAdsorbateKey = 1000;

// Row shift at (fractional) row y: linear between rows, held beyond the
// first and last row. Zero when there is no shift.
Vec2 RowShiftAt(const std::vector<Vec2>& shift, double y) {
  if (shift.empty()) return Vec2::Zero();
  const int n = static_cast<int>(shift.size());
  if (n == 1 || !(y > 0)) return shift.front();
  if (y >= n - 1) return shift.back();
  const int y0 = std::min(static_cast<int>(std::floor(y)), n - 2);
  const double f = y - y0;
  return (1.0 - f) * shift[y0] + f * shift[y0 + 1];
}

// Largest change of the row shift between consecutive rows, in pixels.
double MaxRowShiftStepPx(const std::vector<Vec2>& shift, const Mat2& linear) {
  double step = 0;
  for (size_t y = 1; y < shift.size(); ++y) {
    step = std::max(step, (linear * (shift[y] - shift[y - 1])).norm());
  }
  return step;
}

struct Renderer {
  const SyntheticScanOptions& o;
  LatticeModel model;
  Mat2 lattice_from_model;
  std::vector<Vec2> adsorbates_nm;

  bool Occupied(int i, int j, int site) const {
    return SiteOccupied(o, i, j, site);
  }
  double HoleScale(int i, int j) const {
    if (o.hole_size_jitter <= 0) return 1.0;
    const double u = HashUniform(o.seed ^ 0x5555, i, j, 99);
    return std::clamp(1.0 + o.hole_size_jitter * (2.0 * u - 1.0), 0.5, 1.5);
  }

  // Topography at model point m (nm).
  double Height(const Vec2& m) const {
    const Vec2 f = lattice_from_model * m;
    const int i0 = static_cast<int>(std::floor(f.x()));
    const int j0 = static_cast<int>(std::floor(f.y()));
    const double sa2 = o.adatom_sigma_nm * o.adatom_sigma_nm;
    const double cut_a = 9.0 * sa2;
    double h = 0.0;
    for (int i = i0 - 1; i <= i0 + 1; ++i) {
      for (int j = j0 - 1; j <= j0 + 1; ++j) {
        const Vec2 origin = model.ModelFromLattice(i, j);
        const double hs = HoleScale(i, j);
        const double sh = o.hole_sigma_nm * hs;
        const double dh = (m - origin).squaredNorm();
        if (dh < 9.0 * sh * sh) {
          h -= o.hole_depth * hs * std::exp(-dh / (2.0 * sh * sh));
        }
        for (size_t s = 0; s < model.sites.size(); ++s) {
          const BasisSite& site = model.sites[s];
          const Vec2 p =
              origin + model.ModelFromLattice(site.frac.x(), site.frac.y());
          const double d2 = (m - p).squaredNorm();
          if (d2 > cut_a || !Occupied(i, j, static_cast<int>(s))) continue;
          const double amp =
              1.0 + (site.half == o.faulted_half ? o.faulted_contrast : 0.0);
          h += amp * std::exp(-d2 / (2.0 * sa2));
        }
      }
    }
    const double sad = 0.35;
    for (const Vec2& a : adsorbates_nm) {
      const double d2 = (m - a).squaredNorm();
      if (d2 < 9.0 * sad * sad) h += 2.0 * std::exp(-d2 / (2.0 * sad * sad));
    }
    return h;
  }
};

}  // namespace

Status SyntheticScanOptions::Validate() const {
  Violations v("synth");
  ANCHORD_OPTION_IN_CLOSED(v, width_px, 16, 65536);
  ANCHORD_OPTION_IN_CLOSED(v, height_px, 16, 65536);
  // With the offset and the row shift bounded too, every model point of
  // the frame is within ±1e9 lattice cells: the lattice index
  // conversions of the generator stay in int.
  v.Require(field_of_view_nm > 0 && field_of_view_nm <= 1e6, "field_of_view_nm",
            field_of_view_nm, "in (0, 1e6]");
  v.Require(std::abs(offset_nm.x()) <= 1e8 && std::abs(offset_nm.y()) <= 1e8,
            "offset_nm", offset_nm.transpose(), "finite, within ±1e8 nm");
  ANCHORD_OPTION_IN_CLOSED(v, scale_error_x, -0.5, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, scale_error_y, -0.5, 1.0);
  ANCHORD_OPTION_IN_CLOSED(v, shear, -0.5, 0.5);
  ANCHORD_OPTION_IN_CLOSED(v, perspective, 0.0, 0.1);
  ANCHORD_OPTION_GT(v, creep_tau_rows, 0.0);
  ANCHORD_OPTION_GE(v, noise, 0.0);
  ANCHORD_OPTION_GE(v, line_noise, 0.0);
  ANCHORD_OPTION_GE(v, glitch_lines, 0);
  ANCHORD_OPTION_GE(v, blur_nm, 0.0);
  ANCHORD_OPTION_IN_CLOSED(v, vacancy_fraction, 0.0, 1.0);
  ANCHORD_OPTION_GE(v, adsorbates, 0);
  ANCHORD_OPTION_IN_CLOSED(v, adsorbates_per_cell, 0.0, 1.0);
  ANCHORD_OPTION_GT(v, adatom_sigma_nm, 0.0);
  ANCHORD_OPTION_GT(v, hole_sigma_nm, 0.0);
  ANCHORD_OPTION_IN_CLOSED(v, hole_size_jitter, 0.0, 0.5);
  // Creep must stay a contraction in the row direction so that the true
  // pixel position of a site is unique.
  v.Require(creep_px / creep_tau_rows < 0.5, "creep_px / creep_tau_rows",
            creep_px / creep_tau_rows, "< 0.5");
  if (!row_shift_nm.empty()) {
    v.Require(static_cast<int>(row_shift_nm.size()) == height_px,
              "row_shift_nm.size()", row_shift_nm.size(), "0 or height_px");
    bool finite = true;
    for (const Vec2& d : row_shift_nm) {
      finite = finite && std::abs(d.x()) <= 1e8 && std::abs(d.y()) <= 1e8;
    }
    v.Require(finite, "row_shift_nm", "(entries beyond ±1e8 nm or NaN)",
              "all finite, within ±1e8 nm");
    // Like the creep: the row shift must change slowly enough for the true
    // pixel of a model point to be unique.
    if (finite && field_of_view_nm > 0 && width_px > 0) {
      const double step =
          MaxRowShiftStepPx(row_shift_nm, ImageFromModelLinear(*this));
      v.Require(step < 0.5, "row_shift_nm step per row (px)", step, "< 0.5");
    }
  }
  return v.ToStatus();
}

Vec2 SyntheticScan::TruePixel(const Vec2& model_nm) const {
  if (!row_shift_nm.empty()) {
    // p = image_from_model(m − shift(p.y)) + creep(p.y): a contraction in
    // p.y (creep and row shift steps each < 0.5 px per row).
    Vec2 p = Apply(image_from_model, model_nm - RowShiftAt(row_shift_nm, 0));
    for (int it = 0; it < 200; ++it) {
      const Vec2 next =
          Apply(image_from_model, model_nm - RowShiftAt(row_shift_nm, p.y())) +
          creep_px * std::exp(-std::max(p.y(), -50.0) / creep_tau_rows) *
              creep_dir;
      if ((next - p).norm() < 1e-10) return next;
      p = next;
    }
    return p;
  }
  const Vec2 q = Apply(image_from_model, model_nm);
  // p = q + creep(p.y): a contraction, solved by fixed-point iteration.
  Vec2 p = q;
  for (int it = 0; it < 50; ++it) {
    const Vec2 next =
        q + creep_px * std::exp(-std::max(p.y(), -50.0) / creep_tau_rows) *
                creep_dir;
    if ((next - p).norm() < 1e-10) return next;
    p = next;
  }
  return p;
}

namespace {

// The true image_from_model of a frame: the scanner's linear distortion
// and offset, then a perspective divisor w = 1 + g·(x − cx) + h·(y − cy)
// in pixels with a relative change of `perspective` across the
// half-diagonal, applied about the frame centre so the centre stays put.
Mat3 TrueImageFromModel(const SyntheticScanOptions& o) {
  const Mat2 linear = ImageFromModelLinear(o);
  const Vec2 centre_px(0.5 * (o.width_px - 1), 0.5 * (o.height_px - 1));
  const Mat3 affine = AffineTransform(linear, centre_px - linear * o.offset_nm);
  const double half_diag = 0.5 * std::hypot(o.width_px, o.height_px);
  Mat3 persp = Mat3::Identity();
  persp(2, 0) =
      o.perspective / half_diag * std::cos(Deg(o.perspective_angle_deg));
  persp(2, 1) =
      o.perspective / half_diag * std::sin(Deg(o.perspective_angle_deg));
  const Mat3 to_centre = AffineTransform(Mat2::Identity(), -centre_px);
  const Mat3 from_centre = AffineTransform(Mat2::Identity(), centre_px);
  Mat3 image_from_model = from_centre * persp * to_centre * affine;
  image_from_model /= image_from_model(2, 2);
  return image_from_model;
}

// Model-space bounding box of the frame (row shifts included) with a
// margin of two cells, for enumerating sites.
LatticeModel::CellRange CellsOfFrame(const SyntheticScanOptions& o,
                                     const LatticeModel& model,
                                     const Mat3& model_from_image) {
  Vec2 lo = Apply(model_from_image, Vec2(0, 0)), hi = lo;
  for (const Vec2& corner : {Vec2(o.width_px, 0), Vec2(0, o.height_px),
                             Vec2(o.width_px, o.height_px)}) {
    const Vec2 m = Apply(model_from_image, corner);
    lo = lo.cwiseMin(m);
    hi = hi.cwiseMax(m);
  }
  if (!o.row_shift_nm.empty()) {
    Vec2 shift_lo = o.row_shift_nm.front(), shift_hi = shift_lo;
    for (const Vec2& d : o.row_shift_nm) {
      shift_lo = shift_lo.cwiseMin(d);
      shift_hi = shift_hi.cwiseMax(d);
    }
    lo += shift_lo;
    hi += shift_hi;
  }
  const double margin = 2.0 * kSi7x7LatticeNm;
  lo.array() -= margin;
  hi.array() += margin;
  return model.CellsCovering(lo, hi);
}

bool InFrame(const SyntheticScanOptions& o, const Vec2& p) {
  return p.x() >= 0 && p.y() >= 0 && p.x() <= o.width_px - 1 &&
         p.y() <= o.height_px - 1;
}

// The corner holes and adatom sites whose true pixel lies in the frame,
// into `scan`; returns every site of the enumerated cells (model nm).
std::vector<Vec2> PlaceLatticeSites(const SyntheticScanOptions& o,
                                    const Renderer& r,
                                    const LatticeModel::CellRange& cells,
                                    SyntheticScan* scan) {
  std::vector<Vec2> all_sites_nm;
  for (int i = cells.i_min; i <= cells.i_max; ++i) {
    for (int j = cells.j_min; j <= cells.j_max; ++j) {
      const Vec2 origin = r.model.ModelFromLattice(i, j);
      all_sites_nm.push_back(origin);
      const Vec2 ph = scan->TruePixel(origin);
      if (InFrame(o, ph)) scan->corner_holes.push_back({ph, origin, i, j});
      for (size_t k = 0; k < r.model.sites.size(); ++k) {
        const BasisSite& site = r.model.sites[k];
        const Vec2 m =
            origin + r.model.ModelFromLattice(site.frac.x(), site.frac.y());
        all_sites_nm.push_back(m);
        const Vec2 p = scan->TruePixel(m);
        if (!InFrame(o, p)) continue;
        TruthAdatom t;
        t.p_px = p;
        t.model_nm = m;
        t.i = i;
        t.j = j;
        t.half = site.half;
        t.kind = site.kind;
        t.faulted = site.half == o.faulted_half;
        t.occupied = r.Occupied(i, j, static_cast<int>(k));
        scan->adatoms.push_back(t);
      }
    }
  }
  return all_sites_nm;
}

// Random adsorbates, off the lattice sites: at least 0.45 nm from any
// adatom site or corner hole, so the site ground truth stays unambiguous.
void PlaceRandomAdsorbates(const SyntheticScanOptions& o,
                           const Mat3& model_from_image,
                           const std::vector<Vec2>& all_sites_nm,
                           std::mt19937_64& rng,
                           Renderer* r,
                           SyntheticScan* scan) {
  std::uniform_real_distribution<double> ux(0, o.width_px - 1);
  std::uniform_real_distribution<double> uy(0, o.height_px - 1);
  for (int a = 0, tries = 0; a < o.adsorbates && tries < 1000 * o.adsorbates;
       ++tries) {
    const Vec2 at(ux(rng), uy(rng));
    Vec2 m = Apply(model_from_image, at);
    if (!o.row_shift_nm.empty()) m += RowShiftAt(o.row_shift_nm, at.y());
    bool clear = true;
    for (const Vec2& site : all_sites_nm) {
      if ((site - m).squaredNorm() < 0.45 * 0.45) {
        clear = false;
        break;
      }
    }
    if (!clear) continue;
    r->adsorbates_nm.push_back(m);
    scan->adsorbates_px.push_back(scan->TruePixel(m));
    scan->adsorbates_model_nm.push_back(m);
    ++a;
  }
}

// The fixed population: every one in the enumerated cells is rendered,
// those whose true pixel lies in the frame are reported.
void PlaceFixedAdsorbates(const SyntheticScanOptions& o,
                          const LatticeModel::CellRange& cells,
                          Renderer* r,
                          SyntheticScan* scan) {
  if (o.adsorbates_per_cell <= 0) return;
  for (int i = cells.i_min; i <= cells.i_max; ++i) {
    for (int j = cells.j_min; j <= cells.j_max; ++j) {
      Vec2 m;
      if (!FixedAdsorbateInCell(o, i, j, &m)) continue;
      r->adsorbates_nm.push_back(m);
      const Vec2 p = scan->TruePixel(m);
      if (!InFrame(o, p)) continue;
      scan->adsorbates_px.push_back(p);
      scan->adsorbates_model_nm.push_back(m);
    }
  }
}

// The topography sampled at every pixel (creep and row shifts applied),
// then the tip blur.
cv::Mat1f RenderTopography(const SyntheticScanOptions& o,
                           const Renderer& r,
                           const SyntheticScan& scan,
                           const Mat3& model_from_image) {
  cv::Mat1f image(o.height_px, o.width_px);
  for (int y = 0; y < o.height_px; ++y) {
    const Vec2 creep =
        o.creep_px * std::exp(-y / o.creep_tau_rows) * scan.creep_dir;
    const Vec2 shift =
        o.row_shift_nm.empty() ? Vec2::Zero() : o.row_shift_nm[y];
    float* row = image[y];
    for (int x = 0; x < o.width_px; ++x) {
      Vec2 m = Apply(model_from_image, Vec2(x, y) - creep);
      if (!o.row_shift_nm.empty()) m += shift;
      row[x] = static_cast<float>(r.Height(m));
    }
  }
  if (o.blur_nm > 0) {
    const double sigma_px = o.blur_nm / (o.field_of_view_nm / o.width_px);
    cv::GaussianBlur(image, image, cv::Size(0, 0), sigma_px, sigma_px,
                     cv::BORDER_REFLECT);
  }
  return image;
}

// Measurement noise (white, per line, a tilt plane) and glitch lines, from
// `noise_rng`; the glitch rows into `scan`, sorted.
void AddMeasurementNoise(const SyntheticScanOptions& o,
                         std::mt19937_64& noise_rng,
                         cv::Mat1f& image,
                         SyntheticScan* scan) {
  std::normal_distribution<double> gauss(0.0, 1.0);
  std::uniform_real_distribution<double> uni(0.0, 1.0);
  const double tilt_angle = uni(noise_rng) * 2 * kPi;
  const double tx = o.tilt * std::cos(tilt_angle) / o.width_px;
  const double ty = o.tilt * std::sin(tilt_angle) / o.height_px;
  for (int y = 0; y < o.height_px; ++y) {
    const double line = o.line_noise * gauss(noise_rng);
    float* row = image[y];
    for (int x = 0; x < o.width_px; ++x) {
      row[x] += static_cast<float>(o.noise * gauss(noise_rng) + line + tx * x +
                                   ty * y);
    }
  }
  for (int g_line = 0; g_line < o.glitch_lines; ++g_line) {
    const int y = static_cast<int>(uni(noise_rng) * o.height_px) % o.height_px;
    scan->glitch_rows.push_back(y);
    const double offset =
        (uni(noise_rng) < 0.5 ? -1 : 1) * (3.0 + 5.0 * uni(noise_rng));
    float* row = image[y];
    for (int x = 0; x < o.width_px; ++x) {
      row[x] += static_cast<float>(
          offset + (uni(noise_rng) < 0.05 ? 8.0 : 0.0) * gauss(noise_rng));
    }
  }
  std::sort(scan->glitch_rows.begin(), scan->glitch_rows.end());
}

}  // namespace

SyntheticScan MakeSyntheticScan(const SyntheticScanOptions& o) {
  const Status valid = o.Validate();
  ANCHORD_CHECK(valid.ok()) << valid.message();
  SyntheticScan scan;
  Renderer r{o, MakeSi7x7Model(), Mat2::Identity(), {}};
  Mat2 basis;
  basis.col(0) = r.model.a1_nm;
  basis.col(1) = r.model.a2_nm;
  r.lattice_from_model = basis.inverse();

  scan.image_from_model = TrueImageFromModel(o);
  scan.creep_px = o.creep_px;
  scan.creep_tau_rows = o.creep_tau_rows;
  scan.creep_dir =
      Vec2(std::cos(Deg(o.creep_angle_deg)), std::sin(Deg(o.creep_angle_deg)));
  scan.row_shift_nm = o.row_shift_nm;
  const Mat3 model_from_image = scan.image_from_model.inverse();

  // One stream for the structure (adsorbates), continued by the noise
  // unless noise_seed is set (then bit-identical to frames made before
  // noise_seed existed).
  std::mt19937_64 rng(o.seed);
  const LatticeModel::CellRange cells =
      CellsOfFrame(o, r.model, model_from_image);
  const std::vector<Vec2> all_sites_nm = PlaceLatticeSites(o, r, cells, &scan);
  PlaceRandomAdsorbates(o, model_from_image, all_sites_nm, rng, &r, &scan);
  PlaceFixedAdsorbates(o, cells, &r, &scan);

  cv::Mat1f image = RenderTopography(o, r, scan, model_from_image);
  std::mt19937_64 fresh_noise_rng(o.noise_seed);
  AddMeasurementNoise(o, o.noise_seed != 0 ? fresh_noise_rng : rng, image,
                      &scan);

  const double px_nm = o.field_of_view_nm / o.width_px;
  scan.frame.image = image;
  scan.frame.pixel_size_x_nm = px_nm;
  scan.frame.pixel_size_y_nm = px_nm;
  scan.frame.source = "synthetic:seed=" + std::to_string(o.seed);
  scan.frame.channel = "Z";
  return scan;
}

Mat2 ImageFromModelLinear(const SyntheticScanOptions& o) {
  const double px_nm = o.field_of_view_nm / o.width_px;
  // Flip to image y-down, rotate, then the scanner's shear and anisotropic
  // scale error. A true scale error of +10 % means the scanner moves 10 %
  // further than nominal, so features appear 10 % smaller: divide.
  const double c = std::cos(Deg(o.rotation_deg));
  const double s = std::sin(Deg(o.rotation_deg));
  Mat2 flip_rot;
  flip_rot << c, s, s, -c;  // rotation by θ after y → −y
  Mat2 shear;
  shear << 1, o.shear, 0, 1;
  Mat2 scale = Mat2::Zero();
  scale(0, 0) = 1.0 / (px_nm * (1.0 + o.scale_error_x));
  scale(1, 1) = 1.0 / (px_nm * (1.0 + o.scale_error_y));
  return scale * shear * flip_rot;
}

bool SiteOccupied(const SyntheticScanOptions& o, int i, int j, int site) {
  return HashUniform(o.seed, i, j, site) >= o.vacancy_fraction;
}

bool FixedAdsorbateInCell(const SyntheticScanOptions& o,
                          int i,
                          int j,
                          Vec2* model_nm) {
  if (!(o.adsorbates_per_cell > 0)) return false;
  const uint64_t salted = o.seed ^ kFixedAdsorbateSalt;
  if (HashUniform(salted, i, j, kFixedAdsorbateKey) >= o.adsorbates_per_cell) {
    return false;
  }
  // Lattice geometry relative to the cell origin: the corner holes and
  // adatom sites of this cell and its eight neighbours.
  static const std::vector<Vec2> kNearSitesNm = [] {
    const LatticeModel model = MakeSi7x7Model();
    std::vector<Vec2> near;
    for (int di = -1; di <= 1; ++di) {
      for (int dj = -1; dj <= 1; ++dj) {
        near.push_back(model.ModelFromLattice(di, dj));
        for (const BasisSite& site : model.sites) {
          near.push_back(
              model.ModelFromLattice(di + site.frac.x(), dj + site.frac.y()));
        }
      }
    }
    return near;
  }();
  static const LatticeModel kModel = MakeSi7x7Model();
  constexpr double kClear2 = kAdsorbateClearanceNm * kAdsorbateClearanceNm;
  for (int k = 0; k < kFixedAdsorbateTries; ++k) {
    const Vec2 rel = kModel.ModelFromLattice(
        HashUniform(salted, i, j, 2 * k), HashUniform(salted, i, j, 2 * k + 1));
    bool clear = true;
    for (const Vec2& site : kNearSitesNm) {
      if ((site - rel).squaredNorm() < kClear2) {
        clear = false;
        break;
      }
    }
    if (!clear) continue;
    if (model_nm != nullptr) *model_nm = kModel.ModelFromLattice(i, j) + rel;
    return true;
  }
  return false;
}

std::vector<Vec2> FixedAdsorbatesIn(const SyntheticScanOptions& o,
                                    const Vec2& lo_nm,
                                    const Vec2& hi_nm) {
  std::vector<Vec2> out;
  if (!(o.adsorbates_per_cell > 0) || !(lo_nm.array() <= hi_nm.array()).all()) {
    return out;
  }
  const LatticeModel model = MakeSi7x7Model();
  const LatticeModel::CellRange cells = model.CellsCovering(lo_nm, hi_nm);
  for (int i = cells.i_min; i <= cells.i_max; ++i) {
    for (int j = cells.j_min; j <= cells.j_max; ++j) {
      Vec2 m;
      if (!FixedAdsorbateInCell(o, i, j, &m)) continue;
      if ((m.array() >= lo_nm.array()).all() &&
          (m.array() <= hi_nm.array()).all()) {
        out.push_back(m);
      }
    }
  }
  return out;
}

SyntheticScanOptions RandomSyntheticScanOptions(uint64_t seed) {
  std::mt19937_64 rng(seed * 7919 + 17);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  auto range = [&](double lo, double hi) { return lo + (hi - lo) * u(rng); };
  SyntheticScanOptions o;
  const int sizes[] = {256, 384, 512, 768, 1024};
  o.width_px = sizes[static_cast<int>(u(rng) * 5) % 5];
  o.height_px = o.width_px;
  o.field_of_view_nm = range(20, 60);
  o.rotation_deg = range(-180, 180);
  o.scale_error_x = range(-0.25, 0.25);
  o.scale_error_y = range(-0.25, 0.25);
  o.shear = range(-0.25, 0.25);
  o.perspective = range(0, 0.03);
  o.perspective_angle_deg = range(0, 360);
  o.offset_nm = Vec2(range(-10, 10), range(-10, 10));
  o.creep_px = range(0, 6);
  o.creep_angle_deg = range(0, 360);
  o.creep_tau_rows = range(0.08, 0.2) * o.height_px;
  o.noise = range(0.02, 0.25);
  o.line_noise = range(0, 0.3);
  o.tilt = range(0, 10);
  o.glitch_lines = static_cast<int>(range(0, 4));
  o.blur_nm = range(0.02, 0.08);
  o.vacancy_fraction = range(0.03, 0.08);
  o.adsorbates = static_cast<int>(range(0, 6));
  o.faulted_half = u(rng) < 0.5 ? Half::kT1 : Half::kT2;
  o.faulted_contrast = range(0.1, 0.25);
  o.hole_size_jitter = range(0, 0.1);
  o.seed = seed;
  return o;
}

SyntheticScanOptions ModeratelyDistortedScan(uint64_t seed,
                                             int size_px,
                                             double field_of_view_nm) {
  SyntheticScanOptions o;
  o.width_px = o.height_px = size_px;
  o.field_of_view_nm = field_of_view_nm;
  o.rotation_deg = 17;
  o.scale_error_x = 0.08;
  o.scale_error_y = -0.05;
  o.shear = 0.05;
  o.vacancy_fraction = 0.05;
  o.noise = 0.1;
  o.seed = seed;
  return o;
}

}  // namespace anchord
