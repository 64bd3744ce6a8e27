// FindOffLatticeFeatures through RegisterFrame on synthetic frames, scored
// against the generator's adsorbates (SyntheticScan::adsorbates_px):
// precision, recall and position error over many distorted, noisy frames;
// silence on frames without adsorbates; the on-lattice gate; the
// model-plane positions; option validation.

#include "anchord/sites/off_lattice.h"

#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace anchord {
namespace {

// A reported feature matches a true adsorbate within this sample-plane
// distance: under the adsorbate's std (0.35 nm), well under the 0.768 nm
// adatom spacing.
constexpr double kMatchNm = 0.3;
// Truths and reports this close to the border (nm) are not scored: the
// feature search itself stops 0.5 nm from it.
constexpr double kScoreBorderNm = 1.0;

// Distorted frames like RandomSyntheticScanOptions, at 512 px of 24–36 nm,
// with 3–10 adsorbates and white noise up to 0.15.
SyntheticScanOptions FeatureFrameOptions(uint64_t seed) {
  std::mt19937_64 rng(seed * 1000003 + 7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto range = [&](double lo, double hi) {
    return lo + (hi - lo) * u(rng);
  };
  SyntheticScanOptions o;
  o.width_px = 512;
  o.height_px = 512;
  o.field_of_view_nm = range(24, 36);
  o.rotation_deg = range(-180, 180);
  o.scale_error_x = range(-0.15, 0.15);
  o.scale_error_y = range(-0.15, 0.15);
  o.shear = range(-0.15, 0.15);
  o.perspective = range(0, 0.02);
  o.perspective_angle_deg = range(0, 360);
  o.offset_nm = Vec2(range(-10, 10), range(-10, 10));
  o.creep_px = range(0, 4);
  o.creep_angle_deg = range(0, 360);
  o.creep_tau_rows = range(0.08, 0.2) * o.height_px;
  o.noise = range(0.02, 0.15);
  o.line_noise = range(0, 0.1);
  o.tilt = range(0, 5);
  o.blur_nm = range(0.02, 0.08);
  o.vacancy_fraction = range(0.03, 0.08);
  o.adsorbates = 3 + static_cast<int>(u(rng) * 8) % 8;
  o.faulted_half = u(rng) < 0.5 ? Half::kT1 : Half::kT2;
  o.faulted_contrast = range(0.1, 0.25);
  o.hole_size_jitter = range(0, 0.1);
  o.seed = seed;
  return o;
}

struct Registered {
  SyntheticScan scan;
  FrameResult result;
};

Registered Register(const SyntheticScan& scan,
                    const OffLatticeOptions& off = OffLatticeOptions{}) {
  Registered r{scan, {}};
  PipelineOptions po;
  po.off_lattice = off;
  po.make_corrected = false;
  r.result = RegisterFrame(r.scan.frame, MakeSi7x7Model(), po);
  return r;
}

// Sample-plane length (nm) of a pixel offset d near pixel p, through the
// true mapping's local Jacobian.
double DistanceNm(const SyntheticScan& scan, const Vec2& p, const Vec2& d) {
  const Mat3& h = scan.image_from_model;
  return (Jacobian(h, Apply(h.inverse(), p)).inverse() * d).norm();
}

// Distance (nm) from p to the nearest image border, at the local scale.
double BorderNm(const SyntheticScan& scan, const Vec2& p) {
  const cv::Mat1f& img = scan.frame.image;
  const double px =
      std::min({p.x(), p.y(), img.cols - 1 - p.x(), img.rows - 1 - p.y()});
  const Mat3& h = scan.image_from_model;
  const Mat2 j = Jacobian(h, Apply(h.inverse(), p));
  return px / std::sqrt(std::abs(j.determinant()));
}

// Index of the candidate nearest to p in the sample plane, or −1; its
// distance in nm through `dist_nm`.
int Nearest(const SyntheticScan& scan,
            const Vec2& p,
            const std::vector<Vec2>& candidates,
            double& dist_nm) {
  int best = -1;
  dist_nm = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < candidates.size(); ++k) {
    const double d = DistanceNm(scan, p, candidates[k] - p);
    if (d < dist_nm) {
      dist_nm = d;
      best = static_cast<int>(k);
    }
  }
  return best;
}

struct Score {
  int truths = 0, found = 0;     // scored true blobs, and those matched
  int reports = 0, correct = 0;  // scored reports, and those matched
  int isolated = 0;              // matched single adsorbates
  double sum_sq_nm = 0;          // their squared position errors
  double min_site_nm = std::numeric_limits<double>::infinity();
  double recall() const { return truths ? double(found) / truths : 1.0; }
  double precision() const { return reports ? double(correct) / reports : 1.0; }
  double rms_nm() const {
    return isolated ? std::sqrt(sum_sq_nm / isolated) : 0.0;
  }
  void Add(const Score& o) {
    truths += o.truths;
    found += o.found;
    reports += o.reports;
    correct += o.correct;
    isolated += o.isolated;
    sum_sq_nm += o.sum_sq_nm;
    min_site_nm = std::min(min_site_nm, o.min_site_nm);
  }
};

// Adsorbates closer than this (nm, ≈ 2.9 σ) image as one blob: the
// generator places them independently, so a few overlap.
constexpr double kTouchingNm = 1.0;

// The true blobs: adsorbates joined by single linkage below kTouchingNm.
// Each blob lists its members' positions and their centroid, first.
std::vector<std::vector<Vec2>> TrueBlobs(const SyntheticScan& scan) {
  const std::vector<Vec2>& t = scan.adsorbates_px;
  std::vector<int> label(t.size());
  for (size_t k = 0; k < t.size(); ++k) label[k] = static_cast<int>(k);
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t a = 0; a < t.size(); ++a) {
      for (size_t b = 0; b < t.size(); ++b) {
        if (label[b] < label[a] &&
            DistanceNm(scan, t[a], t[b] - t[a]) < kTouchingNm) {
          label[a] = label[b];
          changed = true;
        }
      }
    }
  }
  std::vector<std::vector<Vec2>> blobs;
  for (size_t k = 0; k < t.size(); ++k) {
    if (label[k] != static_cast<int>(k)) continue;
    std::vector<Vec2> members;
    Vec2 sum = Vec2::Zero();
    for (size_t j = 0; j < t.size(); ++j) {
      if (label[j] == label[k]) {
        members.push_back(t[j]);
        sum += t[j];
      }
    }
    members.insert(members.begin(), sum / static_cast<double>(members.size()));
    blobs.push_back(members);
  }
  return blobs;
}

