#include "anchord/correct/displacement_field.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace anchord {
namespace {

constexpr int kDi[6] = {1, -1, 0, 0, 1, -1};
constexpr int kDj[6] = {0, 0, 1, -1, -1, 1};

}  // namespace

DisplacementField::DisplacementField(const LatticeModel& model,
                                     const Mat3& image_from_model,
                                     const std::vector<HolePair>& pairs)
    : model_(model), image_from_model_(image_from_model) {
  if (pairs.empty()) return;
  int i1 = pairs[0].i, j1 = pairs[0].j;
  i0_ = i1;
  j0_ = j1;
  for (const HolePair& p : pairs) {
    i0_ = std::min(i0_, p.i);
    j0_ = std::min(j0_, p.j);
    i1 = std::max(i1, p.i);
    j1 = std::max(j1, p.j);
  }
  i0_ -= 2;
  j0_ -= 2;
  ni_ = i1 + 3 - i0_;
  nj_ = j1 + 3 - j0_;
  const auto at = [&](int i, int j) { return (i - i0_) * nj_ + (j - j0_); };
  std::vector<Vec2> raw(ni_ * nj_, Vec2::Zero());
  std::vector<char> have(ni_ * nj_, 0);
  for (const HolePair& p : pairs) {
    raw[at(p.i, p.j)] = p.residual_px;
    have[at(p.i, p.j)] = 1;
  }
  // Smooth: each paired node averages itself and its paired neighbours.
  node_.assign(ni_ * nj_, Vec2::Zero());
  std::vector<char> known(ni_ * nj_, 0);
  for (int i = i0_; i < i0_ + ni_; ++i) {
    for (int j = j0_; j < j0_ + nj_; ++j) {
      if (!have[at(i, j)]) continue;
      Vec2 sum = raw[at(i, j)];
      int n = 1;
      for (int k = 0; k < 6; ++k) {
        const int a = i + kDi[k], b = j + kDj[k];
        if (a < i0_ || b < j0_ || a >= i0_ + ni_ || b >= j0_ + nj_) continue;
        if (!have[at(a, b)]) continue;
        sum += raw[at(a, b)];
        ++n;
      }
      node_[at(i, j)] = sum / n;
      known[at(i, j)] = 1;
    }
  }
  // Fill the rest outward from known nodes, one ring per round.
  for (bool grew = true; grew;) {
    grew = false;
    std::vector<std::pair<int, Vec2>> add;
    for (int i = i0_; i < i0_ + ni_; ++i) {
      for (int j = j0_; j < j0_ + nj_; ++j) {
        if (known[at(i, j)]) continue;
        Vec2 sum = Vec2::Zero();
        int n = 0;
        for (int k = 0; k < 6; ++k) {
          const int a = i + kDi[k], b = j + kDj[k];
          if (a < i0_ || b < j0_ || a >= i0_ + ni_ || b >= j0_ + nj_) continue;
          if (!known[at(a, b)]) continue;
          sum += node_[at(a, b)];
          ++n;
        }
        if (n > 0) add.emplace_back(at(i, j), sum / n);
      }
    }
    for (const auto& [k, v] : add) {
      node_[k] = v;
      known[k] = 1;
      grew = true;
    }
  }
}

Vec2 DisplacementField::Node(int i, int j) const {
  if (node_.empty()) return Vec2::Zero();
  i = std::clamp(i, i0_, i0_ + ni_ - 1);
  j = std::clamp(j, j0_, j0_ + nj_ - 1);
  return node_[(i - i0_) * nj_ + (j - j0_)];
}

Vec2 DisplacementField::Residual(const Vec2& model_nm) const {
  const Vec2 raw = model_.LatticeFromModel(model_nm);
  if (!raw.allFinite()) {
    return Vec2::Constant(std::numeric_limits<double>::quiet_NaN());
  }
  // Node() clamps indices to the grid, so a point more than a cell beyond
  // it interpolates between the same edge nodes: clamping it to one cell
  // beyond changes nothing and keeps the casts in int.
  const Vec2 f(std::clamp(raw.x(), i0_ - 1.0, i0_ + ni_ + 1.0),
               std::clamp(raw.y(), j0_ - 1.0, j0_ + nj_ + 1.0));
  const int i = static_cast<int>(std::floor(f.x()));
  const int j = static_cast<int>(std::floor(f.y()));
  const double u = f.x() - i, v = f.y() - j;
  if (u + v <= 1.0) {  // T1: vertices (i, j), (i+1, j), (i, j+1)
    return (1 - u - v) * Node(i, j) + u * Node(i + 1, j) + v * Node(i, j + 1);
  }
  // T2: vertices (i+1, j+1), (i+1, j), (i, j+1)
  return (u + v - 1) * Node(i + 1, j + 1) + (1 - v) * Node(i + 1, j) +
         (1 - u) * Node(i, j + 1);
}

Vec2 DisplacementField::ImageFromModel(const Vec2& model_nm) const {
  return Apply(image_from_model_, model_nm) + Residual(model_nm);
}

}  // namespace anchord
