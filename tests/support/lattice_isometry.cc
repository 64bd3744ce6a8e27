#include "support/lattice_isometry.h"

#include "anchord/model/lattice_model.h"

#include <cmath>

namespace anchord::testing {

LatticeIsometry FitLatticeIsometry(
    const std::vector<std::pair<Vec2, Vec2>>& from_to) {
  double best = 1e300;
  LatticeIsometry iso;
  for (int step = 0; step < 6; ++step) {
    const double a = step * 3.14159265358979323846 / 3.0;
    Mat2 rot;
    rot << std::cos(a), -std::sin(a), std::sin(a), std::cos(a);
    Vec2 mean = Vec2::Zero();
    for (const auto& [from, to] : from_to) mean += to - rot * from;
    mean /= static_cast<double>(from_to.size());
    double err = 0;
    for (const auto& [from, to] : from_to) {
      err += (to - rot * from - mean).squaredNorm();
    }
    if (err < best) {
      best = err;
      iso.rotation = rot;
      iso.translation = mean;
    }
  }
  const LatticeModel model = MakeSi7x7Model();
  const Vec2 f = model.LatticeFromModel(iso.translation);
  iso.translation =
      model.ModelFromLattice(std::round(f.x()), std::round(f.y()));
  return iso;
}

}  // namespace anchord::testing
