// The synthetic scan generator against its own contract: options
// validation, determinism, and ground truth that agrees with the rendered
// image and with the distortion model.

#include "anchord/synth/synthetic_scan.h"

#include "anchord/model/lattice_model.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace anchord {
namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool Contains(const std::string& s, const std::string& needle) {
  return s.find(needle) != std::string::npos;
}

// A small, mildly distorted frame: 256 px over 20 nm (≈ 34 px per cell).
SyntheticScanOptions SmallOptions() {
  SyntheticScanOptions o;
  o.width_px = 256;
  o.height_px = 256;
  o.field_of_view_nm = 20;
  o.rotation_deg = 17;
  o.scale_error_x = 0.1;
  o.scale_error_y = -0.08;
  o.shear = 0.1;
  o.noise = 0.05;
  o.seed = 42;
  return o;
}

double CellPx(const SyntheticScan& scan) {
  return kSi7x7LatticeNm / scan.frame.pixel_size_x_nm;
}

// Position of the minimum of `img` within `radius` px of p.
Vec2 ArgMinNear(const cv::Mat1f& img, const Vec2& p, double radius) {
  float best = std::numeric_limits<float>::infinity();
  Vec2 at = p;
  const int r = static_cast<int>(std::ceil(radius));
  const int cx = static_cast<int>(std::lround(p.x()));
  const int cy = static_cast<int>(std::lround(p.y()));
  for (int y = cy - r; y <= cy + r; ++y) {
    for (int x = cx - r; x <= cx + r; ++x) {
      if (x < 0 || y < 0 || x >= img.cols || y >= img.rows) continue;
      if ((Vec2(x, y) - p).norm() > radius) continue;
      if (img(y, x) < best) {
        best = img(y, x);
        at = Vec2(x, y);
      }
    }
  }
  return at;
}

bool Inside(const Vec2& p, const cv::Mat& img, double margin) {
  return p.x() >= margin && p.y() >= margin && p.x() <= img.cols - 1 - margin &&
         p.y() <= img.rows - 1 - margin;
}

float Bilinear(const cv::Mat1f& img, const Vec2& p) {
  const int x0 = static_cast<int>(std::floor(p.x()));
  const int y0 = static_cast<int>(std::floor(p.y()));
  const double fx = p.x() - x0, fy = p.y() - y0;
  return static_cast<float>(
      (1 - fx) * (1 - fy) * img(y0, x0) + fx * (1 - fy) * img(y0, x0 + 1) +
      (1 - fx) * fy * img(y0 + 1, x0) + fx * fy * img(y0 + 1, x0 + 1));
}

TEST_CASE("Validate accepts the defaults and random options") {
  CHECK(SyntheticScanOptions{}.Validate().ok());
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    CHECK(RandomSyntheticScanOptions(seed).Validate().ok());
  }
}

TEST_CASE("Validate rejects bad options and lists every violation") {
  SyntheticScanOptions o;
  o.width_px = 8;
  o.shear = 0.7;
  o.vacancy_fraction = 1.5;
  o.blur_nm = -0.1;
  const Status s = o.Validate();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidInput);
  const auto lines = Lines(s.message());
  CHECK(lines.size() == 4);
  CHECK(Contains(s.message(), "synth.width_px = 8"));
  CHECK(Contains(s.message(), "synth.shear = 0.7"));
  CHECK(Contains(s.message(), "synth.vacancy_fraction = 1.5"));
  CHECK(Contains(s.message(), "synth.blur_nm = -0.1"));

  SyntheticScanOptions creep;
  creep.creep_px = 30;  // 30 / 40 rows: not a contraction
  const Status c = creep.Validate();
  REQUIRE_FALSE(c.ok());
  CHECK(Contains(c.message(), "creep_px / creep_tau_rows"));
  SyntheticScanOptions tau;
  tau.creep_tau_rows = 0;
  CHECK_FALSE(tau.Validate().ok());
}

