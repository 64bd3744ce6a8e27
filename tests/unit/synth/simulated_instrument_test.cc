// The simulated instrument against its contract: frames whose ground
// truth agrees with the image and with the documented physics
// m = model_from_scanner · (q − d(t) + c(t) − lag(t)), drift compensation,
// creep after offset changes, the fixed defect population, validation and
// determinism.

#include "anchord/synth/simulated_instrument.h"

#include "anchord/model/lattice_model.h"

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
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

// 128 px over 16 nm (0.125 nm/px, ≈ 21 px per cell), mildly distorted;
// 12.8 s per frame plus a 2 s gap.
SimulatedInstrumentOptions SmallOptions() {
  SimulatedInstrumentOptions o;
  o.scan.width_px = 128;
  o.scan.height_px = 128;
  o.scan.field_of_view_nm = 16;
  o.scan.rotation_deg = 12;
  o.scan.scale_error_x = 0.08;
  o.scan.scale_error_y = -0.05;
  o.scan.shear = 0.06;
  o.scan.noise = 0.02;
  o.scan.blur_nm = 0.02;
  o.scan.seed = 7;
  o.line_time_s = 0.1;
  o.frame_gap_s = 2.0;
  return o;
}

double PxNm(const SimulatedFrame& f) { return f.scan.frame.pixel_size_x_nm; }

// Commanded scanner position of pixel p (scan angle 0).
Vec2 ScannerOfPixel(const SimulatedFrame& f, const Vec2& p) {
  const cv::Mat1f& img = f.scan.frame.image;
  const double cx = 0.5 * (img.cols - 1), cy = 0.5 * (img.rows - 1);
  return Vec2(f.scan.frame.scan_offset_x_nm, f.scan.frame.scan_offset_y_nm) +
         PxNm(f) * Vec2(p.x() - cx, cy - p.y());
}

// When the tip passes (fractional) row y: the middle of its forward trace.
double RowTime(const SimulatedFrame& f, double y) {
  return f.scan.frame.acquired_unix_s + (y + 0.25) * f.scan.frame.line_time_s;
}

// Apparent displacement d − c + lag, scanner nm.
Vec2 Apparent(const SimulatedInstrument& inst, double t) {
  return inst.DriftAt(t) - inst.CompensationAt(t) + inst.LagAt(t);
}

// Image shift, px, of features that move by `scanner_nm` in the scanner.
Vec2 PixelShift(const SimulatedFrame& f, const Vec2& scanner_nm) {
  return Vec2(scanner_nm.x(), -scanner_nm.y()) / PxNm(f);
}

bool Inside(const Vec2& p, const cv::Mat& img, double margin) {
  return p.x() >= margin && p.y() >= margin && p.x() <= img.cols - 1 - margin &&
         p.y() <= img.rows - 1 - margin;
}

// Position of the extremum of `img` within `radius` px of p.
Vec2 ArgExtremumNear(const cv::Mat1f& img,
                     const Vec2& p,
                     double radius,
                     bool maximum) {
  float best = -std::numeric_limits<float>::infinity();
  Vec2 at = p;
  const int r = static_cast<int>(std::ceil(radius));
  const int cx = static_cast<int>(std::lround(p.x()));
  const int cy = static_cast<int>(std::lround(p.y()));
  for (int y = cy - r; y <= cy + r; ++y) {
    for (int x = cx - r; x <= cx + r; ++x) {
      if (x < 0 || y < 0 || x >= img.cols || y >= img.rows) continue;
      if ((Vec2(x, y) - p).norm() > radius) continue;
      const float v = maximum ? img(y, x) : -img(y, x);
      if (v > best) {
        best = v;
        at = Vec2(x, y);
      }
    }
  }
  return at;
}

// Sub-pixel minimum of `img` near p: the integer minimum within `radius`
// px, refined by a parabola along x and along y.
Vec2 SubpixelMin(const cv::Mat1f& img, const Vec2& p, double radius) {
  const Vec2 at = ArgExtremumNear(img, p, radius, false);
  const int x = static_cast<int>(at.x()), y = static_cast<int>(at.y());
  if (x < 1 || y < 1 || x > img.cols - 2 || y > img.rows - 2) return at;
  auto vertex = [](double l, double c, double r) {
    const double den = l - 2 * c + r;
    return den > 0 ? 0.5 * (l - r) / den : 0.0;
  };
  return at + Vec2(vertex(img(y, x - 1), img(y, x), img(y, x + 1)),
                   vertex(img(y - 1, x), img(y, x), img(y + 1, x)));
}

