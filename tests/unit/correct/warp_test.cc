// WarpToModel: the corrected frame shows model point (x0 + u·s, y0 − v·s)
// at column u, row v. Checked against a noise-free synthetic scan (corner
// holes must land on the model lattice) and against an analytic ramp.

#include "anchord/correct/warp.h"

#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace anchord {
namespace {

SyntheticScanOptions CleanOptions() {
  SyntheticScanOptions o;
  o.width_px = 256;
  o.height_px = 224;
  o.field_of_view_nm = 20;  // 0.078 nm/px, ≈ 34 px per cell
  o.rotation_deg = 23;
  o.scale_error_x = 0.12;
  o.scale_error_y = -0.1;
  o.shear = 0.1;
  o.perspective = 0.02;
  o.perspective_angle_deg = 40;
  o.offset_nm = Vec2(1.3, -0.7);
  o.noise = 0;
  o.blur_nm = 0.02;
  o.creep_px = 0;
  o.seed = 3;
  return o;
}

// Model point of output pixel (u, v) and back.
Vec2 ModelOf(const CorrectedFrame& c, const Vec2& uv) {
  return Vec2(c.x0_nm + uv.x() * c.pixel_nm, c.y0_nm - uv.y() * c.pixel_nm);
}
Vec2 OutputOf(const CorrectedFrame& c, const Vec2& m) {
  return Vec2((m.x() - c.x0_nm) / c.pixel_nm, (c.y0_nm - m.y()) / c.pixel_nm);
}

bool InsideRaw(const Vec2& p, cv::Size size, double margin) {
  return p.x() >= margin && p.y() >= margin &&
         p.x() <= size.width - 1 - margin && p.y() <= size.height - 1 - margin;
}

// Footprint of the raw frame (corner pixel centres) in the model plane.
std::vector<Vec2> Footprint(const Mat3& image_from_model, cv::Size size) {
  const Mat3 inv = image_from_model.inverse();
  const double w = size.width - 1, h = size.height - 1;
  return {Apply(inv, Vec2(0, 0)), Apply(inv, Vec2(w, 0)),
          Apply(inv, Vec2(w, h)), Apply(inv, Vec2(0, h))};
}

double PolygonArea(const std::vector<Vec2>& poly) {
  double a = 0;
  for (size_t k = 0; k < poly.size(); ++k) {
    a += Cross(poly[k], poly[(k + 1) % poly.size()]);
  }
  return 0.5 * std::abs(a);
}

TEST_CASE("CorrectOptions::Validate lists every violation") {
  CHECK(CorrectOptions{}.Validate().ok());
  CorrectOptions o;
  o.output_pixel_nm = -0.1;
  o.max_output_px = 8;
  const Status s = o.Validate();
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("correct.output_pixel_nm = -0.1") !=
        std::string::npos);
  CHECK(s.message().find("correct.max_output_px = 8") != std::string::npos);
  CHECK(std::count(s.message().begin(), s.message().end(), '\n') == 1);
}