TEST_CASE("deterministic for a seed, different for another seed") {
  SyntheticScanOptions o = SmallOptions();
  o.vacancy_fraction = 0.05;
  o.adsorbates = 3;
  o.glitch_lines = 2;
  const SyntheticScan a = MakeSyntheticScan(o);
  const SyntheticScan b = MakeSyntheticScan(o);
  REQUIRE(a.frame.image.size() == cv::Size(256, 256));
  CHECK(cv::norm(a.frame.image, b.frame.image, cv::NORM_INF) == 0.0);
  REQUIRE(a.adatoms.size() == b.adatoms.size());
  for (size_t k = 0; k < a.adatoms.size(); ++k) {
    CHECK(a.adatoms[k].occupied == b.adatoms[k].occupied);
  }
  CHECK(a.glitch_rows == b.glitch_rows);
  REQUIRE(a.adsorbates_px.size() == b.adsorbates_px.size());
  for (size_t k = 0; k < a.adsorbates_px.size(); ++k) {
    CHECK((a.adsorbates_px[k] - b.adsorbates_px[k]).norm() == 0.0);
  }

  o.seed = 43;
  const SyntheticScan c = MakeSyntheticScan(o);
  // Noise alone (std 0.05) makes the frames differ by far more than 0.
  CHECK(cv::norm(a.frame.image, c.frame.image, cv::NORM_L2) /
            std::sqrt(256.0 * 256.0) >
        0.05);
  // The vacancy pattern is random too.
  int differ = 0;
  REQUIRE(a.adatoms.size() == c.adatoms.size());  // same geometry
  for (size_t k = 0; k < a.adatoms.size(); ++k) {
    differ += a.adatoms[k].occupied != c.adatoms[k].occupied;
  }
  CHECK(differ > 0);
}

TEST_CASE("frame metadata: nominal pixel size = field of view / width") {
  const SyntheticScan s = MakeSyntheticScan(SmallOptions());
  CHECK(s.frame.pixel_size_x_nm == doctest::Approx(20.0 / 256));
  CHECK(s.frame.pixel_size_y_nm == doctest::Approx(20.0 / 256));
  CHECK(s.frame.image.rows == 256);
  CHECK(s.frame.image.cols == 256);
  CHECK(Contains(s.frame.source, "42"));
}

TEST_CASE("truth is consistent with image_from_model (no creep)") {
  const SyntheticScan s = MakeSyntheticScan(SmallOptions());
  const LatticeModel m = MakeSi7x7Model();
  REQUIRE(s.corner_holes.size() > 20);
  for (const TruthCornerHole& h : s.corner_holes) {
    CHECK((Apply(s.image_from_model, h.model_nm) - h.p_px).norm() < 1e-6);
    CHECK((h.model_nm - m.ModelFromLattice(h.i, h.j)).norm() < 1e-9);
    CHECK(Inside(h.p_px, s.frame.image, 0));
  }
  // Every adatom (i, j) cell holds 12 sites; each site is the model basis.
  for (const TruthAdatom& a : s.adatoms) {
    CHECK((Apply(s.image_from_model, a.model_nm) - a.p_px).norm() < 1e-6);
    const Vec2 f = m.LatticeFromModel(a.model_nm) - Vec2(a.i, a.j);
    CHECK(f.x() > 0);
    CHECK(f.x() < 1);
    CHECK(f.y() > 0);
    CHECK(f.y() < 1);
    CHECK((f.x() + f.y() < 1) == (a.half == Half::kT1));
    CHECK(a.faulted == (a.half == SmallOptions().faulted_half));
  }
  // The frame centre shows offset_nm (zero here).
  CHECK((Apply(s.image_from_model, Vec2::Zero()) - Vec2(127.5, 127.5)).norm() <
        1e-9);
  // 12 adatoms per cell area: the count agrees with the footprint area.
  const Mat2 j = Jacobian(s.image_from_model, Vec2::Zero());
  const double cell_area_px = std::abs(Cross(j * m.a1_nm, j * m.a2_nm));
  const double cells = 256.0 * 256.0 / cell_area_px;
  CHECK(s.adatoms.size() == doctest::Approx(12 * cells).epsilon(0.1));
  CHECK(s.corner_holes.size() == doctest::Approx(cells).epsilon(0.15));
}

