#pragma once

// Synthetic frames of two regions with a known boundary, for the
// segmentation tests and benchmark: two 7×7 domains turned relative to
// each other, or a 7×7 domain next to a disordered region.

#include "anchord/synth/synthetic_scan.h"

#include <opencv2/core.hpp>

#include <cstdint>

namespace anchord::testing {

struct TwoRegionFrame {
  cv::Mat1f image;
  double pixel_size_nm = 0;
  // 0 / 1: which region a pixel belongs to.
  cv::Mat1b truth;
  // Distance of each pixel to the boundary, nm.
  cv::Mat1f boundary_distance_nm;
};

struct TwoRegionOptions {
  int size_px = 256;               // square frame side, px
  double field_of_view_nm = 20;    // nominal frame width, nm
  double rotation_a_deg = 0;       // lattice rotation of region 0
  double rotation_b_deg = 15;      // lattice rotation of region 1
  bool b_disordered = false;       // region 1 without a lattice instead
  double boundary_angle_deg = 80;  // direction of the boundary's normal
  double boundary_offset = 0.1;    // its offset from the centre, fraction
                                   // of the side
  double noise = 0.05;             // white noise of both regions
  uint64_t seed = 1;
};

// Region 0 is a synthetic 7×7 scan (MakeSyntheticScan, scale and shear
// errors of a few %) at rotation_a_deg; region 1 the same generator at
// rotation_b_deg with another seed, or a disordered surface: Gaussian
// bumps of the adatoms' size and density at uniformly random places, the
// same height scale. The regions meet on a straight line.
TwoRegionFrame MakeTwoRegionFrame(const TwoRegionOptions& options);

// Share of the pixels farther than `band_nm` from the boundary whose
// label maps to their true region, each label mapped to the region most
// of its pixels lie in (labels < 0 count as wrong).
double PixelAgreement(const cv::Mat1i& labels,
                      const TwoRegionFrame& frame,
                      double band_nm);

}  // namespace anchord::testing
