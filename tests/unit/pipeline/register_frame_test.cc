#include "anchord/pipeline/register_frame.h"

#include "anchord/synth/synthetic_scan.h"

#include "support/truth_match.h"
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

namespace anchord {
namespace {

// Number of random frames of the end-to-end study; ANCHORD_E2E_FRAMES
// overrides the default of 24.
int FrameCount() {
  const char* env = std::getenv("ANCHORD_E2E_FRAMES");
  return env ? std::max(1, std::atoi(env)) : 24;
}

void RunStudy(DetectorKind detector, testing::TruthScore& total) {
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions options;
  options.detect.kind = detector;
  options.make_corrected = false;
  for (int seed = 1; seed <= FrameCount(); ++seed) {
    const SyntheticScanOptions so = RandomSyntheticScanOptions(seed);
    const SyntheticScan scan = MakeSyntheticScan(so);
    const FrameResult r = RegisterFrame(scan.frame, model, options);
    CAPTURE(seed);
    CAPTURE(r.status.message());
    REQUIRE(r.status.ok());
    const testing::TruthScore s = testing::ScoreAgainstTruth(r, scan);
    MESSAGE("seed " << seed << " " << so.width_px << " px "
                    << so.field_of_view_nm << " nm noise " << so.noise
                    << " creep " << so.creep_px << ": " << s.Summary());
    total.Add(s);
  }
  MESSAGE(std::string(DetectorKindName(detector))
          << " total: " << total.Summary());
}

TEST_CASE("random distorted frames match the ground truth (fast detector)") {
  testing::TruthScore total;
  RunStudy(DetectorKind::kFast, total);
  CHECK(total.recall() >= 0.99);
  CHECK(total.precision() >= 0.99);
  CHECK(total.rms_error_nm() <= 0.020);
  CHECK(total.vacancy_precision() >= 0.95);
  CHECK(total.vacancy_recall() >= 0.95);
  CHECK(total.hole_recall() >= 0.99);
  CHECK(total.faulted_accuracy() >= 0.99);
}

TEST_CASE("random distorted frames match the ground truth (SIFT detector)") {
  testing::TruthScore total;
  RunStudy(DetectorKind::kSift, total);
  CHECK(total.recall() >= 0.99);
  CHECK(total.precision() >= 0.99);
  CHECK(total.rms_error_nm() <= 0.020);
  CHECK(total.vacancy_precision() >= 0.95);
  CHECK(total.vacancy_recall() >= 0.95);
  CHECK(total.hole_recall() >= 0.99);
}

}  // namespace
}  // namespace anchord