TEST_CASE(
    "ground-truth corner holes are local minima of the noise-free image") {
  SyntheticScanOptions o = SmallOptions();
  o.noise = 0;
  o.blur_nm = 0.02;
  SUBCASE("no creep") {}
  SUBCASE("with creep") {
    o.creep_px = 5;
    o.creep_angle_deg = 30;
  }
  const SyntheticScan s = MakeSyntheticScan(o);
  const double cell = CellPx(s);
  int checked = 0;
  double sum_depth = 0;
  const double mean = cv::mean(s.frame.image)[0];
  for (const TruthCornerHole& h : s.corner_holes) {
    if (!Inside(h.p_px, s.frame.image, 0.5 * cell)) continue;
    const Vec2 at = ArgMinNear(s.frame.image, h.p_px, 0.3 * cell);
    CAPTURE(h.p_px.transpose());
    CHECK((at - h.p_px).norm() <= 1.0);
    sum_depth += mean - Bilinear(s.frame.image, h.p_px);
    ++checked;
  }
  CHECK(checked >= 20);
  // Corner holes are deep: on average about hole_depth below the mean.
  CHECK(sum_depth / checked > 0.5 * o.hole_depth);
}

TEST_CASE("adatoms: occupied sites are maxima, faulted half brighter") {
  SyntheticScanOptions o = SmallOptions();
  o.noise = 0;
  o.blur_nm = 0.02;
  o.vacancy_fraction = 0.1;
  o.faulted_half = Half::kT2;
  o.faulted_contrast = 0.2;
  const SyntheticScan s = MakeSyntheticScan(o);
  const double cell = CellPx(s);
  double faulted = 0, unfaulted = 0, vacant = 0;
  int nf = 0, nu = 0, nv = 0;
  for (const TruthAdatom& a : s.adatoms) {
    if (!Inside(a.p_px, s.frame.image, 0.3 * cell)) continue;
    const double v = Bilinear(s.frame.image, a.p_px);
    if (!a.occupied) {
      vacant += v;
      ++nv;
    } else if (a.faulted) {
      faulted += v;
      ++nf;
    } else {
      unfaulted += v;
      ++nu;
    }
  }
  REQUIRE(nf > 50);
  REQUIRE(nu > 50);
  REQUIRE(nv > 5);
  faulted /= nf;
  unfaulted /= nu;
  vacant /= nv;
  // Faulted adatoms carry +faulted_contrast (minus a little blur).
  CHECK(faulted - unfaulted > 0.5 * o.faulted_contrast);
  CHECK(faulted - unfaulted < 1.5 * o.faulted_contrast);
  // A vacancy lacks the unit-height adatom.
  CHECK(unfaulted - vacant > 0.6);
}

TEST_CASE("vacancy fraction of the ground truth matches the option") {
  for (double f : {0.05, 0.3}) {
    CAPTURE(f);
    SyntheticScanOptions o = SmallOptions();
    o.vacancy_fraction = f;
    const SyntheticScan s = MakeSyntheticScan(o);
    const double n = static_cast<double>(s.adatoms.size());
    REQUIRE(n > 500);
    int vacant = 0;
    for (const TruthAdatom& a : s.adatoms) vacant += !a.occupied;
    // Binomial: 4.5 standard deviations.
    const double tol = 4.5 * std::sqrt(f * (1 - f) / n);
    CHECK(std::abs(vacant / n - f) < tol);
  }
  SyntheticScanOptions none = SmallOptions();
  none.vacancy_fraction = 0;
  for (const TruthAdatom& a : MakeSyntheticScan(none).adatoms) {
    REQUIRE(a.occupied);
  }
}