// Recall over the true blobs whose centroid lies ≥ kScoreBorderNm inside
// the frame, precision over the reports as far inside; a report matches a
// blob within kMatchNm of its centroid or of any member (so a pair
// straddling the scoring border counts for both). Position errors are
// taken over single adsorbates only.
Score ScoreFeatures(const Registered& r) {
  Score s;
  std::vector<Vec2> reported;
  for (const OffLatticeFeature& f : r.result.sites.off_lattice) {
    reported.push_back(f.p_px);
  }
  const auto blobs = TrueBlobs(r.scan);
  std::vector<Vec2> targets;
  for (const auto& b : blobs) targets.insert(targets.end(), b.begin(), b.end());
  for (const auto& b : blobs) {
    if (BorderNm(r.scan, b[0]) < kScoreBorderNm) continue;
    ++s.truths;
    double best = std::numeric_limits<double>::infinity();
    int best_k = -1;
    for (const Vec2& t : b) {
      double d = 0;
      const int k = Nearest(r.scan, t, reported, d);
      if (d < best) {
        best = d;
        best_k = k;
      }
    }
    if (best_k < 0 || best >= kMatchNm) continue;
    ++s.found;
    if (b.size() == 2) {  // centroid + one member: a single adsorbate
      ++s.isolated;
      s.sum_sq_nm += best * best;
    }
    // Model-plane clearance of the report from every reported site.
    const Vec2 m = r.result.sites.off_lattice[best_k].model_nm;
    for (const AdatomSite& a : r.result.sites.adatoms) {
      s.min_site_nm = std::min(s.min_site_nm, (a.model_nm - m).norm());
    }
  }
  for (const Vec2& p : reported) {
    if (BorderNm(r.scan, p) < kScoreBorderNm) continue;
    ++s.reports;
    double d = 0;
    if (Nearest(r.scan, p, targets, d) >= 0 && d < kMatchNm) ++s.correct;
  }
  return s;
}

