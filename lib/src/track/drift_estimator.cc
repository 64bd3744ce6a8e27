#include "anchord/track/drift_estimator.h"

#include "anchord/util/validation.h"

#include "util/robust.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace anchord {
namespace {

struct Design {
  std::vector<Eigen::Vector2d> x;  // demeaned regressors (t, g) per point
  std::vector<Vec2> y;             // demeaned positions per point
  std::vector<int> frame;
  int columns = 1;
};

double CreepShape(double t_s, double change_s, double tau_s) {
  if (!std::isfinite(change_s) || tau_s <= 0 || t_s < change_s) return 0.0;
  return std::exp(-(t_s - change_s) / tau_s);
}

// Points of keys seen in at least two frames, demeaned per key (the
// per-key scanner position is the fixed effect).
Design Demean(const std::vector<DriftPoint>& points,
              const std::vector<bool>& keep,
              double change_s,
              double tau_s,
              bool with_creep) {
  std::map<int64_t, std::vector<size_t>> by_key;
  for (size_t k = 0; k < points.size(); ++k) {
    if (keep[k]) by_key[points[k].key].push_back(k);
  }
  Design d;
  d.columns = with_creep ? 2 : 1;
  for (const auto& [key, members] : by_key) {
    std::set<int> frames;
    for (size_t k : members) frames.insert(points[k].frame);
    if (frames.size() < 2) continue;
    Eigen::Vector2d mean_x = Eigen::Vector2d::Zero();
    Vec2 mean_y = Vec2::Zero();
    for (size_t k : members) {
      mean_x += Eigen::Vector2d(points[k].t_s,
                                CreepShape(points[k].t_s, change_s, tau_s));
      mean_y += points[k].scanner_nm;
    }
    mean_x /= static_cast<double>(members.size());
    mean_y /= static_cast<double>(members.size());
    for (size_t k : members) {
      Eigen::Vector2d x(points[k].t_s,
                        CreepShape(points[k].t_s, change_s, tau_s));
      x -= mean_x;
      if (!with_creep) x[1] = 0;
      d.x.push_back(x);
      d.y.push_back(points[k].scanner_nm - mean_y);
      d.frame.push_back(points[k].frame);
    }
  }
  return d;
}

struct Solution {
  bool ok = false;
  Eigen::Matrix2d beta = Eigen::Matrix2d::Zero();   // rows: t, g; cols: x, y
  Eigen::Matrix2d bread = Eigen::Matrix2d::Zero();  // (XᵀX)⁻¹
};

Solution Solve(const Design& d) {
  Solution s;
  const int p = d.columns;
  Eigen::MatrixXd xtx = Eigen::MatrixXd::Zero(p, p);
  Eigen::MatrixXd xty = Eigen::MatrixXd::Zero(p, 2);
  for (size_t k = 0; k < d.x.size(); ++k) {
    const Eigen::VectorXd x = d.x[k].head(p);
    xtx += x * x.transpose();
    xty += x * d.y[k].transpose();
  }
  // Scale-free conditioning test: the correlation of the two columns.
  if (xtx(0, 0) <= 0) return s;
  if (p == 2) {
    const double r2 =
        xtx(0, 1) * xtx(0, 1) / std::max(1e-300, xtx(0, 0) * xtx(1, 1));
    if (xtx(1, 1) <= 0 || r2 > 0.999) return s;
  }
  const Eigen::MatrixXd inv = xtx.inverse();
  const Eigen::MatrixXd beta = inv * xty;
  s.beta.topRows(p) = beta;
  s.bread.topLeftCorner(p, p) = inv;
  s.ok = true;
  return s;
}

Vec2 Residual(const Design& d, const Solution& s, size_t k) {
  const int p = d.columns;
  return d.y[k] - (d.x[k].head(p).transpose() * s.beta.topRows(p)).transpose();
}

}  // namespace

Status DriftOptions::Validate() const {
  Violations v("track.drift");
  ANCHORD_OPTION_GT(v, window_s, 0.0);
  ANCHORD_OPTION_GE(v, max_frames, 2);
  ANCHORD_OPTION_GE(v, creep_tau_s, 0.0);
  ANCHORD_OPTION_GT(v, outlier_sigmas, 1.0);
  ANCHORD_OPTION_GT(v, position_sigma_nm, 0.0);
  return v.ToStatus();
}

Vec2 DriftFit::Displacement(double t_s) const {
  if (!valid) return Vec2::Zero();
  Vec2 d = velocity_nm_per_s * t_s;
  if (has_creep) {
    d += creep_amplitude_nm * CreepShape(t_s, creep_change_s, creep_tau_s);
  }
  return d;
}

Vec2 DriftFit::Rate(double t_s) const {
  if (!valid) return Vec2::Zero();
  Vec2 rate = velocity_nm_per_s;
  if (has_creep) {
    rate -= creep_amplitude_nm * CreepShape(t_s, creep_change_s, creep_tau_s) /
            creep_tau_s;
  }
  return rate;
}

