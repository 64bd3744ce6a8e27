#include "anchord/quality/metrics.h"

#include "anchord/util/check.h"

#include <cmath>

namespace anchord {
namespace {
constexpr double kDegPerRad = 180.0 / 3.14159265358979323846;
}

double Oks(double distance, double kappa) {
  return std::exp(-distance * distance / (2.0 * kappa * kappa));
}

double MeanAbsoluteError(const std::vector<Vec2>& estimated,
                         const std::vector<Vec2>& truth) {
  ANCHORD_CHECK(estimated.size() == truth.size());
  if (truth.empty()) return 0.0;
  double sum = 0;
  for (size_t k = 0; k < truth.size(); ++k) {
    sum += (estimated[k] - truth[k]).norm();
  }
  return sum / truth.size();
}

double OksRecall(const std::vector<Vec2>& estimated,
                 const std::vector<Vec2>& truth,
                 double kappa,
                 double threshold) {
  ANCHORD_CHECK(estimated.size() == truth.size());
  if (truth.empty()) return 0.0;
  int hits = 0;
  for (size_t k = 0; k < truth.size(); ++k) {
    hits += Oks((estimated[k] - truth[k]).norm(), kappa) >= threshold;
  }
  return static_cast<double>(hits) / truth.size();
}

double Rms(const std::vector<Vec2>& residuals) {
  if (residuals.empty()) return 0.0;
  double sum = 0;
  for (const Vec2& r : residuals) sum += r.squaredNorm();
  return std::sqrt(sum / residuals.size());
}

Calibration CalibrationFromHomography(const Mat3& image_from_model,
                                      const Vec2& at_px,
                                      double pixel_size_x_nm,
                                      double pixel_size_y_nm) {
  // K maps a true sample displacement (model nm, y up) to the displacement
  // the scanner reports (nominal nm, y up): K = flip · N · J.
  const Mat2 j =
      Jacobian(image_from_model, Apply(image_from_model.inverse(), at_px));
  Mat2 n = Mat2::Zero();
  n(0, 0) = pixel_size_x_nm;
  n(1, 1) = -pixel_size_y_nm;  // image rows grow downwards
  const Mat2 k = n * j;
  const Mat2 true_from_nominal = k.inverse();
  const Vec2 ex = true_from_nominal.col(0);  // true nm per nominal x nm
  const Vec2 ey = true_from_nominal.col(1);
  Calibration c;
  c.scale_x = ex.norm();
  c.scale_y = ey.norm();
  const double angle =
      std::acos(std::clamp(ex.dot(ey) / (c.scale_x * c.scale_y), -1.0, 1.0)) *
      kDegPerRad;
  c.nonorthogonality_deg = angle - 90.0;
  const Vec2 a1 = k.col(0);  // the model x axis (lattice a1) as scanned
  c.rotation_deg = std::atan2(a1.y(), a1.x()) * kDegPerRad;
  return c;
}

LocalLattice LocalLatticeAtCentre(const Mat3& image_from_model,
                                  const LatticeModel& model,
                                  int width,
                                  int height) {
  LocalLattice out;
  // Pixel centres sit at integers (README.md, Conventions), so the centre
  // of a frame of width w lies at (w − 1) / 2.
  out.centre_px = Vec2(0.5 * (width - 1), 0.5 * (height - 1));
  const Vec2 centre_model = Apply(image_from_model.inverse(), out.centre_px);
  const Mat2 jacobian = Jacobian(image_from_model, centre_model);
  out.a1_px = jacobian * model.a1_nm;
  out.a2_px = jacobian * model.a2_nm;
  return out;
}

}  // namespace anchord