TEST_CASE("corner holes of the corrected frame lie on the model lattice") {
  const SyntheticScan s = MakeSyntheticScan(CleanOptions());
  const double px_nm = s.frame.pixel_size_x_nm;
  const CorrectedFrame c =
      WarpToModel(s.frame.image, s.image_from_model, px_nm, CorrectOptions{});
  REQUIRE(c.status.ok());
  CHECK(c.pixel_nm == doctest::Approx(px_nm));  // default: raw pixel size
  const LatticeModel m = MakeSi7x7Model();
  const double cell_out = kSi7x7LatticeNm / c.pixel_nm;
  const int r = static_cast<int>(std::ceil(0.3 * cell_out));

  // Output pixel of the minimum within 0.3 cell of uv, or nullopt when the
  // window leaves the output or the raw frame.
  auto min_near = [&](const Vec2& model_pt, Vec2& uv, Vec2& at) {
    uv = OutputOf(c, model_pt);
    const Vec2 raw = Apply(s.image_from_model, model_pt);
    if (uv.x() < r + 1 || uv.y() < r + 1 || uv.x() > c.image.cols - r - 2 ||
        uv.y() > c.image.rows - r - 2) {
      return false;
    }
    // Inside the raw frame by more than the window: no NaN nearby.
    if (!InsideRaw(raw, s.frame.image.size(), 0.5 * cell_out)) return false;
    const int cu = static_cast<int>(std::lround(uv.x()));
    const int cv_ = static_cast<int>(std::lround(uv.y()));
    float best = std::numeric_limits<float>::infinity();
    for (int v = cv_ - r; v <= cv_ + r; ++v) {
      for (int u = cu - r; u <= cu + r; ++u) {
        if ((Vec2(u, v) - uv).norm() > r) continue;
        const float val = c.image(v, u);
        if (!std::isfinite(val)) return false;
        if (val < best) {
          best = val;
          at = Vec2(u, v);
        }
      }
    }
    return true;
  };
  int checked = 0, control = 0, control_hits = 0;
  for (int i = -20; i <= 20; ++i) {
    for (int j = -20; j <= 20; ++j) {
      CAPTURE(i);
      CAPTURE(j);
      Vec2 uv, at;
      if (min_near(m.ModelFromLattice(i, j), uv, at)) {
        CHECK((at - uv).norm() <= 1.0);
        ++checked;
      }
      // Control: half-way between two holes along a1 is no minimum, so
      // the test can tell a correct warp from a shifted one.
      if (min_near(m.ModelFromLattice(i + 0.5, j), uv, at)) {
        ++control;
        control_hits += (at - uv).norm() <= 1.0;
      }
    }
  }
  CHECK(checked >= 25);
  CHECK(control >= 25);
  CHECK(control_hits == 0);
}

TEST_CASE("output size and origin match the footprint") {
  const SyntheticScan s = MakeSyntheticScan(CleanOptions());
  const double px_nm = s.frame.pixel_size_x_nm;
  for (double out_nm : {0.0, 0.05, 0.2}) {
    CAPTURE(out_nm);
    CorrectOptions o;
    o.output_pixel_nm = out_nm;
    const CorrectedFrame c =
        WarpToModel(s.frame.image, s.image_from_model, px_nm, o);
    REQUIRE(c.status.ok());
    const double sz = out_nm > 0 ? out_nm : px_nm;
    CHECK(c.pixel_nm == doctest::Approx(sz));
    const auto fp = Footprint(s.image_from_model, s.frame.image.size());
    double xmin = 1e300, xmax = -1e300, ymin = 1e300, ymax = -1e300;
    for (const Vec2& p : fp) {
      xmin = std::min(xmin, p.x());
      xmax = std::max(xmax, p.x());
      ymin = std::min(ymin, p.y());
      ymax = std::max(ymax, p.y());
    }
    // Row 0 is the top (model y up): origin at (min x, max y).
    CHECK(c.x0_nm == doctest::Approx(xmin));
    CHECK(c.y0_nm == doctest::Approx(ymax));
    // The grid spans the bounding box to within one output pixel.
    CHECK((c.image.cols - 1) * sz <= xmax - xmin + 1e-9);
    CHECK(c.image.cols * sz > xmax - xmin);
    CHECK((c.image.rows - 1) * sz <= ymax - ymin + 1e-9);
    CHECK(c.image.rows * sz > ymax - ymin);
    // The finite pixels cover the raw frame's footprint (area in nm²).
    const int finite = cv::countNonZero(c.image == c.image);  // NaN != NaN
    const double area = PolygonArea(fp);
    CHECK(finite * sz * sz ==
          doctest::Approx(area).epsilon(0.03 + 4 * sz / std::sqrt(area)));
  }
}