TEST_CASE("glitch rows are reported and are the only rows changed") {
  SyntheticScanOptions o = SmallOptions();
  o.glitch_lines = 0;
  const SyntheticScan clean = MakeSyntheticScan(o);
  o.glitch_lines = 4;
  const SyntheticScan glitched = MakeSyntheticScan(o);
  REQUIRE(glitched.glitch_rows.size() == 4);
  CHECK(clean.glitch_rows.empty());
  CHECK(
      std::is_sorted(glitched.glitch_rows.begin(), glitched.glitch_rows.end()));
  const std::multiset<int> rows(glitched.glitch_rows.begin(),
                                glitched.glitch_rows.end());
  for (int y = 0; y < o.height_px; ++y) {
    CAPTURE(y);
    const cv::Mat1f d = glitched.frame.image.row(y) - clean.frame.image.row(y);
    const double mean_abs = cv::norm(d, cv::NORM_L1) / o.width_px;
    if (rows.count(y) == 0) {
      // Glitches come after everything else from the RNG: other rows are
      // bit-identical to the glitch-free frame.
      CHECK(mean_abs == 0.0);
    } else if (rows.count(y) == 1) {
      // A glitch row is offset by 3…8 (plus sparse spikes).
      CHECK(mean_abs >= 2.5);
    }
  }
}

TEST_CASE("adsorbates are at least 0.45 nm from every lattice site") {
  SyntheticScanOptions o = SmallOptions();
  o.adsorbates = 8;
  const SyntheticScan s = MakeSyntheticScan(o);
  const LatticeModel m = MakeSi7x7Model();
  REQUIRE(s.adsorbates_px.size() == 8);
  const Mat3 model_from_image = s.image_from_model.inverse();
  for (const Vec2& p : s.adsorbates_px) {
    CHECK(Inside(p, s.frame.image, 0));
    const Vec2 a_nm = Apply(model_from_image, p);  // creep is 0
    const Vec2 f = m.LatticeFromModel(a_nm);
    double nearest = std::numeric_limits<double>::infinity();
    for (int i = static_cast<int>(std::floor(f.x())) - 1;
         i <= static_cast<int>(std::floor(f.x())) + 1; ++i) {
      for (int j = static_cast<int>(std::floor(f.y())) - 1;
           j <= static_cast<int>(std::floor(f.y())) + 1; ++j) {
        const Vec2 origin = m.ModelFromLattice(i, j);
        nearest = std::min(nearest, (a_nm - origin).norm());
        for (const BasisSite& site : m.sites) {
          const Vec2 q =
              origin + m.ModelFromLattice(site.frac.x(), site.frac.y());
          nearest = std::min(nearest, (a_nm - q).norm());
        }
      }
    }
    CAPTURE(a_nm.transpose());
    CHECK(nearest >= 0.45 - 1e-9);
  }
  // The adsorbates are rendered: bright (height 2) blobs in the image.
  SyntheticScanOptions bare = o;
  bare.adsorbates = 0;
  const SyntheticScan without = MakeSyntheticScan(bare);
  for (const Vec2& p : s.adsorbates_px) {
    if (!Inside(p, s.frame.image, 1)) continue;
    CHECK(Bilinear(s.frame.image, p) - Bilinear(without.frame.image, p) > 1.0);
  }
}