// A corner hole measured in two frames: its sub-pixel image minimum in
// frame a and in frame b.
struct MinimumPair {
  Vec2 a, b;
};

// The corner holes of frame a (the truth only picks which minima to
// measure) found again in frame b near a + guess (px).
std::vector<MinimumPair> MatchedMinima(const SimulatedFrame& a,
                                       const SimulatedFrame& b,
                                       const Vec2& guess) {
  std::vector<MinimumPair> out;
  for (const TruthCornerHole& h : a.scan.corner_holes) {
    if (!Inside(h.p_px, a.scan.frame.image, 6) ||
        !Inside(h.p_px + guess, b.scan.frame.image, 6)) {
      continue;
    }
    const Vec2 pa = SubpixelMin(a.scan.frame.image, h.p_px, 3);
    const Vec2 pb = SubpixelMin(b.scan.frame.image, pa + guess, 3);
    out.push_back({pa, pb});
  }
  return out;
}

TEST_CASE("Validate accepts the defaults, ignores per-frame fields") {
  CHECK(SimulatedInstrumentOptions{}.Validate().ok());
  CHECK(SmallOptions().Validate().ok());
  SimulatedInstrumentOptions o = SmallOptions();
  o.scan.offset_nm = Vec2(100, 3);
  o.scan.row_shift_nm = {Vec2(1, 1)};  // wrong size, but set per frame
  o.scan.creep_px = 100;
  o.scan.adsorbates = -3;
  o.scan.noise_seed = 5;
  CHECK(o.Validate().ok());
}

TEST_CASE("Validate lists every violation") {
  SimulatedInstrumentOptions o = SmallOptions();
  o.scan.width_px = 8;
  o.scan.perspective = 0.01;
  o.line_time_s = 0;
  o.creep_fraction = 0.7;
  o.start_unix_s = 0;
  o.frame_gap_s = -1;
  o.drift_walk_nm_per_s_per_sqrt_s = -1;
  o.creep_tau_s = 0;
  const Status s = o.Validate();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Lines(s.message()).size() == 8);
  CHECK(Contains(s.message(), "synth.width_px = 8"));
  CHECK(Contains(s.message(), "instrument.scan.perspective = 0.01"));
  CHECK(Contains(s.message(), "instrument.line_time_s = 0"));
  CHECK(Contains(s.message(), "instrument.creep_fraction = 0.7"));
  CHECK(Contains(s.message(), "instrument.start_unix_s = 0"));
  CHECK(Contains(s.message(), "instrument.frame_gap_s = -1"));
  CHECK(Contains(s.message(), "drift_walk_nm_per_s_per_sqrt_s = -1"));
  CHECK(Contains(s.message(), "instrument.creep_tau_s = 0"));

  SimulatedInstrumentOptions fast = SmallOptions();
  fast.drift_nm_per_s = Vec2(1.0, 0);  // 0.1 nm per line ≈ 0.8 px
  const Status f = fast.Validate();
  REQUIRE_FALSE(f.ok());
  CHECK(Lines(f.message()).size() == 1);
  CHECK(Contains(f.message(), "drift_nm_per_s"));
}

