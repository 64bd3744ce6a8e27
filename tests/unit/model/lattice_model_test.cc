// The Si(111)-7×7 model against the geometry of the DAS model: distances
// are derived from the 0.384 nm surface lattice constant, not copied from
// the implementation.

#include "anchord/model/lattice_model.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <vector>

namespace anchord {
namespace {

constexpr double kA0 = 0.384;  // Si(111) 1×1 surface lattice constant, nm

Vec2 SiteNm(const LatticeModel& m, const BasisSite& s) {
  return m.ModelFromLattice(s.frac.x(), s.frac.y());
}

// Distance from p to the nearest corner hole (lattice point).
double NearestHoleNm(const LatticeModel& m, const Vec2& p) {
  double best = std::numeric_limits<double>::infinity();
  for (int i = -2; i <= 2; ++i) {
    for (int j = -2; j <= 2; ++j) {
      best = std::min(best, (p - m.ModelFromLattice(i, j)).norm());
    }
  }
  return best;
}

std::vector<const BasisSite*> SitesOf(const LatticeModel& m, Half h) {
  std::vector<const BasisSite*> out;
  for (const BasisSite& s : m.sites) {
    if (s.half == h) out.push_back(&s);
  }
  return out;
}

TEST_CASE("lattice vectors: |a1| = |a2| = 7 × 0.384 nm, a2 at +60°") {
  const LatticeModel m = MakeSi7x7Model();
  CHECK(m.lattice_constant_nm() == doctest::Approx(7 * kA0).epsilon(1e-9));
  CHECK(m.a2_nm.norm() == doctest::Approx(7 * kA0).epsilon(1e-9));
  CHECK(m.a1_nm.y() == doctest::Approx(0.0));
  CHECK(m.a1_nm.x() > 0);
  const double angle =
      std::atan2(Cross(m.a1_nm, m.a2_nm), m.a1_nm.dot(m.a2_nm));
  CHECK(angle * 180 / M_PI == doctest::Approx(60.0));
  CHECK_FALSE(m.name.empty());
}

TEST_CASE("12 sites, 6 per half, 3 corner + 3 centre per half") {
  const LatticeModel m = MakeSi7x7Model();
  REQUIRE(m.sites.size() == 12);
  for (Half h : {Half::kT1, Half::kT2}) {
    CAPTURE(HalfName(h));
    const auto sites = SitesOf(m, h);
    REQUIRE(sites.size() == 6);
    int corner = 0, centre = 0;
    std::set<int> codes;
    for (const BasisSite* s : sites) {
      (s->kind == SiteKind::kCorner ? corner : centre)++;
      codes.insert(s->code_index);
    }
    CHECK(corner == 3);
    CHECK(centre == 3);
    // code_index is a permutation of 0…5, corner sites first.
    CHECK(codes == std::set<int>{0, 1, 2, 3, 4, 5});
    for (const BasisSite* s : sites) {
      CHECK((s->code_index < 3) == (s->kind == SiteKind::kCorner));
    }
  }
}

TEST_CASE("every site lies inside the cell and inside its own triangle") {
  const LatticeModel m = MakeSi7x7Model();
  for (const BasisSite& s : m.sites) {
    const double u = s.frac.x(), v = s.frac.y();
    CAPTURE(u);
    CAPTURE(v);
    CHECK(u > 0);
    CHECK(u < 1);
    CHECK(v > 0);
    CHECK(v < 1);
    // T1 is u + v < 1 (vertices 0, a1, a2); T2 is u + v > 1.
    if (s.half == Half::kT1) {
      CHECK(u + v < 1);
    } else {
      CHECK(u + v > 1);
    }
    // Adatoms sit on the 1×1 lattice: 7·frac is integral.
    CHECK(7 * u == doctest::Approx(std::round(7 * u)));
    CHECK(7 * v == doctest::Approx(std::round(7 * v)));
  }
}

TEST_CASE("corner adatoms are sqrt(3)·0.384 nm from a corner hole") {
  const LatticeModel m = MakeSi7x7Model();
  const double expect = std::sqrt(3.0) * kA0;  // 0.665 nm
  for (const BasisSite& s : m.sites) {
    const double d = NearestHoleNm(m, SiteNm(m, s));
    CAPTURE(s.frac.transpose());
    if (s.kind == SiteKind::kCorner) {
      CHECK(std::abs(d - expect) < 1e-3);
    } else {
      // Centre adatoms do not neighbour a corner hole: the nearest one is
      // sqrt(13)·0.384 nm away.
      CHECK(d > expect + 0.3);
    }
  }
}

TEST_CASE("adatom nearest-neighbour spacing within a half is 2 × 0.384 nm") {
  const LatticeModel m = MakeSi7x7Model();
  const double expect = 2 * kA0;  // 0.768 nm
  for (Half h : {Half::kT1, Half::kT2}) {
    const auto sites = SitesOf(m, h);
    for (const BasisSite* a : sites) {
      double nearest = std::numeric_limits<double>::infinity();
      int at_nn = 0;
      for (const BasisSite* b : sites) {
        if (a == b) continue;
        const double d = (SiteNm(m, *a) - SiteNm(m, *b)).norm();
        nearest = std::min(nearest, d);
        at_nn += std::abs(d - expect) < 1e-3;
      }
      CHECK(std::abs(nearest - expect) < 1e-3);
      // Corner adatoms have 2 neighbours in their half at 0.768 nm,
      // centre adatoms 4 (the half is a triangle of side 4·0.384 nm).
      CHECK(at_nn == (a->kind == SiteKind::kCorner ? 2 : 4));
    }
  }
}

TEST_CASE("T2 is the point reflection of T1 through the cell centre") {
  const LatticeModel m = MakeSi7x7Model();
  const auto t1 = SitesOf(m, Half::kT1);
  const auto t2 = SitesOf(m, Half::kT2);
  const Vec2 centre = m.ModelFromLattice(0.5, 0.5);
  for (const BasisSite* a : t1) {
    const Vec2 reflected = 2 * centre - SiteNm(m, *a);
    int matches = 0;
    for (const BasisSite* b : t2) {
      if ((SiteNm(m, *b) - reflected).norm() < 1e-9) {
        ++matches;
        CHECK(b->kind == a->kind);
        CHECK(b->code_index == a->code_index);
      }
    }
    CHECK(matches == 1);
  }
}

TEST_CASE("corner and centre sites are numbered counter-clockwise") {
  const LatticeModel m = MakeSi7x7Model();
  for (Half h : {Half::kT1, Half::kT2}) {
    for (SiteKind k : {SiteKind::kCorner, SiteKind::kCenter}) {
      CAPTURE(HalfName(h));
      CAPTURE(SiteKindName(k));
      std::vector<Vec2> ordered(3, Vec2::Zero());
      int seen = 0;
      for (const BasisSite& s : m.sites) {
        if (s.half != h || s.kind != k) continue;
        const int slot = s.code_index - (k == SiteKind::kCorner ? 0 : 3);
        REQUIRE(slot >= 0);
        REQUIRE(slot < 3);
        ordered[slot] = SiteNm(m, s);
        ++seen;
      }
      REQUIRE(seen == 3);
      // Signed area of the triangle in code order (model y up) > 0.
      const double area =
          0.5 * Cross(ordered[1] - ordered[0], ordered[2] - ordered[0]);
      CHECK(area > 0);
    }
  }
}

TEST_CASE("LatticeFromModel inverts ModelFromLattice") {
  const LatticeModel m = MakeSi7x7Model();
  for (const Vec2& uv : {Vec2(0, 0), Vec2(1, 0), Vec2(0, 1), Vec2(3.25, -2.5),
                         Vec2(-7.1, 0.4)}) {
    const Vec2 back = m.LatticeFromModel(m.ModelFromLattice(uv.x(), uv.y()));
    CHECK((back - uv).norm() < 1e-12);
  }
  // A concrete value: a1 + a2 is at (1.5 a, sqrt(3)/2 a).
  const Vec2 p = m.ModelFromLattice(1, 1);
  CHECK(p.x() == doctest::Approx(1.5 * kSi7x7LatticeNm));
  CHECK(p.y() == doctest::Approx(0.5 * std::sqrt(3.0) * kSi7x7LatticeNm));
}

TEST_CASE("CellsCovering: a non-finite or absurd rectangle covers nothing") {
  const LatticeModel m = MakeSi7x7Model();
  const LatticeModel::CellRange r = m.CellsCovering(Vec2(0, 0), Vec2(10, 10));
  CHECK(r.i_min <= r.i_max);
  CHECK(r.j_min <= r.j_max);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Vec2& hi : {Vec2(nan, 1.0), Vec2(1e300, 1.0), Vec2(1.0, 4e9)}) {
    const LatticeModel::CellRange e = m.CellsCovering(Vec2(0, 0), hi);
    CHECK(e.i_min > e.i_max);
    CHECK(e.j_min > e.j_max);
  }
}

TEST_CASE("names") {
  CHECK(std::string(HalfName(Half::kT1)) == "T1");
  CHECK(std::string(HalfName(Half::kT2)) == "T2");
  CHECK(std::string(SiteKindName(SiteKind::kCorner)) == "corner");
  CHECK(std::string(SiteKindName(SiteKind::kCenter)) == "center");
}

}  // namespace
}  // namespace anchord