TEST_CASE("TruePixel: creep displaces the top rows, not the bottom") {
  SyntheticScanOptions o = SmallOptions();
  o.creep_px = 5;
  o.creep_tau_rows = 40;
  const LatticeModel m = MakeSi7x7Model();

  SUBCASE("creep along x") {
    o.creep_angle_deg = 0;
    const SyntheticScan s = MakeSyntheticScan(o);
    const Mat3 model_from_image = s.image_from_model.inverse();
    // A model point that projects to row 0 and one to the last row.
    const Vec2 top = Apply(model_from_image, Vec2(128, 0));
    const Vec2 bottom = Apply(model_from_image, Vec2(128, 255));
    const Vec2 d_top = s.TruePixel(top) - Vec2(128, 0);
    const Vec2 d_bottom = s.TruePixel(bottom) - Vec2(128, 255);
    CHECK(d_top.x() == doctest::Approx(5.0).epsilon(1e-6));
    CHECK(std::abs(d_top.y()) < 1e-9);
    CHECK(d_bottom.norm() < 0.01);  // 5 · exp(−255 / 40) ≈ 0.009
    // Mid-way the displacement follows exp(−row / tau).
    const Vec2 mid = Apply(model_from_image, Vec2(128, 40));
    CHECK((s.TruePixel(mid) - Vec2(128, 40)).x() ==
          doctest::Approx(5.0 * std::exp(-1.0)).epsilon(1e-6));
    // Truth uses TruePixel.
    for (const TruthCornerHole& h : s.corner_holes) {
      CHECK((s.TruePixel(h.model_nm) - h.p_px).norm() < 1e-9);
    }
  }
  SUBCASE("creep along y: the fixed point p = q + creep(p.y)") {
    o.creep_angle_deg = 90;
    const SyntheticScan s = MakeSyntheticScan(o);
    const Mat3 model_from_image = s.image_from_model.inverse();
    const Vec2 q(100, 0);
    const Vec2 p = s.TruePixel(Apply(model_from_image, q));
    CHECK(std::abs(p.x() - q.x()) < 1e-6);
    // Displaced downwards by a bit less than 5 px (the creep has decayed at
    // the displaced row), and self-consistently.
    CHECK(p.y() > 4.0);
    CHECK(p.y() < 5.0);
    CHECK(p.y() ==
          doctest::Approx(5.0 * std::exp(-p.y() / 40.0)).epsilon(1e-6));
  }
  SUBCASE("no creep: TruePixel is image_from_model") {
    o.creep_px = 0;
    const SyntheticScan s = MakeSyntheticScan(o);
    const Vec2 mpt = m.ModelFromLattice(0.3, -1.2);
    CHECK((s.TruePixel(mpt) - Apply(s.image_from_model, mpt)).norm() < 1e-12);
  }
}

TEST_CASE("distortion: the lattice in pixels follows scale error and shear") {
  SyntheticScanOptions o = SmallOptions();
  o.rotation_deg = 0;
  o.shear = 0;
  o.scale_error_x = 0.25;
  o.scale_error_y = -0.2;
  const SyntheticScan s = MakeSyntheticScan(o);
  const LatticeModel m = MakeSi7x7Model();
  const double px_nm = 20.0 / 256;
  const Mat2 j = Jacobian(s.image_from_model, Vec2::Zero());
  // With rotation 0, a1 lies along image x: features along x appear
  // 1 / (1 + 0.25) as large as nominal.
  const Vec2 b1 = j * m.a1_nm;
  CHECK(b1.x() == doctest::Approx(2.688 / px_nm / 1.25));
  CHECK(std::abs(b1.y()) < 1e-9);
  // a2 has a model y component; image y points down.
  const Vec2 b2 = j * m.a2_nm;
  CHECK(b2.y() == doctest::Approx(-2.688 * std::sqrt(3.0) / 2 / px_nm / 0.8));
}

// The row shift of SyntheticScanOptions at fractional row y, as TruePixel
// documents it: linear between rows, held beyond the ends.
Vec2 RowShiftAt(const std::vector<Vec2>& shift, double y) {
  if (y <= 0) return shift.front();
  if (y >= shift.size() - 1.0) return shift.back();
  const int y0 = static_cast<int>(std::floor(y));
  return shift[y0] + (y - y0) * (shift[y0 + 1] - shift[y0]);
}