TEST_CASE(
    "adsorbates on 20 distorted noisy frames: precision, recall and position") {
  Score total;
  int frames = 0;
  double height_min = std::numeric_limits<double>::infinity();
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const SyntheticScanOptions so = FeatureFrameOptions(seed);
    const Registered r = Register(MakeSyntheticScan(so));
    CAPTURE(seed);
    REQUIRE(r.result.status.ok());
    ++frames;
    const Score s = ScoreFeatures(r);
    MESSAGE("seed " << seed << ": " << s.found << "/" << s.truths << " found, "
                    << s.correct << "/" << s.reports << " correct, rms "
                    << s.rms_nm() << " nm");
    total.Add(s);
    for (const OffLatticeFeature& f : r.result.sites.off_lattice) {
      CHECK(f.confidence >= 0.5);
      CHECK(f.confidence <= 1.0);
      CHECK(f.height >= OffLatticeOptions{}.min_height);
      height_min = std::min(height_min, f.height);
    }
  }
  MESSAGE("total: recall " << total.recall() << " (" << total.found << "/"
                           << total.truths << "), precision "
                           << total.precision() << " (" << total.correct << "/"
                           << total.reports << "), rms " << total.rms_nm()
                           << " nm over " << total.isolated
                           << " single adsorbates, lowest "
                              "height "
                           << height_min << ", closest site "
                           << total.min_site_nm << " nm");
  CHECK(frames == 20);
  CHECK(total.truths >= 80);  // 3–10 per frame, most inside the border
  CHECK(total.isolated >= 75);
  CHECK(total.recall() >= 0.95);
  CHECK(total.precision() >= 0.95);
  CHECK(total.rms_nm() < 0.1);
}

TEST_CASE("no features on vacancy-rich noisy frames without adsorbates") {
  // Defence in depth: with min_height lowered to 0.5 and the site gate
  // shrunk to 0.1 nm the search reports the brightest adatoms (bright
  // where line levelling lifts a row); even they stay clearly below the
  // default threshold, as the ≥ 3.3 of real adsorbates stay above it.
  OffLatticeOptions probe;
  probe.min_height = 0.5;
  probe.min_site_distance_nm = 0.1;
  int reported = 0;
  double highest = 0;
  for (uint64_t seed = 101; seed <= 110; ++seed) {
    SyntheticScanOptions so = FeatureFrameOptions(seed);
    so.adsorbates = 0;
    so.vacancy_fraction = 0.08;
    so.noise = 0.2;
    const SyntheticScan scan = MakeSyntheticScan(so);
    const Registered r = Register(scan);
    CAPTURE(seed);
    REQUIRE(r.result.status.ok());
    for (const OffLatticeFeature& f : r.result.sites.off_lattice) {
      MESSAGE("false feature at " << f.p_px.transpose() << ", height "
                                  << f.height);
    }
    reported += static_cast<int>(r.result.sites.off_lattice.size());
    for (const OffLatticeFeature& f :
         Register(scan, probe).result.sites.off_lattice) {
      highest = std::max(highest, f.height);
    }
  }
  MESSAGE("highest spurious height " << highest);
  CHECK(reported == 0);
  CHECK(highest < 0.7 * OffLatticeOptions{}.min_height);
}

// Adds an adsorbate-like blob (height 2, std 0.35 nm, as the generator
// renders them) to the frame at pixel p.
void AddBlob(SyntheticScan& scan, const Vec2& p) {
  const Mat3& h = scan.image_from_model;
  const double px_per_nm =
      std::sqrt(std::abs(Jacobian(h, Apply(h.inverse(), p)).determinant()));
  const double s = 0.35 * px_per_nm;
  cv::Mat1f& img = scan.frame.image;
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      const double d2 = (Vec2(x, y) - p).squaredNorm();
      if (d2 < 16 * s * s) img(y, x) += 2.0f * std::exp(-d2 / (2 * s * s));
    }
  }
}

