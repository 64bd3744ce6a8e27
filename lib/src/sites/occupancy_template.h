#pragma once

// Internal: adatom occupancy from a per-image template (issue 13, item 4).
// The frame's own mean adatom, per (half, kind) group and in one canonical
// orientation, is the reference each site's neighbourhood is fitted
// against, between two references: the template itself and the template
// with its adatom taken out (what stays of the surroundings, a corner
// hole's flank say, when the adatom is missing). The fitted amplitude is
// ≈ 1 for an occupied site and ≈ 0 or below (the rest-atom layer shows
// through) for a missing one. A two-class
// fit of the amplitudes decides occupied or vacant with a posterior
// confidence: each class a Gaussian with the occupied class's robust
// spread, the occupied one centred on the group's robust centre, the
// vacant one on 0; the vacancy share fitted by EM.

#include "anchord/util/geometry.h"

#include <opencv2/core.hpp>

#include <vector>

namespace anchord::internal {

// One adatom site as the template fit sees it.
struct TemplateSite {
  Vec2 p_px;  // predicted position in the image, px
  // Canonical site frame (nm) → image px: the local Jacobian of
  // image_from_model at the site times the rotation that carries the
  // group's canonical site onto this one (about its half's centre), so
  // that a patch offset d means the same place relative to every site of
  // the group.
  Mat2 image_from_site = Mat2::Identity();
  int group = 0;  // in [0, groups): sites of one group share a template
};

struct TemplateFitOptions {
  double window_sigma_nm = 0.25;    // Gaussian weight of the patch fit, nm
  double max_shift_nm = 0.1;        // per-site alignment search radius, nm
  double adatom_radius_nm = 0.384;  // the adatom's reach: half the spacing
  int groups = 4;                   // number of templates
};

struct OccupancyFit {
  // Per site: amplitude of the template in the site's patch after the
  // alignment (1 ≈ the group's mean occupied adatom, 0 = none of it);
  // occupied; posterior probability of the chosen class, in [0.5, 1].
  std::vector<double> amplitude;
  std::vector<bool> occupied;
  std::vector<double> confidence;
  // Per group: the fitted vacancy share.
  std::vector<double> vacancy_prior;
};

// Fits every site (see the file comment). `smooth` is the levelled frame
// smoothed as the contrasts are measured. Groups with fewer than 8 sites
// whose patch lies wholly in the frame keep every site occupied with
// confidence 0.5 (no template can be formed).
OccupancyFit FitOccupancyTemplates(const cv::Mat1f& smooth,
                                   const std::vector<TemplateSite>& sites,
                                   const TemplateFitOptions& options);

}  // namespace anchord::internal