// Distance from model point a to the nearest adatom site or corner hole.
double NearestSiteNm(const LatticeModel& m, const Vec2& a_nm) {
  const Vec2 f = m.LatticeFromModel(a_nm);
  double nearest = std::numeric_limits<double>::infinity();
  for (int i = static_cast<int>(std::floor(f.x())) - 1;
       i <= static_cast<int>(std::floor(f.x())) + 1; ++i) {
    for (int j = static_cast<int>(std::floor(f.y())) - 1;
         j <= static_cast<int>(std::floor(f.y())) + 1; ++j) {
      const Vec2 origin = m.ModelFromLattice(i, j);
      nearest = std::min(nearest, (a_nm - origin).norm());
      for (const BasisSite& site : m.sites) {
        const Vec2 q =
            origin + m.ModelFromLattice(site.frac.x(), site.frac.y());
        nearest = std::min(nearest, (a_nm - q).norm());
      }
    }
  }
  return nearest;
}

TEST_CASE("row shift: Validate checks size, finiteness and step") {
  SyntheticScanOptions o = SmallOptions();
  o.row_shift_nm.assign(o.height_px, Vec2(0.3, -0.2));
  CHECK(o.Validate().ok());
  o.row_shift_nm.assign(10, Vec2::Zero());
  SyntheticScanOptions nan = SmallOptions();
  nan.row_shift_nm.assign(nan.height_px, Vec2::Zero());
  nan.row_shift_nm[5].x() = std::numeric_limits<double>::quiet_NaN();
  SyntheticScanOptions steep = SmallOptions();
  steep.row_shift_nm.assign(steep.height_px, Vec2::Zero());
  // 20 nm / 256 px: a jump of 0.06 nm is ≈ 0.8 px.
  steep.row_shift_nm[100] = Vec2(0.06, 0);
  const Status a = o.Validate();
  REQUIRE_FALSE(a.ok());
  CHECK(Contains(a.message(), "synth.row_shift_nm.size() = 10"));
  const Status b = nan.Validate();
  REQUIRE_FALSE(b.ok());
  CHECK(Contains(b.message(), "synth.row_shift_nm"));
  const Status c = steep.Validate();
  REQUIRE_FALSE(c.ok());
  CHECK(Contains(c.message(), "step per row"));
  // Every violation at once.
  steep.adsorbates_per_cell = 1.5;
  steep.blur_nm = -1;
  CHECK(Lines(steep.Validate().message()).size() == 3);
  CHECK(Contains(steep.Validate().message(), "adsorbates_per_cell = 1.5"));
}

TEST_CASE("row shift: zero is the unshifted frame, constant is an offset") {
  SyntheticScanOptions o = SmallOptions();
  o.adsorbates = 3;
  o.vacancy_fraction = 0.05;
  const SyntheticScan plain = MakeSyntheticScan(o);
  SyntheticScanOptions zero = o;
  zero.row_shift_nm.assign(o.height_px, Vec2::Zero());
  const SyntheticScan z = MakeSyntheticScan(zero);
  CHECK(cv::norm(plain.frame.image, z.frame.image, cv::NORM_INF) == 0.0);
  REQUIRE(plain.adsorbates_px.size() == z.adsorbates_px.size());
  REQUIRE(plain.adatoms.size() == z.adatoms.size());
  for (size_t k = 0; k < plain.adatoms.size(); ++k) {
    CHECK((plain.adatoms[k].p_px - z.adatoms[k].p_px).norm() < 1e-9);
  }

  // A constant shift s shows what offset_nm + s shows.
  const Vec2 s(1.3, -0.7);
  SyntheticScanOptions shifted = o;
  shifted.adsorbates = 0;
  shifted.row_shift_nm.assign(o.height_px, s);
  SyntheticScanOptions offset = o;
  offset.adsorbates = 0;
  offset.offset_nm = o.offset_nm + s;
  const SyntheticScan a = MakeSyntheticScan(shifted);
  const SyntheticScan b = MakeSyntheticScan(offset);
  CHECK(cv::norm(a.frame.image, b.frame.image, cv::NORM_INF) < 1e-3);
  REQUIRE(a.corner_holes.size() == b.corner_holes.size());
  for (size_t k = 0; k < a.corner_holes.size(); ++k) {
    CHECK((a.corner_holes[k].p_px - b.corner_holes[k].p_px).norm() < 1e-9);
  }
}

