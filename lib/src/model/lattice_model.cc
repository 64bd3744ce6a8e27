#include "anchord/model/lattice_model.h"

#include "anchord/util/check.h"

#include <algorithm>
#include <cmath>

namespace anchord {

const char* HalfName(Half half) { return half == Half::kT1 ? "T1" : "T2"; }

const char* SiteKindName(SiteKind k) {
  return k == SiteKind::kCorner ? "corner" : "center";
}

Vec2 LatticeModel::LatticeFromModel(const Vec2& m) const {
  Mat2 basis;
  basis.col(0) = a1_nm;
  basis.col(1) = a2_nm;
  ANCHORD_CHECK(std::abs(basis.determinant()) > 1e-12) << "degenerate basis";
  return basis.inverse() * m;
}

LatticeModel::CellRange LatticeModel::CellsCovering(const Vec2& lo_nm,
                                                    const Vec2& hi_nm) const {
  constexpr int kLimit = 1 << 30;
  CellRange r{kLimit, -kLimit, kLimit, -kLimit};
  for (const Vec2& m :
       {lo_nm, hi_nm, Vec2(lo_nm.x(), hi_nm.y()), Vec2(hi_nm.x(), lo_nm.y())}) {
    const Vec2 f = LatticeFromModel(m);
    // Within ±2^30 (NaN fails): the casts and the ±1 below stay in int.
    if (!(std::abs(f.x()) < kLimit && std::abs(f.y()) < kLimit)) {
      return CellRange{};
    }
    r.i_min = std::min(r.i_min, static_cast<int>(std::floor(f.x())) - 1);
    r.i_max = std::max(r.i_max, static_cast<int>(std::ceil(f.x())) + 1);
    r.j_min = std::min(r.j_min, static_cast<int>(std::floor(f.y())) - 1);
    r.j_max = std::max(r.j_max, static_cast<int>(std::ceil(f.y())) + 1);
  }
  return r;
}

LatticeModel MakeSi7x7Model() {
  LatticeModel m;
  m.name = "Si(111)-7x7";
  const double a = kSi7x7LatticeNm;
  m.a1_nm = Vec2(a, 0.0);
  m.a2_nm = Vec2(0.5 * a, 0.5 * std::sqrt(3.0) * a);
  // Fractional positions ×7. Order within a half: corner adatoms
  // counter-clockwise, then centre adatoms counter-clockwise. T2 is the
  // point reflection of T1 through the cell centre, (u, v) → (7−u, 7−v),
  // which keeps the counter-clockwise order.
  struct Entry {
    int u, v;
    SiteKind kind;
  };
  const Entry t1[6] = {{1, 1, SiteKind::kCorner}, {5, 1, SiteKind::kCorner},
                       {1, 5, SiteKind::kCorner}, {3, 1, SiteKind::kCenter},
                       {3, 3, SiteKind::kCenter}, {1, 3, SiteKind::kCenter}};
  for (int half = 0; half < 2; ++half) {
    for (int k = 0; k < 6; ++k) {
      BasisSite s;
      const int u = half == 0 ? t1[k].u : 7 - t1[k].u;
      const int v = half == 0 ? t1[k].v : 7 - t1[k].v;
      s.frac = Vec2(u / 7.0, v / 7.0);
      s.half = half == 0 ? Half::kT1 : Half::kT2;
      s.kind = t1[k].kind;
      s.code_index = k;
      m.sites.push_back(s);
    }
  }
  return m;
}

}  // namespace anchord