TEST_CASE("frame metadata and the clock") {
  SimulatedInstrumentOptions o = SmallOptions();
  SimulatedInstrument inst(o);
  CHECK(inst.now_unix_s() == o.start_unix_s);
  inst.SetDriftCompensation(Vec2(0.01, -0.02));
  inst.SetScanOffset(Vec2(3, -4));
  const SimulatedFrame f0 = inst.ScanNextFrame();
  inst.SetDriftCompensation(Vec2(0.03, 0.0));
  const SimulatedFrame f1 = inst.ScanNextFrame();
  const double period = 128 * 0.1 + 2.0;
  CHECK(f0.index == 0);
  CHECK(f1.index == 1);
  CHECK(inst.now_unix_s() == doctest::Approx(o.start_unix_s + 2 * period));
  const Frame& a = f0.scan.frame;
  const Frame& b = f1.scan.frame;
  CHECK(a.acquired_unix_s == o.start_unix_s);
  CHECK(b.acquired_unix_s == doctest::Approx(o.start_unix_s + period));
  CHECK(a.line_time_s == 0.1);
  REQUIRE(a.line_times_s.size() == 128);
  CHECK(a.line_times_s[0] == 0);
  CHECK(a.line_times_s[127] == doctest::Approx(12.7));
  CHECK(a.scan_offset_x_nm == 3);
  CHECK(a.scan_offset_y_nm == -4);
  CHECK(a.pixel_size_x_nm == doctest::Approx(16.0 / 128));
  CHECK(a.pixel_size_y_nm == doctest::Approx(16.0 / 128));
  CHECK(a.image.rows == 128);
  CHECK(a.image.cols == 128);
  CHECK((a.drift_compensation_nm_per_s - Vec2(0.01, -0.02)).norm() == 0);
  CHECK(a.drift_compensation_offset_nm.norm() == 0);
  CHECK((b.drift_compensation_nm_per_s - Vec2(0.03, 0.0)).norm() == 0);
  // c integrates the velocity of frame 0 over the frame and the gap.
  CHECK((b.drift_compensation_offset_nm - period * Vec2(0.01, -0.02)).norm() <
        1e-6);
  CHECK((inst.CompensationAt(b.acquired_unix_s + 1) -
         b.drift_compensation_offset_nm - Vec2(0.03, 0.0))
            .norm() < 1e-6);
  // d(start) = 0; apparent displacement at the frame ends.
  CHECK(inst.DriftAt(o.start_unix_s).norm() == 0);
  CHECK((f1.apparent_start_nm - Apparent(inst, b.acquired_unix_s)).norm() <
        1e-12);
  CHECK((f1.apparent_end_nm - Apparent(inst, b.acquired_unix_s + 12.8)).norm() <
        1e-12);
  // The drift velocity starts at drift_nm_per_s and walks only slowly.
  CHECK((f0.drift_velocity_nm_per_s - o.drift_nm_per_s).norm() < 1e-3);
  // The frames' noise differs (per-frame noise seed).
  CHECK(a.source != b.source);
}

TEST_CASE("ground truth agrees with the physics and with the image") {
  SimulatedInstrumentOptions o = SmallOptions();
  o.scan.noise = 0;
  o.scan.vacancy_fraction = 0.05;
  o.scan.adsorbates_per_cell = 0.3;
  o.drift_walk_nm_per_s_per_sqrt_s = 1e-3;  // a fast walk
  SimulatedInstrument inst(o);
  inst.ScanNextFrame();
  inst.SetScanOffset(Vec2(2.0, -1.5));
  inst.SetDriftCompensation(Vec2(0.01, 0.005));
  const SimulatedFrame f = inst.ScanNextFrame();
  const SyntheticScan& s = f.scan;
  REQUIRE(inst.LagAt(s.frame.acquired_unix_s).norm() > 0.01);

  // Every truth position is where the physics images its model point.
  REQUIRE(s.adatoms.size() > 300);
  REQUIRE(s.corner_holes.size() > 20);
  for (const TruthAdatom& a : s.adatoms) {
    const Vec2 m = inst.ModelFromScanner(ScannerOfPixel(f, a.p_px),
                                         RowTime(f, a.p_px.y()));
    CHECK((m - a.model_nm).norm() < 1e-4);
    CHECK((s.TruePixel(a.model_nm) - a.p_px).norm() < 1e-9);
  }
  for (const TruthCornerHole& h : s.corner_holes) {
    const Vec2 m = inst.ModelFromScanner(ScannerOfPixel(f, h.p_px),
                                         RowTime(f, h.p_px.y()));
    CHECK((m - h.model_nm).norm() < 1e-4);
  }

  // Occupied adatoms (away from adsorbates) are image maxima, corner holes
  // minima.
  int maxima = 0;
  for (const TruthAdatom& a : s.adatoms) {
    if (!a.occupied || !Inside(a.p_px, s.frame.image, 3)) continue;
    bool near_adsorbate = false;
    for (const Vec2& ad : s.adsorbates_model_nm) {
      near_adsorbate |= (ad - a.model_nm).norm() < 1.2;
    }
    if (near_adsorbate) continue;
    CAPTURE(a.p_px.transpose());
    CHECK((ArgExtremumNear(s.frame.image, a.p_px, 2.5, true) - a.p_px).norm() <=
          1.0);
    ++maxima;
  }
  CHECK(maxima > 200);
  int minima = 0;
  for (const TruthCornerHole& h : s.corner_holes) {
    if (!Inside(h.p_px, s.frame.image, 5)) continue;
    CHECK((ArgExtremumNear(s.frame.image, h.p_px, 4, false) - h.p_px).norm() <=
          1.0);
    ++minima;
  }
  CHECK(minima > 10);
  // The fixed adsorbates are in the truth and bright.
  REQUIRE(s.adsorbates_px.size() >= 3);
  for (const Vec2& p : s.adsorbates_px) {
    if (!Inside(p, s.frame.image, 1)) continue;
    CHECK(s.frame.image(static_cast<int>(std::lround(p.y())),
                        static_cast<int>(std::lround(p.x()))) > 1.5);
  }
}

