#include "daemon/instrument/sequence.h"

#include "anchord/util/geometry.h"

#include "daemon/wire/wire.h"
#include <doctest/doctest.h>
#include <opencv2/core.hpp>

#include <set>
#include <tuple>

namespace anchord::daemon {
namespace {

// A small, quick sequence: 128 px over 12 nm, drifting diagonally.
SyntheticSequence SmallSequence() {
  SyntheticSequence sequence;
  sequence.base = ModeratelyDistortedScan(11, 128, 12.0);
  sequence.drift_nm_per_frame = Vec2(0.3, -0.2);
  sequence.first_frame_id = 100;
  return sequence;
}

// The cells and basis positions of the vacant adatom sites of `scan`.
std::set<std::tuple<int, int, int, int>> Vacancies(const SyntheticScan& scan) {
  std::set<std::tuple<int, int, int, int>> out;
  for (const TruthAdatom& a : scan.adatoms) {
    if (!a.occupied) {
      out.emplace(a.i, a.j, static_cast<int>(a.half),
                  static_cast<int>(a.kind) * 1000 +
                      static_cast<int>(a.model_nm.x() * 100));
    }
  }
  return out;
}

TEST_CASE("consecutive frames differ by the drift in model offset") {
  const SyntheticSequence sequence = SmallSequence();
  REQUIRE(sequence.Validate().ok());
  for (int k : {0, 1, 5}) {
    const Vec2 step =
        sequence.Options(k + 1).offset_nm - sequence.Options(k).offset_nm;
    CHECK(step.x() == doctest::Approx(0.3));
    CHECK(step.y() == doctest::Approx(-0.2));
  }
  CHECK(sequence.Options(0).offset_nm.isApprox(sequence.base.offset_nm));

  // The true mapping follows: model point p in frame k shows where p +
  // drift shows in frame k + 1.
  const SyntheticScan a = sequence.Truth(3);
  const SyntheticScan b = sequence.Truth(4);
  for (const Vec2& p : {Vec2(0, 0), Vec2(2.5, -1.0), Vec2(-3.0, 4.0)}) {
    const Vec2 pa = Apply(a.image_from_model, p);
    const Vec2 pb = Apply(b.image_from_model, p + sequence.drift_nm_per_frame);
    CHECK((pa - pb).norm() < 1e-9);
  }
}

TEST_CASE("the sample stays put, the noise is fresh") {
  SyntheticSequence still = SmallSequence();
  still.drift_nm_per_frame = Vec2::Zero();
  const SyntheticScan a = still.Truth(0);
  const SyntheticScan b = still.Truth(1);
  REQUIRE(!Vacancies(a).empty());
  CHECK(Vacancies(a) == Vacancies(b));
  CHECK(a.image_from_model.isApprox(b.image_from_model));
  CHECK(cv::norm(a.frame.image, b.frame.image, cv::NORM_INF) > 0);
  CHECK(still.NoiseSeed(0) != still.NoiseSeed(1));
  CHECK(still.NoiseSeed(0) != 0);
  CHECK(still.NoiseSeed(7) == SmallSequence().NoiseSeed(7));
}

TEST_CASE("a sequence frame survives EncodeFrame / DecodeFrame") {
  const SyntheticSequence sequence = SmallSequence();
  InboundFrame sent = sequence.Inbound(2);
  CHECK(sent.frame_id == 102);
  CHECK(sent.instrument == sequence.instrument);
  CHECK(sent.session == sequence.session);
  CHECK(sent.frame.pixel_size_x_nm == doctest::Approx(12.0 / 128));
  CHECK(sent.frame.pixel_size_y_nm == doctest::Approx(12.0 / 128));
  sent.acquired_unix_ns = 1700000000000000000;

  InboundFrame received;
  REQUIRE(DecodeFrame(EncodeFrame(sent), FrameLimits(), &received).ok());
  CHECK(received.frame_id == sent.frame_id);
  CHECK(received.instrument == sent.instrument);
  CHECK(received.session == sent.session);
  CHECK(received.acquired_unix_ns == sent.acquired_unix_ns);
  CHECK(received.frame.pixel_size_x_nm == sent.frame.pixel_size_x_nm);
  CHECK(received.frame.pixel_size_y_nm == sent.frame.pixel_size_y_nm);
  CHECK(received.frame.channel == "Z");
  REQUIRE(received.frame.image.size() == sent.frame.image.size());
  CHECK(cv::norm(received.frame.image, sent.frame.image, cv::NORM_INF) == 0);
}

TEST_CASE("a non-finite drift is rejected") {
  SyntheticSequence sequence = SmallSequence();
  sequence.drift_nm_per_frame = Vec2(std::nan(""), 0);
  CHECK(sequence.Validate().code() == StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace anchord::daemon
