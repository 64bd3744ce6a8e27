// Partial frames (issue 13, item 5): a scan stopped early leaves rows of
// NaN at the top or bottom (as up / down scans leave them). RegisterFrame
// registers the scanned rows and reports everything in the full frame's
// pixels; the site accuracy there is that of the complete frame.

#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"

#include "support/truth_match.h"
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

namespace anchord {
namespace {

// The scan with its ground truth and a result restricted to rows
// [lo, hi] (truth and reported sites alike), so that ScoreAgainstTruth
// scores the band only.
void Restrict(double lo, double hi, SyntheticScan& scan, FrameResult& r) {
  const auto outside = [&](const Vec2& p) { return p.y() < lo || p.y() > hi; };
  std::erase_if(scan.adatoms,
                [&](const TruthAdatom& a) { return outside(a.p_px); });
  std::erase_if(scan.corner_holes,
                [&](const TruthCornerHole& c) { return outside(c.p_px); });
  std::erase_if(r.sites.adatoms,
                [&](const AdatomSite& a) { return outside(a.p_px); });
  std::erase_if(r.sites.corner_holes,
                [&](const CornerHoleSite& c) { return outside(c.p_px); });
}

TEST_CASE(
    "40–70 % of the rows NaN, top or bottom: the scanned part registers "
    "with the complete frame's accuracy") {
  const LatticeModel model = MakeSi7x7Model();
  PipelineOptions po;
  po.make_corrected = false;
  for (const uint64_t seed : {3, 4}) {
    const SyntheticScan scan =
        MakeSyntheticScan(ModeratelyDistortedScan(seed, 384, 24));
    const FrameResult whole = RegisterFrame(scan.frame, model, po);
    REQUIRE(whole.status.ok());
    CHECK(whole.scanned_fraction == 1.0);
    const int rows = scan.frame.image.rows;
    const double margin_px = 1.0 / scan.frame.pixel_size_y_nm;  // 1 nm
    for (const double missing : {0.4, 0.55, 0.7}) {
      for (const bool top : {true, false}) {
        CAPTURE(seed);
        CAPTURE(missing);
        CAPTURE(top);
        const int cut = static_cast<int>(std::lround(missing * rows));
        Frame partial = scan.frame;
        partial.image = scan.frame.image.clone();
        const int begin = top ? cut : 0, end = top ? rows : rows - cut;
        for (int y = 0; y < rows; ++y) {
          if (y >= begin && y < end) continue;
          partial.image.row(y).setTo(std::numeric_limits<float>::quiet_NaN());
        }
        FrameResult r = RegisterFrame(partial, model, po);
        CAPTURE(r.status.message());
        REQUIRE(r.status.ok());
        CHECK(r.width == scan.frame.image.cols);
        CHECK(r.height == rows);
        CHECK(r.scanned_row_begin == begin);
        CHECK(r.scanned_row_end == end);
        CHECK(r.scanned_fraction == doctest::Approx(1.0 - double(cut) / rows));
        CHECK(r.levelled.rows == rows);
        for (const AdatomSite& a : r.sites.adatoms) {
          CHECK(a.p_px.y() >= begin - 1.0);
          CHECK(a.p_px.y() <= end);
        }
        // H in the full frame's pixels: it maps the model onto the true
        // corner holes of the scanned part.
        int holes = 0;
        for (const TruthCornerHole& t : scan.corner_holes) {
          if (t.p_px.y() < begin + margin_px || t.p_px.y() > end - margin_px) {
            continue;
          }
          double best = std::numeric_limits<double>::infinity();
          for (const CornerHoleSite& c : r.sites.corner_holes) {
            best = std::min(best, (c.p_px - t.p_px).norm());
          }
          CHECK(best < 1.0);
          ++holes;
        }
        CHECK(holes > 10);
        // Site accuracy in the scanned band, more than 1 nm from its edges,
        // against the complete frame's on the same band.
        SyntheticScan band_truth = scan;
        FrameResult band = r;
        Restrict(begin + margin_px, end - 1 - margin_px, band_truth, band);
        const testing::TruthScore s =
            testing::ScoreAgainstTruth(band, band_truth);
        SyntheticScan whole_truth = scan;
        FrameResult whole_band = whole;
        Restrict(begin + margin_px, end - 1 - margin_px, whole_truth,
                 whole_band);
        const testing::TruthScore w =
            testing::ScoreAgainstTruth(whole_band, whole_truth);
        MESSAGE("seed " << seed << ", " << missing * 100 << " % NaN at the "
                        << std::string(top ? "top" : "bottom") << ": "
                        << s.Summary()
                        << " | complete frame, same band: " << w.Summary());
        CHECK(s.truth_sites > 150);
        CHECK(s.recall() >= 0.99);
        CHECK(s.precision() >= 0.99);
        CHECK(s.rms_error_nm() <= std::max(0.02, 1.5 * w.rms_error_nm()));
        CHECK(s.vacancy_recall() >= 0.9);
        CHECK(s.vacancy_precision() >= 0.9);
        CHECK(s.faulted_accuracy() >= 0.99);
      }
    }
  }
}

TEST_CASE("a scanned part too small for the lattice is no_lattice, with why") {
  const SyntheticScan scan =
      MakeSyntheticScan(ModeratelyDistortedScan(5, 384, 24));
  Frame partial = scan.frame;
  partial.image = scan.frame.image.clone();
  partial.image.rowRange(40, partial.image.rows)
      .setTo(std::numeric_limits<float>::quiet_NaN());
  const FrameResult r = RegisterFrame(partial, MakeSi7x7Model(), {});
  CHECK(r.status.code() == StatusCode::kNoLattice);
  CHECK(r.status.message().find("scanned part") != std::string::npos);
  CHECK(r.scanned_row_begin == 0);
  CHECK(r.scanned_row_end == 40);
}

}  // namespace
}  // namespace anchord