TEST_CASE("apparent displacement between frames matches the drift") {
  SimulatedInstrumentOptions o = SmallOptions();
  o.drift_walk_nm_per_s_per_sqrt_s = 0;
  o.creep_fraction = 0;
  o.scan.noise = 0;  // sub-pixel minima to a few hundredths of a pixel
  SimulatedInstrument inst(o);
  inst.SetDriftCompensation(Vec2(0.01, -0.005));
  const SimulatedFrame f0 = inst.ScanNextFrame();
  const SimulatedFrame f1 = inst.ScanNextFrame();
  const double t0 = f0.scan.frame.acquired_unix_s;
  const double t1 = f1.scan.frame.acquired_unix_s;
  // (2, 1) nm/min minus the compensation over 14.8 s: ≈ (2.8, −2.6) px.
  const Vec2 expected = PixelShift(f0, Apparent(inst, t1) - Apparent(inst, t0));
  CHECK(expected.norm() > 3.0);
  CHECK((inst.DriftAt(t1) - inst.DriftAt(t0) - (t1 - t0) * o.drift_nm_per_s)
            .norm() < 1e-6);
  CHECK((inst.CompensationAt(t1) - (t1 - t0) * Vec2(0.01, -0.005)).norm() <
        1e-6);
  // Measured in the images: a hole at row y of frame 0 and row y' of
  // frame 1 moved by the apparent displacement between those rows' times.
  const std::vector<MinimumPair> pairs = MatchedMinima(f0, f1, expected);
  REQUIRE(pairs.size() >= 10);
  Vec2 measured = Vec2::Zero(), predicted = Vec2::Zero();
  for (const MinimumPair& m : pairs) {
    measured += (m.b - m.a) / pairs.size();
    predicted += PixelShift(f0, Apparent(inst, RowTime(f1, m.b.y())) -
                                    Apparent(inst, RowTime(f0, m.a.y()))) /
                 pairs.size();
  }
  CAPTURE(predicted.transpose());
  CAPTURE(measured.transpose());
  CHECK((measured - predicted).norm() < 0.05);
  // The truth agrees exactly.
  int seen_twice = 0;
  for (const TruthCornerHole& a : f0.scan.corner_holes) {
    for (const TruthCornerHole& b : f1.scan.corner_holes) {
      if (a.i != b.i || a.j != b.j) continue;
      const Vec2 shift =
          PixelShift(f0, Apparent(inst, RowTime(f1, b.p_px.y())) -
                             Apparent(inst, RowTime(f0, a.p_px.y())));
      CHECK((b.p_px - a.p_px - shift).norm() < 1e-6);
      ++seen_twice;
    }
  }
  CHECK(seen_twice > 10);
}

