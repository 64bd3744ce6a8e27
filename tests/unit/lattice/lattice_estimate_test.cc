// Lattice estimate and vote filter on ground-truth corner holes mixed with
// random outliers; expectations come from the true mapping's Jacobian.

#include "anchord/lattice/lattice_estimate.h"

#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace anchord {
namespace {

SyntheticScanOptions FrameOptions(double rotation_deg,
                                  double ex,
                                  double ey,
                                  double shear) {
  SyntheticScanOptions o;
  o.width_px = 320;
  o.height_px = 320;
  o.field_of_view_nm = 30;  // ≈ 29 px per nominal cell
  o.rotation_deg = rotation_deg;
  o.scale_error_x = ex;
  o.scale_error_y = ey;
  o.shear = shear;
  o.noise = 0;
  o.seed = 11;
  return o;
}

double NominalCellPx(const SyntheticScan& s) {
  return kSi7x7LatticeNm / s.frame.pixel_size_x_nm;
}

// The true first shell ±J·a1, ±J·a2, ±J·(a2 − a1) in pixels.
std::array<Vec2, 6> TrueShell(const SyntheticScan& s) {
  const LatticeModel m = MakeSi7x7Model();
  const Mat2 j = Jacobian(s.image_from_model, Vec2::Zero());
  const Vec2 b1 = j * m.a1_nm, b2 = j * m.a2_nm;
  return {b1, -b1, b2, -b2, Vec2(b2 - b1), Vec2(b1 - b2)};
}

std::array<Vec2, 6> EstimatedShell(const LatticeEstimate& e) {
  const Vec2 b1 = e.b1_px, b2 = e.b2_px;
  return {b1, -b1, b2, -b2, Vec2(b2 - b1), Vec2(b1 - b2)};
}

// Every true shell vector has an estimated one within `rel` of its length,
// one-to-one.
bool ShellsMatch(const std::array<Vec2, 6>& truth,
                 const std::array<Vec2, 6>& est,
                 double rel) {
  std::array<bool, 6> used{};
  for (const Vec2& t : truth) {
    int found = -1;
    for (int k = 0; k < 6; ++k) {
      if (!used[k] && (est[k] - t).norm() < rel * t.norm()) {
        found = k;
        break;
      }
    }
    if (found < 0) return false;
    used[found] = true;
  }
  return true;
}

struct PointSet {
  std::vector<Candidate> candidates;
  std::vector<bool> is_true;
};

// True corner holes plus `outlier_fraction` × as many uniform random
// points, shuffled; responses random so order carries no information.
PointSet HolesWithOutliers(const SyntheticScan& s,
                           double outlier_fraction,
                           uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> ux(0, s.frame.image.cols - 1);
  std::uniform_real_distribution<double> uy(0, s.frame.image.rows - 1);
  std::uniform_real_distribution<double> ur(0.5, 3.0);
  std::vector<std::pair<Candidate, bool>> all;
  for (const TruthCornerHole& h : s.corner_holes) {
    all.push_back({{h.p_px, ur(rng)}, true});
  }
  const int n_out =
      static_cast<int>(std::lround(outlier_fraction * s.corner_holes.size()));
  for (int k = 0; k < n_out; ++k) {
    all.push_back({{Vec2(ux(rng), uy(rng)), ur(rng)}, false});
  }
  std::shuffle(all.begin(), all.end(), rng);
  PointSet ps;
  for (const auto& [c, t] : all) {
    ps.candidates.push_back(c);
    ps.is_true.push_back(t);
  }
  return ps;
}

double NearestTrueHole(const SyntheticScan& s, const Vec2& p) {
  double best = std::numeric_limits<double>::infinity();
  for (const TruthCornerHole& h : s.corner_holes) {
    best = std::min(best, (h.p_px - p).norm());
  }
  return best;
}

TEST_CASE("LatticeOptions::Validate lists every violation") {
  CHECK(LatticeOptions{}.Validate().ok());
  LatticeOptions o;
  o.min_scale_ratio = 1.2;
  o.vote_tolerance = 0.5;
  o.min_support_fraction = 0;
  const Status s = o.Validate();
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(s.message().find("lattice.min_scale_ratio = 1.2") != std::string::npos);
  CHECK(s.message().find("lattice.vote_tolerance = 0.5") != std::string::npos);
  CHECK(s.message().find("lattice.min_support_fraction = 0") !=
        std::string::npos);
  CHECK(std::count(s.message().begin(), s.message().end(), '\n') == 2);
}

TEST_CASE(
    "EstimateLattice recovers the true lattice from holes + 30 % outliers") {
  struct Case {
    const char* name;
    double rot, ex, ey, shear;
  };
  const Case cases[] = {
      {"nominal", 0, 0, 0, 0},
      {"rotated 37°", 37, 0.05, 0.05, 0},
      {"rotated -100°", -100, -0.1, 0.1, 0.05},
      {"anisotropic 25 % + shear 0.2", 12, 0.25, 0.0, 0.2},
      {"anisotropic 25 % + shear -0.2", -48, -0.05, 0.2, -0.2},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.name));
    const SyntheticScan s =
        MakeSyntheticScan(FrameOptions(c.rot, c.ex, c.ey, c.shear));
    const auto truth = TrueShell(s);
    // Sanity: the three shell directions are the shortest lattice vectors
    // (otherwise "first shell" would be ill-defined for this distortion).
    const double longest =
        std::max({truth[0].norm(), truth[2].norm(), truth[4].norm()});
    REQUIRE(longest < (truth[0] + truth[2]).norm());
    REQUIRE(longest < (truth[0] - truth[4]).norm());