DriftFit FitDrift(const std::vector<DriftPoint>& points,
                  double offset_change_s,
                  const DriftOptions& options) {
  DriftFit fit;
  std::vector<bool> keep(points.size(), true);
  // The creep term needs sightings both before the change (or early
  // after it) and well after it; it is tried first and dropped when the
  // data cannot separate it from the velocity.
  bool with_creep = options.creep_tau_s > 0 && std::isfinite(offset_change_s);
  Design design;
  Solution sol;
  for (int round = 0; round < 2; ++round) {
    design =
        Demean(points, keep, offset_change_s, options.creep_tau_s, with_creep);
    sol = design.x.empty() ? Solution{} : Solve(design);
    if (!sol.ok && with_creep) {
      with_creep = false;
      design =
          Demean(points, keep, offset_change_s, options.creep_tau_s, false);
      sol = design.x.empty() ? Solution{} : Solve(design);
    }
    if (!sol.ok) {
      fit.message = "no point seen in two frames at different times";
      return fit;
    }
    if (round == 1) break;
    // Robust scale of the residuals (MAD per axis), then one refit
    // without the outliers.
    std::vector<double> rx, ry;
    for (size_t k = 0; k < design.x.size(); ++k) {
      const Vec2 r = Residual(design, sol, k);
      rx.push_back(std::abs(r.x()));
      ry.push_back(std::abs(r.y()));
    }
    const double sx = std::max(1.4826 * internal::Median(rx), 1e-4);
    const double sy = std::max(1.4826 * internal::Median(ry), 1e-4);
    // Map design rows back to points: recompute residuals per point with
    // the same demeaning is implicit; mark by position within keys.
    std::map<int64_t, std::vector<size_t>> by_key;
    for (size_t k = 0; k < points.size(); ++k) {
      if (keep[k]) by_key[points[k].key].push_back(k);
    }
    size_t row = 0;
    bool dropped = false;
    for (const auto& [key, members] : by_key) {
      std::set<int> frames;
      for (size_t k : members) frames.insert(points[k].frame);
      if (frames.size() < 2) continue;
      for (size_t k : members) {
        const Vec2 r = Residual(design, sol, row++);
        if (std::abs(r.x()) > options.outlier_sigmas * sx ||
            std::abs(r.y()) > options.outlier_sigmas * sy) {
          keep[k] = false;
          dropped = true;
        }
      }
    }
    if (!dropped) break;
  }

  // Cluster-robust covariance, frames as clusters.
  const int p = design.columns;
  std::map<int, Eigen::MatrixXd> score;  // per frame: Xᵀe (p × 2)
  double sum_sq = 0;
  double t_min = 1e300, t_max = -1e300;
  std::set<int> frames;
  for (size_t k = 0; k < design.x.size(); ++k) {
    const Vec2 r = Residual(design, sol, k);
    sum_sq += r.squaredNorm();
    auto [it, fresh] =
        score.try_emplace(design.frame[k], Eigen::MatrixXd::Zero(p, 2));
    it->second += design.x[k].head(p) * r.transpose();
    frames.insert(design.frame[k]);
  }
  for (const DriftPoint& pt : points) {
    t_min = std::min(t_min, pt.t_s);
    t_max = std::max(t_max, pt.t_s);
  }
  const double clusters = static_cast<double>(score.size());
  Vec2 var = Vec2::Zero();
  const Eigen::MatrixXd bread = sol.bread.topLeftCorner(p, p);
  for (int axis = 0; axis < 2; ++axis) {
    Eigen::MatrixXd meat = Eigen::MatrixXd::Zero(p, p);
    for (const auto& [f, s] : score)
      meat += s.col(axis) * s.col(axis).transpose();
    const Eigen::MatrixXd cov = bread * meat * bread;
    var[axis] = cov(0, 0) * (clusters > 1 ? clusters / (clusters - 1) : 1.0);
    // A variance >= 0 in exact arithmetic: round-off in an ill-conditioned
    // bread (times spanning decades) can leave it a hair below 0, whose
    // square root would be NaN.
    if (var[axis] < 0) var[axis] = 0;
  }
  const double span = std::max(t_max - t_min, 1e-9);
  const double floor = std::sqrt(2.0) * options.position_sigma_nm / span;

  fit.valid = true;
  fit.velocity_nm_per_s = sol.beta.row(0).transpose();
  fit.velocity_sigma_nm_per_s = Vec2(std::max(std::sqrt(var.x()), floor),
                                     std::max(std::sqrt(var.y()), floor));
  fit.has_creep = with_creep;
  if (with_creep) {
    fit.creep_amplitude_nm = sol.beta.row(1).transpose();
    fit.creep_change_s = offset_change_s;
    fit.creep_tau_s = options.creep_tau_s;
  }
  fit.frames = static_cast<int>(frames.size());
  fit.residual_rms_nm =
      design.x.empty()
          ? 0
          : std::sqrt(sum_sq / static_cast<double>(design.x.size()));
  return fit;
}

}  // namespace anchord