TEST_CASE("compensation equal to the drift freezes the sample") {
  SimulatedInstrumentOptions o = SmallOptions();
  o.drift_walk_nm_per_s_per_sqrt_s = 0;
  o.creep_fraction = 0;
  o.scan.noise = 0;
  SimulatedInstrument inst(o);
  inst.SetDriftCompensation(o.drift_nm_per_s);
  SimulatedInstrument uncompensated(o);
  std::vector<SimulatedFrame> frames, drifting;
  for (int k = 0; k < 3; ++k) {
    frames.push_back(inst.ScanNextFrame());
    drifting.push_back(uncompensated.ScanNextFrame());
  }
  auto centre_model = [](const SimulatedInstrument& in,
                         const SimulatedFrame& f) {
    const Vec2 centre(63.5, 63.5);
    return in.ModelFromScanner(ScannerOfPixel(f, centre), RowTime(f, 63.5));
  };
  const Vec2 m0 = centre_model(inst, frames[0]);
  for (int k = 1; k < 3; ++k) {
    CAPTURE(k);
    CHECK((centre_model(inst, frames[k]) - m0).norm() < 1e-3);  // < 1 pm
    CHECK(frames[k].apparent_start_nm.norm() < 1e-6);
    CHECK(frames[k].apparent_end_nm.norm() < 1e-6);
    CHECK(cv::norm(frames[k].scan.frame.image, frames[0].scan.frame.image,
                   cv::NORM_INF) < 1e-3);
    REQUIRE(frames[k].scan.adatoms.size() == frames[0].scan.adatoms.size());
    for (size_t a = 0; a < frames[0].scan.adatoms.size(); ++a) {
      CHECK((frames[k].scan.adatoms[a].p_px - frames[0].scan.adatoms[a].p_px)
                .norm() < 1e-5);
    }
    // Without compensation the sample moves by ≈ 0.5 nm per frame.
    CHECK((centre_model(uncompensated, drifting[k]) -
           centre_model(uncompensated, drifting[0]))
              .norm() > 0.3 * k);
  }
}

TEST_CASE("a scan offset change starts the documented creep lag") {
  SimulatedInstrumentOptions o = SmallOptions();
  o.drift_nm_per_s = Vec2::Zero();
  o.drift_walk_nm_per_s_per_sqrt_s = 0;
  o.creep_fraction = 0.02;
  o.creep_tau_s = 600;  // nearly constant over a frame, for the image
  o.scan.noise = 0;
  SimulatedInstrumentOptions no_creep = o;
  no_creep.creep_fraction = 0;
  SimulatedInstrument inst(o);
  SimulatedInstrument ref(no_creep);
  const Vec2 delta(20, -10);
  const SimulatedFrame f0 = inst.ScanNextFrame();
  ref.ScanNextFrame();
  inst.SetScanOffset(delta);
  ref.SetScanOffset(delta);
  const SimulatedFrame f1 = inst.ScanNextFrame();
  const SimulatedFrame r1 = ref.ScanNextFrame();
  const double t1 = f1.scan.frame.acquired_unix_s;
  // No lag before the change; creep_fraction · Δ at it, decaying with tau.
  CHECK(inst.LagAt(f0.scan.frame.acquired_unix_s + 12.8).norm() == 0);
  CHECK(inst.LagAt(t1 - 1e-6).norm() == 0);
  CHECK((inst.LagAt(t1) - 0.02 * delta).norm() < 1e-12);
  CHECK((inst.LagAt(t1 + 600) - 0.02 * std::exp(-1.0) * delta).norm() < 1e-12);
  CHECK((f1.apparent_start_nm - 0.02 * delta).norm() < 1e-12);
  // The sample point under the commanded centre falls short of Δ by the
  // lag.
  const Mat2& mfs = inst.model_from_scanner();
  CHECK((inst.ModelFromScanner(delta, t1 + 5) -
         mfs * (delta - 0.02 * std::exp(-5.0 / 600) * delta))
            .norm() < 1e-9);
  // In the image, the features sit shifted by the lag (≈ (3.2, 1.6) px)
  // against a creep-free scanner.
  const Vec2 expected = PixelShift(f1, inst.LagAt(t1 + 6.4));
  CHECK(expected.norm() > 3);
  const std::vector<MinimumPair> pairs = MatchedMinima(r1, f1, expected);
  REQUIRE(pairs.size() >= 10);
  Vec2 measured = Vec2::Zero(), predicted = Vec2::Zero();
  for (const MinimumPair& m : pairs) {
    measured += (m.b - m.a) / pairs.size();
    predicted +=
        PixelShift(f1, inst.LagAt(RowTime(f1, m.b.y()))) / pairs.size();
  }
  CAPTURE(predicted.transpose());
  CAPTURE(measured.transpose());
  CHECK((measured - predicted).norm() < 0.05);
  // Changes add up: moving back starts an opposite lag.
  inst.SetScanOffset(Vec2::Zero());
  const SimulatedFrame f2 = inst.ScanNextFrame();
  const double t2 = f2.scan.frame.acquired_unix_s;
  CHECK((inst.LagAt(t2) - 0.02 * (std::exp(-(t2 - t1) / 600) * delta - delta))
            .norm() < 1e-12);
  // Setting the same offset again is no change.
  inst.SetScanOffset(Vec2(5, 5));
  inst.SetScanOffset(Vec2::Zero());
  const SimulatedFrame f3 = inst.ScanNextFrame();
  const double t3 = f3.scan.frame.acquired_unix_s;
  CHECK((inst.LagAt(t3) - 0.02 * (std::exp(-(t3 - t1) / 600) * delta -
                                  std::exp(-(t3 - t2) / 600) * delta))
            .norm() < 1e-12);
}

