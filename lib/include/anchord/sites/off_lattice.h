#pragma once

#include "anchord/sites/adatom_sites.h"
#include "anchord/util/status.h"

#include <vector>

namespace anchord {

struct OffLatticeOptions {
  // Run the search at all. Default true.
  bool enabled = true;
  // A feature's peak must stand this far above the local adatom level, in
  // units of the median occupied adatom contrast (AdatomSite::contrast).
  // Synthetic adsorbates (height 2, std 0.35 nm) measure ≥ 3.3; the
  // brightest adatoms of clean noisy frames (on rows that line levelling
  // lifts) ≤ 1.2. Default 2.0; > 0.
  double min_height = 2.0;
  // A maximum closer than this to any predicted adatom site (occupied or
  // vacant), nm in the model plane, belongs to that site and is not a
  // feature, however bright. Adsorbates of the generator sit ≥ 0.45 nm
  // from every site; their maxima are found ≥ 0.35 nm from one (pulled
  // towards adatoms by up to 0.1 nm), so 0.3 leaves a margin. The
  // midpoints of the closest site pairs (0.665 nm apart, 0.333 nm from
  // both) pass this gate and are left to min_height. A cluster whose
  // brightest point falls on a site is not reported. Default 0.3; in
  // (0, 0.768).
  double min_site_distance_nm = 0.3;
  // The local adatom level is the median over the occupied sites within
  // this model-plane distance of the feature, nm. Default 2.0; > 0.
  double level_radius_nm = 2.0;
  // Features closer than this to the frame border, nm (converted at the
  // frame centre's scale), are not reported: the smoothing there sees a
  // reflected image. Default 0.5; >= 0.
  double border_nm = 0.5;
  // Of two maxima closer than this in the model plane, nm, only the higher
  // is kept. Default 0.5; >= 0.
  double merge_distance_nm = 0.5;

  Status Validate() const;
};

// Bright off-lattice features (adsorbates, clusters) in a levelled frame
// whose sites LocateSites has placed. Method:
//  1. Smooth the frame as LocateSites does for the site contrast (std 0.2
//     × the adatom spacing), so that heights are commensurate with
//     AdatomSite::contrast. A smoothing at the adsorbate scale (0.2–0.3
//     nm) was tried: the adsorbates' excess (≥ 3 contrast units) needs no
//     matched filter against the noise, while the wider kernel merges
//     nearby blobs, biases positions more (RMS 0.063 vs 0.058 nm) and
//     costs a second blur.
//  2. Candidates: 8-neighbour local maxima brighter than the median
//     smoothed value at the occupied sites plus min_height / 2 contrast
//     units (a cheap prefilter; a feature is missed by it only where the
//     local adatom level lies min_height / 2 units below the frame's
//     median, far more than levelling leaves). Sub-pixel position: a
//     parabola per axis through the maximum.
//  3. Model-plane position: H⁻¹ plus the mean offset (model − H⁻¹(px)) of
//     the six nearest adatom sites, which carries the displacement field
//     and the peak refinement of LocateSites.
//  4. Reject maxima within min_site_distance_nm of an adatom site (a
//     bright adatom is on the lattice) or within border_nm of the border.
//  5. Height: the smoothed value at the feature minus the median smoothed
//     value at the occupied sites within level_radius_nm (local level:
//     immune to residual tilt), over the median occupied contrast. Kept
//     when ≥ min_height.
//  6. Non-maximum suppression within merge_distance_nm, highest first.
// Confidence: 1 / (1 + exp(−2 (height − min_height) / s)), with s the
// robust spread of the local adatom levels in the same units (≥ 0.05), so
// a feature as clear as the adatoms are uniform scores near 1.
// Returns the features ordered by decreasing height; empty when `sites`
// holds no occupied adatom or options.enabled is false.
std::vector<OffLatticeFeature> FindOffLatticeFeatures(
    const cv::Mat1f& levelled,
    const SitesResult& sites,
    const OffLatticeOptions& options);

}  // namespace anchord