TEST_CASE(
    "a blob on an adatom site is on the lattice; the same blob off it is a "
    "feature") {
  SyntheticScanOptions so = FeatureFrameOptions(7);
  so.adsorbates = 0;
  so.vacancy_fraction = 0;
  SyntheticScan scan = MakeSyntheticScan(so);
  // Two cells near the frame centre: one blob on a centre adatom of the
  // first; one on the centroid of the three centre adatoms of a half of
  // the second (the rest-atom hollow, 0.443 nm from each of them and
  // farther from every other site: DAS model geometry).
  const Vec2 centre(255.5, 255.5);
  const TruthAdatom* c = nullptr;
  for (const TruthAdatom& a : scan.adatoms) {
    if (!c || (a.p_px - centre).norm() < (c->p_px - centre).norm()) c = &a;
  }
  REQUIRE(c != nullptr);
  const int ci = c->i, cj = c->j;
  Vec2 on_px = Vec2::Zero(), hollow_px = Vec2::Zero();
  int on_n = 0, hollow_n = 0;
  for (const TruthAdatom& a : scan.adatoms) {
    if (a.kind != SiteKind::kCenter || a.half != Half::kT1) continue;
    if (a.i == ci && a.j == cj && on_n == 0) {
      on_px = a.p_px;
      ++on_n;
    }
    if (a.i == ci + 1 && a.j == cj) {
      hollow_px += a.p_px;
      ++hollow_n;
    }
  }
  REQUIRE(on_n == 1);
  REQUIRE(hollow_n == 3);
  hollow_px /= 3.0;
  AddBlob(scan, on_px);
  AddBlob(scan, hollow_px);
  const Registered r = Register(scan);
  REQUIRE(r.result.status.ok());
  const auto& found = r.result.sites.off_lattice;
  REQUIRE(found.size() == 1);
  const OffLatticeFeature& f = found[0];
  CHECK(DistanceNm(r.scan, hollow_px, f.p_px - hollow_px) < 0.1);
  CHECK(f.height > OffLatticeOptions{}.min_height);
  CHECK(f.confidence > 0.9);
  // In the model plane it keeps the hollow's clearance from the sites.
  double model_site_nm = std::numeric_limits<double>::infinity();
  for (const AdatomSite& a : r.result.sites.adatoms) {
    model_site_nm = std::min(model_site_nm, (a.model_nm - f.model_nm).norm());
  }
  CHECK(model_site_nm == doctest::Approx(0.443).epsilon(0.15));

  // The on-site blob is bright enough and its maximum lies on the site:
  // only the site gate keeps it out.
  OffLatticeOptions no_gate;
  no_gate.min_site_distance_nm = 1e-3;
  const auto all = Register(scan, no_gate).result.sites.off_lattice;
  REQUIRE(all.size() == 2);
  CHECK(std::any_of(all.begin(), all.end(), [&](const OffLatticeFeature& g) {
    return DistanceNm(scan, on_px, g.p_px - on_px) < 0.1 &&
           g.height > OffLatticeOptions{}.min_height;
  }));
}

TEST_CASE("model_nm maps back to p_px through H within the residual field") {
  const Registered r = Register(MakeSyntheticScan(FeatureFrameOptions(3)));
  REQUIRE(r.result.status.ok());
  REQUIRE(!r.result.sites.off_lattice.empty());
  for (const OffLatticeFeature& f : r.result.sites.off_lattice) {
    const Vec2 back = Apply(r.result.image_from_model, f.model_nm);
    CHECK((back - f.p_px).norm() < 3.0);
  }
}

TEST_CASE("enabled = false: no search and no \"features\" stage") {
  OffLatticeOptions off;
  off.enabled = false;
  const Registered r = Register(MakeSyntheticScan(FeatureFrameOptions(2)), off);
  REQUIRE(r.result.status.ok());
  CHECK(r.result.sites.off_lattice.empty());
  for (const auto& [stage, ms] : r.result.timing_ms) CHECK(stage != "features");
  const Registered on = Register(MakeSyntheticScan(FeatureFrameOptions(2)));
  const auto it =
      std::find_if(on.result.timing_ms.begin(), on.result.timing_ms.end(),
                   [](const auto& s) { return s.first == "features"; });
  REQUIRE(it != on.result.timing_ms.end());
  MESSAGE("features stage: " << it->second << " ms on 512 px");
}

TEST_CASE("OffLatticeOptions::Validate lists every violation") {
  CHECK(OffLatticeOptions{}.Validate().ok());
  OffLatticeOptions o;
  o.min_height = -1;
  o.min_site_distance_nm = 0.8;
  o.level_radius_nm = 0;
  o.border_nm = -1;
  o.merge_distance_nm = -0.1;
  const Status s = o.Validate();
  CHECK(s.code() == StatusCode::kInvalidInput);
  for (const char* key :
       {"off_lattice.min_height", "off_lattice.min_site_distance_nm",
        "off_lattice.level_radius_nm", "off_lattice.border_nm",
        "off_lattice.merge_distance_nm"}) {
    CAPTURE(key);
    CHECK(s.message().find(key) != std::string::npos);
  }
  PipelineOptions po;
  po.off_lattice.min_height = 0;
  CHECK(po.Validate().message().find("off_lattice.min_height") !=
        std::string::npos);
}

TEST_CASE("no occupied adatoms: no features, no failure") {
  SitesResult sites;
  cv::Mat1f img(64, 64, 0.0f);
  CHECK(FindOffLatticeFeatures(img, sites, OffLatticeOptions{}).empty());
}

}  // namespace
}  // namespace anchord