TEST_CASE("DefectsIn lists the frames' truth vacancies and adsorbates") {
  SimulatedInstrumentOptions o = SmallOptions();
  o.scan.vacancy_fraction = 0.06;
  o.scan.adsorbates_per_cell = 0.3;
  SimulatedInstrument inst(o);
  inst.SetScanOffset(Vec2(-4, 7));
  inst.ScanNextFrame();
  const SimulatedFrame f = inst.ScanNextFrame();
  const SyntheticScan& s = f.scan;
  Vec2 lo(1e9, 1e9), hi(-1e9, -1e9);
  for (const TruthAdatom& a : s.adatoms) {
    lo = lo.cwiseMin(a.model_nm);
    hi = hi.cwiseMax(a.model_nm);
  }
  for (const Vec2& a : s.adsorbates_model_nm) {
    lo = lo.cwiseMin(a);
    hi = hi.cwiseMax(a);
  }
  const std::vector<SampleDefect> defects = inst.DefectsIn(lo, hi);
  auto key = [](const SampleDefect& d) {
    return std::make_tuple(static_cast<int>(d.kind), d.i, d.j, d.site,
                           d.model_nm.x(), d.model_nm.y());
  };
  CHECK(std::is_sorted(defects.begin(), defects.end(),
                       [&](const SampleDefect& a, const SampleDefect& b) {
                         return key(a) < key(b);
                       }));
  auto in_frame = [&](const Vec2& model_nm) {
    const Vec2 p = s.TruePixel(model_nm);
    return p.x() >= 0 && p.y() >= 0 && p.x() <= 127 && p.y() <= 127;
  };
  const LatticeModel model = MakeSi7x7Model();
  std::vector<Vec2> vacancies, adsorbates;
  for (const SampleDefect& d : defects) {
    CHECK((d.model_nm.array() >= lo.array()).all());
    CHECK((d.model_nm.array() <= hi.array()).all());
    if (d.kind == SampleDefect::Kind::kVacancy) {
      REQUIRE(d.site >= 0);
      REQUIRE(d.site < static_cast<int>(model.sites.size()));
      const BasisSite& site = model.sites[d.site];
      CHECK((model.ModelFromLattice(d.i, d.j) +
             model.ModelFromLattice(site.frac.x(), site.frac.y()) - d.model_nm)
                .norm() == 0);
      CHECK_FALSE(SiteOccupied(inst.options().scan, d.i, d.j, d.site));
      if (in_frame(d.model_nm)) vacancies.push_back(d.model_nm);
    } else {
      CHECK(d.site == -1);
      const Vec2 f_cell = model.LatticeFromModel(d.model_nm) - Vec2(d.i, d.j);
      CHECK(f_cell.x() > -1e-9);
      CHECK(f_cell.x() < 1 + 1e-9);
      CHECK(f_cell.y() > -1e-9);
      CHECK(f_cell.y() < 1 + 1e-9);
      if (in_frame(d.model_nm)) adsorbates.push_back(d.model_nm);
    }
  }
  std::vector<Vec2> truth_vacancies;
  for (const TruthAdatom& a : s.adatoms) {
    if (!a.occupied) truth_vacancies.push_back(a.model_nm);
  }
  REQUIRE(truth_vacancies.size() > 10);
  REQUIRE(s.adsorbates_model_nm.size() > 3);
  auto sorted = [](std::vector<Vec2> v) {
    std::sort(v.begin(), v.end(), [](const Vec2& a, const Vec2& b) {
      return std::make_pair(a.x(), a.y()) < std::make_pair(b.x(), b.y());
    });
    return v;
  };
  // Bit-identical positions.
  CHECK(sorted(vacancies) == sorted(truth_vacancies));
  CHECK(sorted(adsorbates) == sorted(s.adsorbates_model_nm));
  // The same adsorbates as the generator's enumeration.
  const std::vector<Vec2> fixed =
      FixedAdsorbatesIn(inst.options().scan, lo, hi);
  CHECK(
      static_cast<int>(fixed.size()) ==
      std::count_if(defects.begin(), defects.end(), [](const SampleDefect& d) {
        return d.kind == SampleDefect::Kind::kAdsorbate;
      }));
  // An empty or inverted rectangle holds nothing.
  CHECK(inst.DefectsIn(hi, lo).empty());
}

