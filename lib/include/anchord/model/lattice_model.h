#pragma once

#include "anchord/util/geometry.h"

#include <string>
#include <vector>

namespace anchord {

// Which triangular half of the rhombic cell a basis site belongs to.
// T1 has vertices 0, a1, a2; T2 has vertices a1, a2, a1 + a2.
enum class Half { kT1 = 0, kT2 = 1 };
// Corner adatoms neighbour a corner hole; centre adatoms do not.
enum class SiteKind { kCorner = 0, kCenter = 1 };

const char* HalfName(Half half);       // "T1" | "T2"
const char* SiteKindName(SiteKind k);  // "corner" | "center"

// One site of the basis, in fractional coordinates of (a1, a2).
struct BasisSite {
  Vec2 frac;
  Half half = Half::kT1;
  SiteKind kind = SiteKind::kCorner;
  // Position 0…5 in the half's six-element code: corner sites first,
  // counter-clockwise, then centre sites counter-clockwise.
  int code_index = 0;
};

// A 2-D Bravais lattice (anchor points at i·a1 + j·a2, model nm) with a
// basis of sites per cell. Model coordinates: nm in the sample plane,
// origin at an anchor point, x along a1, y up (a2 counter-clockwise).
struct LatticeModel {
  std::string name;
  Vec2 a1_nm = Vec2::Zero();
  Vec2 a2_nm = Vec2::Zero();
  std::vector<BasisSite> sites;

  // Model nm of the point with lattice (fractional) coordinates (u, v).
  Vec2 ModelFromLattice(double u, double v) const {
    return u * a1_nm + v * a2_nm;
  }
  // Lattice coordinates (u, v) of a model point.
  Vec2 LatticeFromModel(const Vec2& m) const;
  // Length of a1, nm.
  double lattice_constant_nm() const { return a1_nm.norm(); }

  // Inclusive range of cell indices (i, j) whose cells cover the model
  // rectangle [lo, hi], widened by one cell on every side. Empty (the
  // default range) when a corner is not finite or lies beyond ±2^30
  // cells.
  struct CellRange {
    int i_min = 0, i_max = -1, j_min = 0, j_max = -1;
  };
  CellRange CellsCovering(const Vec2& lo_nm, const Vec2& hi_nm) const;
};

// Lattice constant of the Si(111)-7×7 cell: 7 × 0.384 nm.
inline constexpr double kSi7x7LatticeNm = 2.688;
// Adatom–adatom spacing within a half: 2 × 0.384 nm.
inline constexpr double kSi7x7AdatomSpacingNm = 0.768;

// The Si(111)-7×7 DAS model: corner holes on the lattice points, 12
// adatoms per cell (6 per half), 3 corner + 3 centre per half.
LatticeModel MakeSi7x7Model();

}  // namespace anchord