TEST_CASE("row shift: TruePixel inverts the rendered mapping") {
  SyntheticScanOptions o = SmallOptions();
  o.noise = 0;
  o.blur_nm = 0.02;
  SUBCASE("shift only") {}
  SUBCASE("shift and creep") {
    o.creep_px = 5;
    o.creep_angle_deg = 60;
  }
  // A smooth drift of about 3 nm down the frame (≈ 0.15 px per row).
  o.row_shift_nm.resize(o.height_px);
  for (int y = 0; y < o.height_px; ++y) {
    o.row_shift_nm[y] = Vec2(0.012 * y, -0.004 * y + 0.3 * std::sin(y / 40.0));
  }
  REQUIRE(o.Validate().ok());
  const SyntheticScan s = MakeSyntheticScan(o);
  const Mat3 model_from_image = s.image_from_model.inverse();
  const double angle = o.creep_angle_deg * 3.14159265358979323846 / 180;
  const Vec2 dir(std::cos(angle), std::sin(angle));
  // m(p) = image_from_model⁻¹(p − creep(p.y)) + shift(p.y) at TruePixel.
  auto model_at = [&](const Vec2& p) {
    const Vec2 creep = o.creep_px * std::exp(-p.y() / o.creep_tau_rows) * dir;
    return Vec2(Apply(model_from_image, p - creep) +
                RowShiftAt(o.row_shift_nm, p.y()));
  };
  for (const TruthAdatom& a : s.adatoms) {
    CHECK((model_at(a.p_px) - a.model_nm).norm() < 1e-8);
    CHECK((s.TruePixel(a.model_nm) - a.p_px).norm() < 1e-9);
  }
  // Beyond the first and last row the shift is held.
  const Vec2 above = model_at(Vec2(50, -20));
  CHECK((s.TruePixel(above) - Vec2(50, -20)).norm() < 1e-8);
  const Vec2 below = model_at(Vec2(50, 290));
  CHECK((s.TruePixel(below) - Vec2(50, 290)).norm() < 1e-8);
  // The truth corner holes are the minima of the shifted image.
  const double cell = CellPx(s);
  int checked = 0;
  for (const TruthCornerHole& h : s.corner_holes) {
    if (!Inside(h.p_px, s.frame.image, 0.5 * cell)) continue;
    CHECK((ArgMinNear(s.frame.image, h.p_px, 0.3 * cell) - h.p_px).norm() <=
          1.0);
    ++checked;
  }
  CHECK(checked >= 20);
}

TEST_CASE("SiteOccupied is the truth's vacancy rule") {
  SyntheticScanOptions o = SmallOptions();
  o.vacancy_fraction = 0.2;
  const SyntheticScan s = MakeSyntheticScan(o);
  const LatticeModel m = MakeSi7x7Model();
  for (const TruthAdatom& a : s.adatoms) {
    int site = -1;
    for (size_t k = 0; k < m.sites.size(); ++k) {
      const Vec2 q =
          m.ModelFromLattice(a.i, a.j) +
          m.ModelFromLattice(m.sites[k].frac.x(), m.sites[k].frac.y());
      if ((q - a.model_nm).norm() < 1e-9) site = static_cast<int>(k);
    }
    REQUIRE(site >= 0);
    CHECK(SiteOccupied(o, a.i, a.j, site) == a.occupied);
  }
}