TEST_CASE("pixels outside the raw frame are NaN, inside are finite") {
  const SyntheticScan s = MakeSyntheticScan(CleanOptions());
  const CorrectedFrame c =
      WarpToModel(s.frame.image, s.image_from_model, s.frame.pixel_size_x_nm,
                  CorrectOptions{});
  REQUIRE(c.status.ok());
  int nan = 0, finite = 0;
  for (int v = 0; v < c.image.rows; ++v) {
    for (int u = 0; u < c.image.cols; ++u) {
      const Vec2 raw = Apply(s.image_from_model, ModelOf(c, Vec2(u, v)));
      const float val = c.image(v, u);
      if (InsideRaw(raw, s.frame.image.size(), 1.0)) {
        CHECK(std::isfinite(val));
        ++finite;
      } else if (!InsideRaw(raw, s.frame.image.size(), -1.0)) {
        CHECK(std::isnan(val));
        ++nan;
      }
    }
  }
  // The distorted footprint is not axis-aligned: both kinds exist.
  CHECK(nan > 1000);
  CHECK(finite > 10000);
}

TEST_CASE(
    "a linear ramp is resampled exactly: corrected(u, v) = raw(H·model)") {
  // Bilinear interpolation reproduces a linear function, so every finite
  // corrected pixel must equal the ramp at its raw position (up to
  // OpenCV's 1/32-px coordinate quantisation).
  const SyntheticScan s = MakeSyntheticScan(CleanOptions());
  cv::Mat1f ramp(s.frame.image.size());
  const double gx = 0.5, gy = -0.25;
  for (int y = 0; y < ramp.rows; ++y) {
    for (int x = 0; x < ramp.cols; ++x) {
      ramp(y, x) = static_cast<float>(3 + gx * x + gy * y);
    }
  }
  const CorrectedFrame c = WarpToModel(
      ramp, s.image_from_model, s.frame.pixel_size_x_nm, CorrectOptions{});
  REQUIRE(c.status.ok());
  const double tol = (std::abs(gx) + std::abs(gy)) / 32.0 + 1e-3;
  double worst = 0;
  int n = 0;
  for (int v = 0; v < c.image.rows; ++v) {
    for (int u = 0; u < c.image.cols; ++u) {
      const Vec2 raw = Apply(s.image_from_model, ModelOf(c, Vec2(u, v)));
      if (!InsideRaw(raw, ramp.size(), 0.0)) continue;
      const double expect = 3 + gx * raw.x() + gy * raw.y();
      worst = std::max(worst, std::abs(c.image(v, u) - expect));
      ++n;
    }
  }
  CHECK(n > 10000);
  CHECK(worst < tol);
}

TEST_CASE("max_output_px exceeded: not ok, nothing rendered") {
  const SyntheticScan s = MakeSyntheticScan(CleanOptions());
  CorrectOptions o;
  o.max_output_px = 64;  // the 256 × 224 frame needs ~300 px
  const CorrectedFrame c = WarpToModel(s.frame.image, s.image_from_model,
                                       s.frame.pixel_size_x_nm, o);
  CHECK_FALSE(c.status.ok());
  CHECK(c.status.code() == StatusCode::kInvalidInput);
  CHECK(c.status.message().find("max_output_px") != std::string::npos);
  CHECK(c.image.empty());
  // A tiny output pixel blows the default limit too.
  CorrectOptions tiny;
  tiny.output_pixel_nm = 1e-4;
  CHECK_FALSE(WarpToModel(s.frame.image, s.image_from_model,
                          s.frame.pixel_size_x_nm, tiny)
                  .status.ok());
  // Coarser output pixels fit under the same 64 px limit.
  o.output_pixel_nm = 0.5;
  const CorrectedFrame coarse = WarpToModel(s.frame.image, s.image_from_model,
                                            s.frame.pixel_size_x_nm, o);
  CHECK(coarse.status.ok());
  CHECK(coarse.image.cols <= 64);
  CHECK(coarse.image.rows <= 64);
}

}  // namespace
}  // namespace anchord
