// DetectRootThreeSublattice: corner holes plus the centres of the T1 and
// T2 halves form a lattice √3 finer than the 7×7 cell (rotated by 30°). In
// the finer lattice's indices the corner holes are one coset
// (i − j) mod 3 of three; the coarser lattice is spanned by b1 + b2 and
// 2·b2 − b1. Unit cases on index grids, then the whole path on a synthetic
// frame's true holes and half centres.

#include "anchord/lattice/lattice_estimate.h"
#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/register/lattice_registration.h"
#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace anchord {
namespace {

constexpr double kPi = 3.14159265358979323846;

int Coset(int i, int j) { return (((i - j) % 3) + 3) % 3; }

// A hexagonal lattice in image pixels: b2 is b1 turned by 60°
// counter-clockwise on screen (y down), so Cross(b1, b2) < 0.
LatticeEstimate Hexagonal(double length, double angle_deg) {
  const double a = angle_deg * kPi / 180.0, b = a - kPi / 3.0;
  LatticeEstimate e;
  e.b1_px = length * Vec2(std::cos(a), std::sin(a));
  e.b2_px = length * Vec2(std::cos(b), std::sin(b));
  e.support = 42;
  return e;
}

struct Points {
  std::vector<int> i, j;
  std::vector<double> response;
  void Add(int a, int b, double r) {
    i.push_back(a);
    j.push_back(b);
    response.push_back(r);
  }
};

// Grid i ∈ [i0, i1], j ∈ [j0, j1]; coset `dark` responds `high`, the
// others `low`, each with a small deterministic jitter.
Points Grid(int i0, int i1, int j0, int j1, int dark, double high, double low) {
  Points p;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> jitter(-0.05, 0.05);
  for (int i = i0; i <= i1; ++i) {
    for (int j = j0; j <= j1; ++j) {
      p.Add(i, j, (Coset(i, j) == dark ? high : low) + jitter(rng));
    }
  }
  return p;
}

// Coefficients (m, n) of v in the basis (b1, b2).
Vec2 InBasis(const LatticeEstimate& e, const Vec2& v) {
  Mat2 basis;
  basis << e.b1_px, e.b2_px;
  return basis.inverse() * v;
}

// v is a vector of the coset-0 sublattice of (b1, b2): integer
// coefficients with m ≡ n (mod 3).
bool InSublattice(const LatticeEstimate& fine, const Vec2& v) {
  const Vec2 mn = InBasis(fine, v);
  const double m = std::round(mn.x()), n = std::round(mn.y());
  if (std::abs(mn.x() - m) > 1e-9 || std::abs(mn.y() - n) > 1e-9) return false;
  return Coset(static_cast<int>(m), static_cast<int>(n)) == 0;
}

double AngleDeg(const Vec2& a, const Vec2& b) {
  return std::acos(std::clamp(a.dot(b) / (a.norm() * b.norm()), -1.0, 1.0)) *
         180.0 / kPi;
}

TEST_CASE("one dark coset: true, with the √3 coarser lattice") {
  for (const double angle : {0.0, 23.0, -71.0, 150.0}) {
    const LatticeEstimate fine = Hexagonal(20.7, angle);
    REQUIRE(Cross(fine.b1_px, fine.b2_px) < 0);
    for (int dark = 0; dark < 3; ++dark) {
      CAPTURE(angle);
      CAPTURE(dark);
      // Indices on both sides of zero: (i − j) runs from −10 to 8.
      const Points p = Grid(-4, 5, -3, 6, dark, 2.0, 1.0);
      LatticeEstimate coarse;
      REQUIRE(DetectRootThreeSublattice(p.i, p.j, p.response, fine, coarse));
      CHECK(coarse.status.ok());
      const double len = std::sqrt(3.0) * fine.b1_px.norm();
      for (const Vec2& v :
           {coarse.b1_px, coarse.b2_px, Vec2(coarse.b2_px - coarse.b1_px)}) {
        CHECK(v.norm() == doctest::Approx(len).epsilon(1e-9));
        CHECK(InSublattice(fine, v));
      }
      CHECK(AngleDeg(coarse.b1_px, coarse.b2_px) ==
            doctest::Approx(60.0).epsilon(1e-9));
      CHECK(Cross(coarse.b1_px, coarse.b2_px) < 0);
      // Index 3: one coarse cell holds three fine ones.
      CHECK(std::abs(Cross(coarse.b1_px, coarse.b2_px)) ==
            doctest::Approx(3.0 * std::abs(Cross(fine.b1_px, fine.b2_px)))
                .epsilon(1e-9));
    }
  }
}

TEST_CASE(
    "a distorted fine lattice: the coarser one is its index-3 sublattice") {
  // Sheared and anisotropic: b1, b2 and b2 − b1 of different lengths.
  LatticeEstimate fine;
  fine.b1_px = Vec2(21.0, 3.0);
  fine.b2_px = Vec2(7.5, -17.0);
  REQUIRE(Cross(fine.b1_px, fine.b2_px) < 0);
  const Points p = Grid(-6, 6, -6, 6, 1, 1.8, 0.6);
  LatticeEstimate coarse;
  REQUIRE(DetectRootThreeSublattice(p.i, p.j, p.response, fine, coarse));
  CHECK(InSublattice(fine, coarse.b1_px));
  CHECK(InSublattice(fine, coarse.b2_px));
  CHECK(Cross(coarse.b1_px, coarse.b2_px) < 0);
  CHECK(std::abs(Cross(coarse.b1_px, coarse.b2_px)) ==
        doctest::Approx(3.0 * std::abs(Cross(fine.b1_px, fine.b2_px)))
            .epsilon(1e-9));
  // The coarse shell is {±(b1 + b2), ±(2·b2 − b1), ±(2·b1 − b2)}.
  const std::array<Vec2, 3> shell = {Vec2(fine.b1_px + fine.b2_px),
                                     Vec2(2 * fine.b2_px - fine.b1_px),
                                     Vec2(2 * fine.b1_px - fine.b2_px)};
  for (const Vec2& v :
       {coarse.b1_px, coarse.b2_px, Vec2(coarse.b2_px - coarse.b1_px)}) {
    bool found = false;
    for (const Vec2& s : shell) {
      found |= (v - s).norm() < 1e-9 || (v + s).norm() < 1e-9;
    }
    CHECK(found);
  }
}

TEST_CASE("only negative i − j: the coset is taken modulo 3 correctly") {
  const LatticeEstimate fine = Hexagonal(18.0, 8.0);
  for (int dark = 0; dark < 3; ++dark) {
    CAPTURE(dark);
    // i − j from −13 to −5.
    const Points p = Grid(-9, -5, 0, 4, dark, 2.5, 1.0);
    LatticeEstimate coarse;
    CHECK(DetectRootThreeSublattice(p.i, p.j, p.response, fine, coarse));
    CHECK(coarse.b1_px.norm() ==
          doctest::Approx(std::sqrt(3.0) * 18.0).epsilon(1e-9));
  }
}

TEST_CASE("balanced responses: false") {
  const LatticeEstimate fine = Hexagonal(20.0, 12.0);
  LatticeEstimate coarse;
  SUBCASE("all equal") {
    const Points p = Grid(-4, 5, -3, 6, 0, 1.0, 1.0);
    CHECK_FALSE(DetectRootThreeSublattice(p.i, p.j, p.response, fine, coarse));
  }
  SUBCASE("random, independent of the coset") {
    std::mt19937_64 rng(11);
    std::uniform_real_distribution<double> u(1.0, 2.0);
    Points p;
    for (int i = -5; i <= 5; ++i) {
      for (int j = -5; j <= 5; ++j) p.Add(i, j, u(rng));
    }
    CHECK_FALSE(DetectRootThreeSublattice(p.i, p.j, p.response, fine, coarse));
  }
  SUBCASE("two dark cosets: not the corner-hole pattern") {
    Points p;
    for (int i = -4; i <= 5; ++i) {
      for (int j = -3; j <= 6; ++j) p.Add(i, j, Coset(i, j) == 2 ? 1.0 : 3.0);
    }
    CHECK_FALSE(DetectRootThreeSublattice(p.i, p.j, p.response, fine, coarse));
  }
  SUBCASE("no points") {
    CHECK_FALSE(DetectRootThreeSublattice({}, {}, {}, fine, coarse));
  }
}

TEST_CASE("fewer than three points in a coset: false") {
  const LatticeEstimate fine = Hexagonal(20.0, 0.0);
  LatticeEstimate coarse;
  // A clear pattern that passes with three points per coset ...
  Points three;
  for (int c = 0; c < 3; ++c) {
    for (int k = 0; k < 3; ++k) three.Add(c + 3 * k, 0, c == 1 ? 3.0 : 1.0);
  }
  CHECK(DetectRootThreeSublattice(three.i, three.j, three.response, fine,
                                  coarse));
  // ... fails when the dark coset has only two.
  Points dark_two;
  for (int c = 0; c < 3; ++c) {
    const int n = c == 1 ? 2 : 6;
    for (int k = 0; k < n; ++k) dark_two.Add(c + 3 * k, 0, c == 1 ? 3.0 : 1.0);
  }
  CHECK_FALSE(DetectRootThreeSublattice(dark_two.i, dark_two.j,
                                        dark_two.response, fine, coarse));
  // ... and when a light coset has only two.
  Points light_two;
  for (int c = 0; c < 3; ++c) {
    const int n = c == 0 ? 2 : 6;
    for (int k = 0; k < n; ++k) {
      light_two.Add(c + 3 * k, 0, c == 1 ? 3.0 : 1.0);
    }
  }
  CHECK_FALSE(DetectRootThreeSublattice(light_two.i, light_two.j,
                                        light_two.response, fine, coarse));
  // ... and when a coset is empty.
  Points empty_coset;
  for (int k = 0; k < 9; ++k) {
    if (Coset(k, 0) != 2) empty_coset.Add(k, 0, Coset(k, 0) == 0 ? 3.0 : 1.0);
  }
  CHECK_FALSE(DetectRootThreeSublattice(empty_coset.i, empty_coset.j,
                                        empty_coset.response, fine, coarse));
}

// ---------------------------------------------------------------------------
// End to end on a synthetic frame: candidates at the true corner holes
// (response 2) and at the centroids of every T1 and T2 half (response 1).

// Features 25 % larger than nominal (scale error −0.2): the finer lattice
// (0.577 × 1.25 = 0.72 × the prior cell) and the true one (1.25 ×) both
// lie inside the lattice estimate's scale prior, so the data decide. At
// nominal scale the finer lattice (0.577 × the prior) is outside a
// [0.6, 1.6] prior and inside a [0.5, 2] one.
SyntheticScanOptions FrameOptions(const Vec2& offset_nm) {
  SyntheticScanOptions o;
  o.width_px = 320;
  o.height_px = 320;
  o.field_of_view_nm = 24;
  o.rotation_deg = 17;
  o.scale_error_x = -0.2;
  o.scale_error_y = -0.2;
  o.noise = 0;
  o.offset_nm = offset_nm;
  o.seed = 3;
  return o;
}

struct Scene {
  SyntheticScan scan;
  std::vector<Candidate> candidates;  // strongest first
  double cell_px = 0;                 // nominal (prior) cell length
};

Scene MakeScene(const Vec2& offset_nm) {
  Scene s{MakeSyntheticScan(FrameOptions(offset_nm)), {}, 0};
  const LatticeModel model = MakeSi7x7Model();
  s.cell_px = kSi7x7LatticeNm / s.scan.frame.pixel_size_x_nm;
  const cv::Mat1f& img = s.scan.frame.image;
  const auto in_frame = [&](const Vec2& p) {
    return p.x() >= 0 && p.y() >= 0 && p.x() <= img.cols - 1 &&
           p.y() <= img.rows - 1;
  };
  for (const TruthCornerHole& h : s.scan.corner_holes) {
    s.candidates.push_back({h.p_px, 2.0});
  }
  // Half centroids of every cell that can reach the frame.
  std::vector<Candidate> centroids;
  for (int i = -20; i <= 20; ++i) {
    for (int j = -20; j <= 20; ++j) {
      for (const double f : {1.0 / 3.0, 2.0 / 3.0}) {
        const Vec2 p = s.scan.TruePixel(model.ModelFromLattice(i + f, j + f));
        if (in_frame(p)) centroids.push_back({p, 1.0});
      }
    }
  }
  // Equal responses carry no order: shuffle them.
  std::mt19937_64 rng(1);
  std::shuffle(centroids.begin(), centroids.end(), rng);
  s.candidates.insert(s.candidates.end(), centroids.begin(), centroids.end());
  return s;
}

// The six shell vectors J·v for the model vectors v, ±.
std::array<Vec2, 6> Shell(const SyntheticScan& scan,
                          const Vec2& v1,
                          const Vec2& v2) {
  const Mat2 j = Jacobian(scan.image_from_model, Vec2::Zero());
  const Vec2 b1 = j * v1, b2 = j * v2;
  return {b1, -b1, b2, -b2, Vec2(b2 - b1), Vec2(b1 - b2)};
}

bool ShellMatches(const std::array<Vec2, 6>& truth,
                  const LatticeEstimate& e,
                  double rel) {
  const std::array<Vec2, 6> est = {e.b1_px,
                                   -e.b1_px,
                                   e.b2_px,
                                   -e.b2_px,
                                   Vec2(e.b2_px - e.b1_px),
                                   Vec2(e.b1_px - e.b2_px)};
  for (const Vec2& t : truth) {
    bool found = false;
    for (const Vec2& v : est) found |= (v - t).norm() < rel * t.norm();
    if (!found) return false;
  }
  return true;
}

const Vec2 kOffsets[] = {Vec2(0, 0), Vec2(0.6, 0.35), Vec2(1.2, 0.7),
                         Vec2(1.8, 1.05)};

TEST_CASE(
    "holes + half centres: the finer lattice is found, registered and detected "
    "as √3") {
  const LatticeModel model = MakeSi7x7Model();
  for (const Vec2& offset : kOffsets) {
    CAPTURE(offset.transpose());
    const Scene s = MakeScene(offset);
    // The finer lattice: (a1 + a2)/3 and (2·a1 − a2)/3, |·| = a/√3.
    const Vec2 f1 = (model.a1_nm + model.a2_nm) / 3.0;
    const Vec2 f2 = (2.0 * model.a1_nm - model.a2_nm) / 3.0;
    const LatticeEstimate fine =
        EstimateLattice(s.candidates, s.cell_px, LatticeOptions{});
    CAPTURE(fine.status.message());
    REQUIRE(fine.status.ok());
    CAPTURE(fine.b1_px.transpose());
    CAPTURE(fine.b2_px.transpose());
    CHECK(ShellMatches(Shell(s.scan, f1, f2), fine, 0.01));
    CHECK(fine.b1_px.norm() ==
          doctest::Approx(1.25 * s.cell_px / std::sqrt(3.0)).epsilon(0.01));

    // Registered on the finer lattice every candidate pairs.
    const std::vector<Candidate> voted =
        VoteFilter(s.candidates, fine, LatticeOptions{});
    const RegisterResult reg = RegisterLattice(
        voted, fine, model, s.scan.frame.image.size(), RegisterOptions{});
    CAPTURE(reg.status.message());
    REQUIRE(reg.status.ok());
    CHECK(reg.pairs.size() > 0.9 * s.candidates.size());
    std::vector<int> i, j;
    std::vector<double> response;
    for (const HolePair& p : reg.pairs) {
      i.push_back(p.i);
      j.push_back(p.j);
      response.push_back(voted[p.candidate].response);
    }
    // The corner holes are exactly one coset of the finer lattice.
    int hole_coset = -1;
    bool one_coset = true;
    for (size_t k = 0; k < i.size(); ++k) {
      if (response[k] != 2.0) continue;
      if (hole_coset < 0) hole_coset = Coset(i[k], j[k]);
      one_coset &= Coset(i[k], j[k]) == hole_coset;
    }
    CHECK(one_coset);
    for (size_t k = 0; k < i.size(); ++k) {
      CHECK((response[k] == 2.0) == (Coset(i[k], j[k]) == hole_coset));
    }

    LatticeEstimate coarse;
    REQUIRE(DetectRootThreeSublattice(i, j, response, fine, coarse));
    CAPTURE(coarse.b1_px.transpose());
    CAPTURE(coarse.b2_px.transpose());
    CHECK(ShellMatches(Shell(s.scan, model.a1_nm, model.a2_nm), coarse, 0.01));
    CHECK(coarse.b1_px.norm() ==
          doctest::Approx(std::sqrt(3.0) * fine.b1_px.norm()).epsilon(1e-9));
    CHECK(Cross(coarse.b1_px, coarse.b2_px) < 0);
  }
}

// RegisterFrame's √3 branch re-votes all candidates and registers again on
// the coarser lattice. The corner holes and each set of half centres form
// three equally good coarse lattices; only the responses tell them apart.
// The registration must land on the corner holes (the dark coset).
//
// The three coarse lattices (holes, T1 centres, T2 centres) pair equally
// well; only the responses tell the holes apart. RegisterCornerHoles must
// end on the holes for every offset.
TEST_CASE(
    "after the √3 correction the re-registration pairs the corner holes") {
  const LatticeModel model = MakeSi7x7Model();
  for (const Vec2& offset : kOffsets) {
    CAPTURE(offset.transpose());
    const Scene s = MakeScene(offset);
    const cv::Size size = s.scan.frame.image.size();
    const LatticeEstimate fine =
        EstimateLattice(s.candidates, s.cell_px, LatticeOptions{});
    REQUIRE(fine.status.ok());
    const CornerHoleRegistration result =
        RegisterCornerHoles(s.candidates, fine, model, size, PipelineOptions{});
    REQUIRE(result.registration.status.ok());
    // The coarse lattice was adopted: √3 × the fine one.
    CHECK(result.lattice.b1_px.norm() ==
          doctest::Approx(std::sqrt(3.0) * fine.b1_px.norm()).epsilon(0.02));
    // Every pair is a true corner hole (candidates sit exactly on them).
    int holes = 0;
    for (const HolePair& p : result.registration.pairs) {
      for (const TruthCornerHole& t : s.scan.corner_holes) {
        if ((t.p_px - p.detected_px).norm() < 1e-9) {
          ++holes;
          break;
        }
      }
    }
    CHECK(holes == static_cast<int>(result.registration.pairs.size()));
    CHECK(holes > 10);
    // And H puts every paired model lattice point on a true corner hole
    // (on a half centre it would be a/√3 ≈ 26 px away).
    double worst = 0;
    for (const HolePair& p : result.registration.pairs) {
      double best = 1e9;
      for (const TruthCornerHole& t : s.scan.corner_holes) {
        best = std::min(
            best,
            (t.p_px - Apply(result.registration.image_from_model, p.model_nm))
                .norm());
      }
      worst = std::max(worst, best);
    }
    CHECK(worst < 0.1);
  }
}

}  // namespace
}  // namespace anchord
