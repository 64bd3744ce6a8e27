#include "track/session_state.h"

#include "anchord/util/check.h"
#include "anchord/util/checked_round.h"

#include <climits>
#include <cmath>
#include <cstdlib>
#include <optional>

namespace anchord::internal {
namespace {

constexpr double kPi = 3.14159265358979323846;

// The basis site nearest to model point m (sites are 0.768 nm apart; a
// symmetry image lands within rounding of one).
bool NearestSite(const LatticeModel& model, const Vec2& m, SiteKey* key) {
  const Vec2 f = model.LatticeFromModel(m);
  const std::optional<int> fi = FloorToInt(f.x()), fj = FloorToInt(f.y());
  // Within a cell of the int range, i0 ± 1 would overflow.
  if (!fi || !fj || std::abs(static_cast<int64_t>(*fi)) >= INT_MAX - 1 ||
      std::abs(static_cast<int64_t>(*fj)) >= INT_MAX - 1) {
    return false;
  }
  const int i0 = *fi, j0 = *fj;
  double best = 0.05 * 0.05;
  bool found = false;
  for (int i = i0 - 1; i <= i0 + 1; ++i) {
    for (int j = j0 - 1; j <= j0 + 1; ++j) {
      for (size_t k = 0; k < model.sites.size(); ++k) {
        const Vec2 p = model.ModelFromLattice(i + model.sites[k].frac.x(),
                                              j + model.sites[k].frac.y());
        const double d2 = (p - m).squaredNorm();
        if (d2 < best) {
          best = d2;
          *key = {i, j, static_cast<int>(k)};
          found = true;
        }
      }
    }
  }
  return found;
}

}  // namespace

Mat2 Rotation(int steps) {
  const double a = steps * kPi / 3.0;
  Mat2 r;
  r << std::cos(a), -std::sin(a), std::sin(a), std::cos(a);
  return r;
}

LatticeSymmetry MakeSymmetry(const LatticeModel& model, int steps) {
  LatticeSymmetry s;
  const Mat2 r = Rotation(steps);
  for (int c = 0; c < 2; ++c) {
    const Vec2 v = r * (c == 0 ? model.a1_nm : model.a2_nm);
    const Vec2 f = model.LatticeFromModel(v);
    const std::optional<int> x = RoundToInt(f.x()), y = RoundToInt(f.y());
    ANCHORD_CHECK(x && y && std::abs(*x) <= 2 && std::abs(*y) <= 2)
        << "a 60° turn of a lattice vector is not a lattice vector";
    s.cell_map(0, c) = *x;
    s.cell_map(1, c) = *y;
  }
  for (const BasisSite& site : model.sites) {
    SiteKey key;
    const bool ok = NearestSite(
        model, r * model.ModelFromLattice(site.frac.x(), site.frac.y()), &key);
    ANCHORD_CHECK(ok) << "the model basis is not symmetric under 60° turns";
    s.cell_shift.emplace_back(key.i, key.j);
    s.site_map.push_back(key.site);
  }
  return s;
}

uint16_t CellState::VacantMask() const {
  uint16_t m = 0;
  for (int k = 0; k < kSitesPerCell; ++k) {
    if (vacant[k] > present[k]) m |= static_cast<uint16_t>(1u << k);
  }
  return m;
}

uint16_t CellState::PresentMask() const {
  uint16_t m = 0;
  for (int k = 0; k < kSitesPerCell; ++k) {
    if (present[k] > vacant[k]) m |= static_cast<uint16_t>(1u << k);
  }
  return m;
}

}  // namespace anchord::internal
