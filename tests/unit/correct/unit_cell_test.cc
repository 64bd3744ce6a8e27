// The frame's mean unit cell: folding a synthetic scan through its true H
// and rendering the cell back reproduces the lattice's height; what does
// not repeat with the lattice (line offsets, noise) stays out of the cell;
// bad input ends as a status.

#include "anchord/correct/unit_cell.h"

#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace anchord {
namespace {

SyntheticScanOptions Scan(double noise, double line_noise) {
  SyntheticScanOptions o;
  o.width_px = o.height_px = 256;
  o.field_of_view_nm = 20;
  o.rotation_deg = 1;
  o.noise = noise;
  o.line_noise = line_noise;
  o.seed = 31;
  return o;
}

// Pearson correlation of two images of the same size.
double Correlation(const cv::Mat1f& a, const cv::Mat1f& b) {
  cv::Scalar ma, sa, mb, sb;
  cv::meanStdDev(a, ma, sa);
  cv::meanStdDev(b, mb, sb);
  cv::Mat1f pa = a - ma[0], pb = b - mb[0];
  return cv::mean(pa.mul(pb))[0] / (sa[0] * sb[0]);
}

double RmsDifference(const cv::Mat1f& a, const cv::Mat1f& b) {
  cv::Mat1f d = a - b;
  d -= cv::mean(d)[0];
  return std::sqrt(cv::mean(d.mul(d))[0]);
}

TEST_CASE("the mean cell rendered back reproduces a clean frame") {
  const LatticeModel model = MakeSi7x7Model();
  const SyntheticScan scan = MakeSyntheticScan(Scan(0.0, 0.0));
  const UnitCellMean cell =
      FoldIntoUnitCell(scan.frame.image, {}, scan.image_from_model, model, 32);
  REQUIRE(cell.status.ok());
  CHECK(cell.bins == 32);
  CHECK(cell.filled_fraction == doctest::Approx(1.0));
  CHECK(std::abs(cv::mean(cell.mean)[0]) < 1e-5);
  const cv::Mat1f render = RenderUnitCell(cell, scan.frame.image.size(),
                                          scan.image_from_model, model);
  REQUIRE(render.size() == scan.frame.image.size());
  // The binning blurs the cell by a bin (0.08 nm here): the render
  // follows the frame closely but not exactly.
  CHECK(Correlation(render, scan.frame.image) > 0.97);
}

TEST_CASE("line offsets and noise stay out of the mean cell") {
  const LatticeModel model = MakeSi7x7Model();
  const SyntheticScan clean = MakeSyntheticScan(Scan(0.0, 0.0));
  const SyntheticScan noisy = MakeSyntheticScan(Scan(0.1, 0.3));
  const UnitCellMean a = FoldIntoUnitCell(clean.frame.image, {},
                                          clean.image_from_model, model, 32);
  const UnitCellMean b = FoldIntoUnitCell(noisy.frame.image, {},
                                          noisy.image_from_model, model, 32);
  REQUIRE(a.status.ok());
  REQUIRE(b.status.ok());
  cv::Scalar m, sd;
  cv::meanStdDev(a.mean, m, sd);
  // Line offsets of std 0.3 on single rows; over the ~64 pixels of a bin
  // from many rows they average to a few hundredths of the cell's spread.
  CHECK(RmsDifference(a.mean, b.mean) < 0.1 * sd[0]);
}

TEST_CASE("masked rows are not folded") {
  const LatticeModel model = MakeSi7x7Model();
  SyntheticScan scan = MakeSyntheticScan(Scan(0.0, 0.0));
  const UnitCellMean clean =
      FoldIntoUnitCell(scan.frame.image, {}, scan.image_from_model, model, 32);
  std::vector<bool> row_ok(scan.frame.image.rows, true);
  for (int y = 40; y < 60; ++y) {
    scan.frame.image.row(y).setTo(1e6);
    row_ok[y] = false;
  }
  const UnitCellMean masked = FoldIntoUnitCell(
      scan.frame.image, row_ok, scan.image_from_model, model, 32);
  REQUIRE(masked.status.ok());
  cv::Scalar m, sd;
  cv::meanStdDev(clean.mean, m, sd);
  CHECK(RmsDifference(clean.mean, masked.mean) < 0.05 * sd[0]);
  const UnitCellMean unmasked =
      FoldIntoUnitCell(scan.frame.image, {}, scan.image_from_model, model, 32);
  CHECK(RmsDifference(clean.mean, unmasked.mean) > sd[0]);
}

TEST_CASE("non-finite pixels are skipped and the cell is periodic") {
  const LatticeModel model = MakeSi7x7Model();
  SyntheticScan scan = MakeSyntheticScan(Scan(0.0, 0.0));
  for (int x = 0; x < scan.frame.image.cols; x += 3) {
    scan.frame.image(100, x) = std::numeric_limits<float>::quiet_NaN();
  }
  const UnitCellMean cell =
      FoldIntoUnitCell(scan.frame.image, {}, scan.image_from_model, model, 16);
  REQUIRE(cell.status.ok());
  CHECK(cv::checkRange(cell.mean));
  // Moving the model origin by whole cells (3 a1 − 2 a2) renders the same
  // image: the cell is periodic.
  Mat3 shift = Mat3::Identity();
  shift.topRightCorner<2, 1>() = 3 * model.a1_nm - 2 * model.a2_nm;
  const cv::Mat1f a = RenderUnitCell(cell, scan.frame.image.size(),
                                     scan.image_from_model, model);
  const cv::Mat1f b = RenderUnitCell(cell, scan.frame.image.size(),
                                     scan.image_from_model * shift, model);
  REQUIRE(a.size() == b.size());
  CHECK(cv::norm(a - b, cv::NORM_INF) < 1e-3 * cv::norm(a, cv::NORM_INF));
  CHECK(cv::norm(a, cv::NORM_INF) > 0);
}

TEST_CASE("bad input ends as a status") {
  const LatticeModel model = MakeSi7x7Model();
  const SyntheticScan scan = MakeSyntheticScan(Scan(0.05, 0.0));
  const Mat3& h = scan.image_from_model;
  CHECK(FoldIntoUnitCell(cv::Mat1f(), {}, h, model, 32).status.code() ==
        StatusCode::kInvalidInput);
  CHECK(FoldIntoUnitCell(scan.frame.image, {}, h, model, 3).status.code() ==
        StatusCode::kInvalidInput);
  CHECK(FoldIntoUnitCell(scan.frame.image, {}, h, model, 257).status.code() ==
        StatusCode::kInvalidInput);
  CHECK(FoldIntoUnitCell(cv::Mat1f(20, 20, 0.0f), {}, h, model, 32)
            .status.code() == StatusCode::kInvalidInput);
  CHECK(FoldIntoUnitCell(scan.frame.image, {}, Mat3::Zero(), model, 32)
            .status.code() == StatusCode::kInvalidInput);
  Mat3 nan = h;
  nan(0, 2) = std::numeric_limits<double>::quiet_NaN();
  CHECK(FoldIntoUnitCell(scan.frame.image, {}, nan, model, 32).status.code() ==
        StatusCode::kInvalidInput);
  cv::Mat1f all_nan(scan.frame.image.size(),
                    std::numeric_limits<float>::quiet_NaN());
  CHECK(FoldIntoUnitCell(all_nan, {}, h, model, 32).status.code() ==
        StatusCode::kInvalidInput);
  UnitCellMean failed;
  failed.status = Status::InvalidInput("x");
  CHECK(RenderUnitCell(failed, cv::Size(8, 8), h, model).empty());
}

}  // namespace
}  // namespace anchord