    for (uint64_t seed : {1u, 2u, 3u}) {
      CAPTURE(seed);
      const PointSet ps = HolesWithOutliers(s, 0.3, seed);
      const LatticeEstimate e =
          EstimateLattice(ps.candidates, NominalCellPx(s), LatticeOptions{});
      CAPTURE(e.status.message());
      REQUIRE(e.status.ok());
      CAPTURE(e.b1_px.transpose());
      CAPTURE(e.b2_px.transpose());
      CAPTURE(truth[0].transpose());
      CAPTURE(truth[2].transpose());
      CHECK(ShellsMatch(truth, EstimatedShell(e), 0.03));
      // Convention: a2 counter-clockwise from a1 on screen (y down).
      CHECK(Cross(e.b1_px, e.b2_px) < 0);
      // The true mapping has the same orientation (a flip to y-down).
      CHECK(Cross(truth[0], truth[2]) < 0);
      CHECK(e.support > static_cast<int>(s.corner_holes.size()));
    }
  }
}

TEST_CASE("EstimateLattice on exact points is accurate to well under 1 %") {
  const SyntheticScan s = MakeSyntheticScan(FrameOptions(21, 0.15, -0.1, 0.1));
  std::vector<Candidate> c;
  for (const TruthCornerHole& h : s.corner_holes) c.push_back({h.p_px, 1.0});
  const LatticeEstimate e =
      EstimateLattice(c, NominalCellPx(s), LatticeOptions{});
  REQUIRE(e.status.ok());
  CHECK(ShellsMatch(TrueShell(s), EstimatedShell(e), 0.002));
}

TEST_CASE("EstimateLattice on pure random points: kNoLattice with a reason") {
  for (uint64_t seed : {1u, 2u, 3u, 4u}) {
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0, 319);
    std::vector<Candidate> c;
    for (int k = 0; k < 150; ++k) c.push_back({Vec2(u(rng), u(rng)), 1.0});
    const LatticeEstimate e = EstimateLattice(c, 28.7, LatticeOptions{});
    CHECK(e.status.code() == StatusCode::kNoLattice);
    CHECK(e.status.message().find("lattice") != std::string::npos);
  }
}

TEST_CASE("EstimateLattice with too few points: kNoLattice") {
  const std::vector<Candidate> none;
  CHECK(EstimateLattice(none, 28.7, LatticeOptions{}).status.code() ==
        StatusCode::kNoLattice);
  const std::vector<Candidate> two = {{Vec2(0, 0), 1}, {Vec2(28.7, 0), 1}};
  CHECK(EstimateLattice(two, 28.7, LatticeOptions{}).status.code() ==
        StatusCode::kNoLattice);
}

