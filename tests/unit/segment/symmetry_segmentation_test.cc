// SegmentFrame on synthetic frames of two regions with a known boundary
// (support/domain_composer.h): two 7×7 domains turned 10–25° apart, and
// 7×7 next to a disordered region. Acceptance of issue 13: pixel
// agreement ≥ 0.95 outside a 2 nm band at the boundary.

#include "anchord/segment/symmetry_segmentation.h"

#include "support/domain_composer.h"
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

namespace anchord {
namespace {

constexpr double kBandNm = 2.0;

SegmentResult Run(const testing::TwoRegionFrame& f, int classes) {
  SegmentOptions o;
  o.pixel_size_nm = f.pixel_size_nm;
  o.classes = classes;
  return SegmentFrame(f.image, o);
}

TEST_CASE("two 7×7 domains turned 10–25° apart are told apart") {
  for (const auto& [a, b, angle, seed] :
       {std::tuple{0.0, 10.0, 80.0, 1}, std::tuple{7.0, 25.0, 30.0, 2},
        std::tuple{-12.0, 5.0, 135.0, 3}, std::tuple{20.0, 38.0, 0.0, 4}}) {
    testing::TwoRegionOptions to;
    to.rotation_a_deg = a;
    to.rotation_b_deg = b;
    to.boundary_angle_deg = angle;
    to.seed = seed;
    const testing::TwoRegionFrame f = testing::MakeTwoRegionFrame(to);
    CAPTURE(a);
    CAPTURE(b);
    for (const int classes : {2, 0}) {
      CAPTURE(classes);
      const SegmentResult r = Run(f, classes);
      REQUIRE(r.status.ok());
      const double agreement = testing::PixelAgreement(r.labels, f, kBandNm);
      MESSAGE("domains " << a << "° / " << b << "°, k " << classes << " → "
                         << r.classes.size() << ": agreement " << agreement);
      CHECK(agreement >= 0.95);
      CHECK(r.classes.size() == 2);
      for (const SegmentClass& c : r.classes) CHECK(c.looks_7x7);
    }
  }
}

TEST_CASE("7×7 next to a disordered region") {
  for (const auto& [rotation, angle, seed] :
       {std::tuple{0.0, 80.0, 5}, std::tuple{33.0, 20.0, 6},
        std::tuple{-17.0, 160.0, 7}}) {
    testing::TwoRegionOptions to;
    to.rotation_a_deg = rotation;
    to.b_disordered = true;
    to.boundary_angle_deg = angle;
    to.seed = seed;
    const testing::TwoRegionFrame f = testing::MakeTwoRegionFrame(to);
    CAPTURE(rotation);
    for (const int classes : {2, 0}) {
      CAPTURE(classes);
      const SegmentResult r = Run(f, classes);
      REQUIRE(r.status.ok());
      const double agreement = testing::PixelAgreement(r.labels, f, kBandNm);
      MESSAGE("7×7 at " << rotation << "° + disorder, k " << classes << " → "
                        << r.classes.size() << ": agreement " << agreement);
      CHECK(agreement >= 0.95);
      REQUIRE(r.classes.size() == 2);
      // The class on the 7×7 side looks like 7×7, the other does not.
      long votes[2][2] = {{0, 0}, {0, 0}};
      for (int y = 0; y < f.truth.rows; ++y) {
        for (int x = 0; x < f.truth.cols; ++x) {
          const int l = r.labels(y, x);
          if (l >= 0 && l < 2) ++votes[l][f.truth(y, x)];
        }
      }
      for (int l = 0; l < 2; ++l) {
        const bool on_lattice = votes[l][0] > votes[l][1];
        CHECK(r.classes[l].looks_7x7 == on_lattice);
      }
    }
  }
}

TEST_CASE("one clean domain is one class when k is chosen") {
  testing::TwoRegionOptions to;
  to.rotation_a_deg = 12;
  to.rotation_b_deg = 12;
  to.seed = 9;
  const testing::TwoRegionFrame f = testing::MakeTwoRegionFrame(to);
  const SegmentResult r = Run(f, 0);
  REQUIRE(r.status.ok());
  CHECK(r.classes.size() == 1);
  CHECK(r.classes[0].looks_7x7);
  CHECK(r.classes[0].area_fraction == doctest::Approx(1.0));
}

TEST_CASE("non-finite pixels are label −1; labels cover the frame") {
  testing::TwoRegionOptions to;
  to.seed = 11;
  testing::TwoRegionFrame f = testing::MakeTwoRegionFrame(to);
  for (int y = 0; y < 40; ++y) {
    for (int x = 0; x < f.image.cols; ++x) {
      f.image(y, x) = std::numeric_limits<float>::quiet_NaN();
    }
  }
  const SegmentResult r = Run(f, 2);
  REQUIRE(r.status.ok());
  REQUIRE(r.labels.size() == f.image.size());
  for (int y = 0; y < f.image.rows; ++y) {
    for (int x = 0; x < f.image.cols; ++x) {
      if (y < 40) {
        CHECK(r.labels(y, x) == -1);
      } else {
        CHECK(r.labels(y, x) >= 0);
        CHECK(r.labels(y, x) < 2);
      }
    }
  }
  double area = 0;
  for (const SegmentClass& c : r.classes) area += c.area_fraction;
  CHECK(area == doctest::Approx(1.0));
}

TEST_CASE("SegmentOptions::Validate lists every violation") {
  CHECK(SegmentOptions{}.Validate().ok());
  SegmentOptions o;
  o.pixel_size_nm = 0;
  o.stride_px = 0;
  o.classes = 17;
  o.kmeans_iterations = 0;
  const Status s = o.Validate();
  REQUIRE_FALSE(s.ok());
  const std::string& m = s.message();
  CHECK(m.find("segment.pixel_size_nm = 0") != std::string::npos);
  CHECK(m.find("segment.stride_px = 0") != std::string::npos);
  CHECK(m.find("segment.classes = 17") != std::string::npos);
  CHECK(m.find("segment.kmeans_iterations = 0") != std::string::npos);
  CHECK(std::count(m.begin(), m.end(), '\n') == 3);
  // A frame smaller than the patch is invalid input, not a crash.
  const SegmentResult tiny = SegmentFrame(cv::Mat1f(8, 8, 0.0f), {});
  CHECK(tiny.status.code() == StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace anchord