TEST_CASE("fixed adsorbates: a population of the seed, clear of sites") {
  SyntheticScanOptions o = SmallOptions();
  o.adsorbates_per_cell = 0.3;
  o.noise = 0;
  const LatticeModel m = MakeSi7x7Model();
  const SyntheticScan s = MakeSyntheticScan(o);
  REQUIRE(s.adsorbates_px.size() == s.adsorbates_model_nm.size());
  REQUIRE(s.adsorbates_px.size() >= 5);
  for (size_t k = 0; k < s.adsorbates_px.size(); ++k) {
    CHECK((s.TruePixel(s.adsorbates_model_nm[k]) - s.adsorbates_px[k]).norm() <
          1e-9);
    CHECK(Inside(s.adsorbates_px[k], s.frame.image, 0));
    CHECK(NearestSiteNm(m, s.adsorbates_model_nm[k]) >= 0.45 - 1e-9);
  }
  // Rendered: bright blobs.
  SyntheticScanOptions bare = o;
  bare.adsorbates_per_cell = 0;
  const SyntheticScan without = MakeSyntheticScan(bare);
  CHECK(without.adsorbates_px.empty());
  for (const Vec2& p : s.adsorbates_px) {
    if (!Inside(p, s.frame.image, 1)) continue;
    CHECK(Bilinear(s.frame.image, p) - Bilinear(without.frame.image, p) > 1.0);
  }
  // The same model positions in another frame of the same seed (moved,
  // rotated, distorted differently): a function of the seed only.
  SyntheticScanOptions other = o;
  other.offset_nm = Vec2(4.0, -3.0);
  other.rotation_deg = -40;
  other.shear = -0.05;
  const SyntheticScan t = MakeSyntheticScan(other);
  Vec2 lo(1e9, 1e9), hi(-1e9, -1e9);
  for (const TruthAdatom& a : s.adatoms) {
    lo = lo.cwiseMin(a.model_nm);
    hi = hi.cwiseMax(a.model_nm);
  }
  const std::vector<Vec2> listed = FixedAdsorbatesIn(o, lo, hi);
  auto listed_has = [&](const Vec2& a) {
    return std::any_of(listed.begin(), listed.end(),
                       [&](const Vec2& b) { return (a - b).norm() == 0.0; });
  };
  for (const Vec2& a : s.adsorbates_model_nm) CHECK(listed_has(a));
  int common = 0;
  for (const Vec2& a : t.adsorbates_model_nm) {
    if ((a.array() >= lo.array()).all() && (a.array() <= hi.array()).all()) {
      CHECK(listed_has(a));
      ++common;
    }
  }
  CHECK(common > 0);
  for (const Vec2& a : listed) {
    CHECK((a.array() >= lo.array()).all());
    CHECK((a.array() <= hi.array()).all());
  }

  // Over many cells the fraction carrying one matches the option.
  int carrying = 0;
  const int n = 100 * 100;
  for (int i = 0; i < 100; ++i) {
    for (int j = 0; j < 100; ++j) {
      Vec2 a;
      if (!FixedAdsorbateInCell(o, i, j, &a)) continue;
      ++carrying;
      const Vec2 f = m.LatticeFromModel(a) - Vec2(i, j);
      CHECK(f.x() >= -1e-9);
      CHECK(f.x() <= 1 + 1e-9);
      CHECK(f.y() >= -1e-9);
      CHECK(f.y() <= 1 + 1e-9);
      if (i < 10) CHECK(NearestSiteNm(m, a) >= 0.45 - 1e-9);
    }
  }
  CHECK(std::abs(carrying / static_cast<double>(n) - 0.3) <
        4.5 * std::sqrt(0.3 * 0.7 / n));
  // Another seed: another population.
  SyntheticScanOptions reseeded = o;
  reseeded.seed = 43;
  int same = 0;
  for (int i = 0; i < 20; ++i) {
    for (int j = 0; j < 20; ++j) {
      Vec2 a, b;
      same += FixedAdsorbateInCell(o, i, j, &a) &&
              FixedAdsorbateInCell(reseeded, i, j, &b) && (a - b).norm() == 0;
    }
  }
  CHECK(same == 0);
}

}  // namespace
}  // namespace anchord