TEST_CASE("EstimateLattice rejects a lattice far from the prior scale") {
  // A perfect lattice with twice the prior spacing: ratio 2 > 1.6.
  const SyntheticScan s = MakeSyntheticScan(FrameOptions(5, 0, 0, 0));
  std::vector<Candidate> c;
  for (const TruthCornerHole& h : s.corner_holes) c.push_back({h.p_px, 1.0});
  const LatticeEstimate e =
      EstimateLattice(c, 0.5 * NominalCellPx(s), LatticeOptions{});
  CHECK(e.status.code() == StatusCode::kNoLattice);
  // Accepted once the scale window allows it.
  LatticeOptions wide;
  wide.max_scale_ratio = 2.5;
  CHECK(EstimateLattice(c, 0.5 * NominalCellPx(s), wide).status.ok());
}

TEST_CASE("VoteFilter keeps true holes and drops interior outliers") {
  for (double shear : {0.0, 0.2}) {
    CAPTURE(shear);
    const SyntheticScan s =
        MakeSyntheticScan(FrameOptions(29, 0.25, 0.0, shear));
    const double cell =
        kSi7x7LatticeNm / s.frame.pixel_size_x_nm;  // nominal, px
    for (uint64_t seed : {4u, 5u}) {
      CAPTURE(seed);
      const PointSet ps = HolesWithOutliers(s, 0.3, seed);
      const LatticeEstimate e =
          EstimateLattice(ps.candidates, cell, LatticeOptions{});
      REQUIRE(e.status.ok());
      const std::vector<Candidate> kept =
          VoteFilter(ps.candidates, e, LatticeOptions{});

      // Kept candidates are a subsequence of the input (input order).
      size_t k = 0;
      std::vector<bool> was_kept(ps.candidates.size(), false);
      for (size_t i = 0; i < ps.candidates.size() && k < kept.size(); ++i) {
        if ((ps.candidates[i].p_px - kept[k].p_px).norm() == 0.0) {
          was_kept[i] = true;
          ++k;
        }
      }
      REQUIRE(k == kept.size());

      // "Interior outliers": farther than 0.3 cell from any true hole.
      const double short_cell = std::min(
          {e.b1_px.norm(), e.b2_px.norm(), (e.b2_px - e.b1_px).norm()});
      int true_n = 0, true_kept = 0, out_n = 0, out_dropped = 0;
      for (size_t i = 0; i < ps.candidates.size(); ++i) {
        if (ps.is_true[i]) {
          ++true_n;
          true_kept += was_kept[i];
        } else if (NearestTrueHole(s, ps.candidates[i].p_px) >
                   0.3 * short_cell) {
          ++out_n;
          out_dropped += !was_kept[i];
        }
      }
      REQUIRE(out_n >= 10);
      MESSAGE("shear " << shear << " seed " << seed << ": kept " << true_kept
                       << "/" << true_n << " true, dropped " << out_dropped
                       << "/" << out_n << " interior outliers");
      CHECK(true_kept >= 0.95 * true_n);
      CHECK(out_dropped >= 0.8 * out_n);
    }
  }
}

TEST_CASE("VoteFilter scores: lattice neighbours +1, others -1") {
  // Hand-made: a 5 × 5 square-ish lattice with b1 = (20, 0), b2 = (10, -17)
  // (Cross < 0), plus one point at a cell centre (all its neighbours are
  // off-lattice: dropped) and one isolated far point (no neighbours:
  // score 0, kept).
  LatticeEstimate e;
  e.b1_px = Vec2(20, 0);
  e.b2_px = Vec2(10, -17);
  std::vector<Candidate> c;
  for (int i = 0; i < 5; ++i) {
    for (int j = 0; j < 5; ++j) {
      c.push_back({Vec2(100, 100) + i * e.b1_px + j * e.b2_px, 1});
    }
  }
  const Vec2 centre = Vec2(100, 100) + 2.33 * e.b1_px + 1.33 * e.b2_px;
  c.push_back({centre, 1});
  c.push_back({Vec2(1000, 1000), 1});
  const auto kept = VoteFilter(c, e, LatticeOptions{});
  bool centre_kept = false, far_kept = false;
  int lattice_kept = 0;
  for (const Candidate& k : kept) {
    if ((k.p_px - centre).norm() < 1e-9)
      centre_kept = true;
    else if ((k.p_px - Vec2(1000, 1000)).norm() < 1e-9)
      far_kept = true;
    else
      ++lattice_kept;
  }
  CHECK_FALSE(centre_kept);
  CHECK(far_kept);
  // Lattice points near the intruder lose 1 but keep >= 2 lattice
  // neighbours even at the corners: all 25 stay.
  CHECK(lattice_kept == 25);
}

}  // namespace
}  // namespace anchord
