#include "anchord/pipeline/register_frame.h"

#include <doctest/doctest.h>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <limits>
#include <random>

namespace anchord {
namespace {

Frame MakeFrame(cv::Mat1f image, double px_nm) {
  Frame f;
  f.image = std::move(image);
  f.pixel_size_x_nm = px_nm;
  f.pixel_size_y_nm = px_nm;
  f.source = "test";
  return f;
}

cv::Mat1f Noise(int size, double sigma, uint64_t seed) {
  cv::Mat1f img(size, size);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> n(0.0f, static_cast<float>(sigma));
  for (int y = 0; y < size; ++y) {
    for (int x = 0; x < size; ++x) img(y, x) = n(rng);
  }
  return img;
}

FrameResult Run(const Frame& f) {
  return RegisterFrame(f, MakeSi7x7Model(), PipelineOptions());
}

TEST_CASE("white noise ends as no_lattice with a reason") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    const FrameResult r = Run(MakeFrame(Noise(256, 1.0, seed), 0.06));
    CAPTURE(seed);
    CHECK(r.status.code() == StatusCode::kNoLattice);
    CHECK(!r.status.message().empty());
  }
}

TEST_CASE("smoothed noise (blobs at the corner-hole scale) is no_lattice") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    cv::Mat1f img = Noise(384, 1.0, seed);
    cv::GaussianBlur(img, img, cv::Size(0, 0), 4.0);
    const FrameResult r = Run(MakeFrame(img, 0.06));
    CAPTURE(seed);
    CHECK(r.status.code() == StatusCode::kNoLattice);
  }
}

TEST_CASE("a flat terrace and a step edge are no_lattice") {
  cv::Mat1f flat = Noise(256, 0.01, 3);
  CHECK(Run(MakeFrame(flat, 0.08)).status.code() == StatusCode::kNoLattice);

  cv::Mat1f step = Noise(256, 0.02, 4);
  for (int y = 0; y < step.rows; ++y) {
    for (int x = 0; x < step.cols; ++x) {
      // A monatomic step (0.31 nm) running diagonally, plus a tilt.
      step(y, x) += (x + 0.4 * y > 180 ? 0.31f : 0.0f) + 0.001f * x;
    }
  }
  const FrameResult r = Run(MakeFrame(step, 0.08));
  CHECK(r.status.code() == StatusCode::kNoLattice);
}

TEST_CASE("a cell below min_cell_px is refused before any work") {
  // 200 nm over 256 px: a 7×7 cell spans 3.4 px (the Si_7x7_012 case).
  const FrameResult r = Run(MakeFrame(Noise(256, 1.0, 5), 200.0 / 256));
  CHECK(r.status.code() == StatusCode::kNoLattice);
  CHECK(r.status.message().find("px") != std::string::npos);
  CHECK(r.levelled.empty());
}

TEST_CASE("malformed frames are invalid_input") {
  CHECK(Run(MakeFrame(cv::Mat1f(), 0.06)).status.code() ==
        StatusCode::kInvalidInput);
  CHECK(Run(MakeFrame(Noise(8, 1.0, 1), 0.06)).status.code() ==
        StatusCode::kInvalidInput);
  for (double px : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN(),
                    std::numeric_limits<double>::infinity()}) {
    CAPTURE(px);
    CHECK(Run(MakeFrame(Noise(64, 1.0, 1), px)).status.code() ==
          StatusCode::kInvalidInput);
  }
  cv::Mat1f nan_frame(64, 64, std::numeric_limits<float>::quiet_NaN());
  const FrameResult r = Run(MakeFrame(nan_frame, 0.06));
  CHECK(r.status.code() == StatusCode::kInvalidInput);
  CHECK(r.status.message().find("NaN") != std::string::npos);
}

TEST_CASE("every result carries a total time") {
  const FrameResult r = Run(MakeFrame(Noise(64, 1.0, 1), 0.06));
  REQUIRE(!r.timing_ms.empty());
  CHECK(r.timing_ms.back().first == "total");
  CHECK(r.timing_ms.back().second >= 0.0);
}

}  // namespace
}  // namespace anchord