TEST_CASE("deterministic for given options") {
  SimulatedInstrumentOptions o = SmallOptions();
  o.scan.vacancy_fraction = 0.05;
  o.scan.adsorbates_per_cell = 0.2;
  o.drift_walk_nm_per_s_per_sqrt_s = 1e-3;
  SimulatedInstrument a(o), b(o);
  for (int k = 0; k < 2; ++k) {
    const SimulatedFrame fa = a.ScanNextFrame();
    const SimulatedFrame fb = b.ScanNextFrame();
    CHECK(cv::norm(fa.scan.frame.image, fb.scan.frame.image, cv::NORM_INF) ==
          0.0);
    CHECK((fa.apparent_end_nm - fb.apparent_end_nm).norm() == 0);
  }
  const double t = a.now_unix_s() - o.frame_gap_s;
  CHECK((a.DriftAt(t) - b.DriftAt(t)).norm() == 0);
  // Another walk seed: another drift, the same sample.
  SimulatedInstrumentOptions reseeded = o;
  reseeded.seed = 2;
  SimulatedInstrument c(reseeded);
  c.ScanNextFrame();
  c.ScanNextFrame();
  CHECK((a.DriftAt(t) - c.DriftAt(t)).norm() > 1e-4);
  const Vec2 lo(-10, -10), hi(10, 10);
  const auto da = a.DefectsIn(lo, hi);
  const auto dc = c.DefectsIn(lo, hi);
  REQUIRE(da.size() == dc.size());
  REQUIRE(da.size() > 10);
  for (size_t k = 0; k < da.size(); ++k) {
    CHECK((da[k].model_nm - dc[k].model_nm).norm() == 0);
  }
  // Another sample seed: another defect population.
  SimulatedInstrumentOptions other = o;
  other.scan.seed = 8;
  const auto dd = SimulatedInstrument(other).DefectsIn(lo, hi);
  int same = 0;
  for (const SampleDefect& x : dd) {
    for (const SampleDefect& y : da)
      same += (x.model_nm - y.model_nm).norm() == 0;
  }
  CHECK(same < static_cast<int>(da.size()) / 2);
}

TEST_CASE("simulated instrument: compensation set mid-frame applies then") {
  SimulatedInstrumentOptions o;
  o.scan = ModeratelyDistortedScan(3, 64, 8.0);
  o.drift_walk_nm_per_s_per_sqrt_s = 0;
  SimulatedInstrument a(o), b(o);
  a.ScanNextFrame();
  b.ScanNextFrame();
  const double mid = a.now_unix_s() + 0.5 * 64 * o.line_time_s;
  const Vec2 v(0.02, 0.01);
  a.SetDriftCompensationAt(v, mid);
  b.SetDriftCompensation(v);  // from the next frame's start
  const SimulatedFrame fa = a.ScanNextFrame();
  const SimulatedFrame fb = b.ScanNextFrame();
  const double end = fa.scan.frame.acquired_unix_s + 64 * o.line_time_s;
  CHECK(a.CompensationAt(mid).isZero(1e-12));
  CHECK((a.CompensationAt(end) - v * (end - mid)).norm() < 1e-9);
  CHECK((b.CompensationAt(end) - v * (end - fb.scan.frame.acquired_unix_s))
            .norm() < 1e-9);
  // The first half of frame a scanned without compensation.
  CHECK(fa.scan.frame.drift_compensation_nm_per_s.isZero());
}

}  // namespace
}  // namespace anchord
