#pragma once

#include "anchord/correct/displacement_field.h"
#include "anchord/model/lattice_model.h"
#include "anchord/register/lattice_registration.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <vector>

namespace anchord {

// How a site is found occupied or vacant.
enum class OccupancyMethod {
  // Two-class fit against the frame's own mean adatom, per half and kind
  // (FitOccupancyTemplates): robust to the tip, the bias, the channel and
  // to dim sites; the default.
  kTemplate = 0,
  // Contrast above a fraction (vacancy_threshold) of its group's median.
  kThreshold = 1,
};
const char* OccupancyMethodName(OccupancyMethod m);  // "template" | "threshold"

struct SitesOptions {
  // Sites closer than this to the frame border (px) are not reported; their
  // neighbourhood is cut. Default 0 (every site inside the frame).
  double border_px = 0.0;
  // Radius of the sub-pixel peak search around the predicted adatom
  // position, as a fraction of the adatom spacing (0.768 nm). Default 0.3.
  double refine_radius_fraction = 0.3;
  // Occupancy rule. Default kTemplate.
  OccupancyMethod occupancy = OccupancyMethod::kTemplate;
  // kThreshold: a site is occupied when its contrast exceeds this fraction
  // of the median contrast of the sites of the same kind and half; also
  // the first labelling kTemplate's peak refinement starts from.
  // Default 0.5; in (0, 1).
  double vacancy_threshold = 0.5;
  // kTemplate: standard deviation of the Gaussian weight of a site's
  // patch in the template fit, nm (the patch reaches 2σ). Default 0.25
  // (the saddles towards the neighbours, 0.384 nm away, weigh 0.3);
  // in [0.1, 0.5].
  double template_window_nm = 0.25;
  // kTemplate: each site's patch is aligned to the template within this
  // radius, nm (the site's own position error; on the real frame
  // Si_7x7_051 ~0.1 nm). Default 0.15; in [0, 0.3].
  double template_max_shift_nm = 0.15;
  // Turn the model by 180° when needed so that T1 is the faulted (brighter)
  // half of the DAS model. Default true.
  bool canonical_faulted_t1 = true;

  Status Validate() const;
};

struct CornerHoleSite {
  Vec2 p_px;
  Vec2 model_nm;
  int i = 0, j = 0;
  bool detected = false;  // paired with a detected candidate
};

struct AdatomSite {
  Vec2 p_px;
  Vec2 model_nm;
  int i = 0, j = 0;
  Half half = Half::kT1;
  SiteKind kind = SiteKind::kCorner;
  int code_index = 0;
  bool faulted = false;
  bool occupied = true;
  // In [0.5, 1]: kTemplate, the posterior probability of the chosen class
  // in the two-class fit; kThreshold, how far the contrast lies from the
  // threshold in units of the group's spread.
  double confidence = 0;
  double contrast = 0;  // site contrast, levelled units
  // kTemplate: amplitude of the frame's mean adatom of this half and kind
  // in the site's patch (≈ 1 occupied, ≈ 0 or below vacant); 0 otherwise.
  double template_amplitude = 0;
};

// A bright blob that is not an adatom on a 7×7 site: an adsorbate or a
// cluster (FindOffLatticeFeatures, anchord/sites/off_lattice.h).
struct OffLatticeFeature {
  Vec2 p_px;          // sub-pixel position in the raw image
  Vec2 model_nm;      // the same point in the model plane: H⁻¹, corrected by
                      // the local offsets of the refined adatom sites
  double height = 0;  // peak height above the local adatom level, in units
                      // of the median occupied adatom contrast
  double confidence = 0;  // in [0.5, 1]
};

struct SitesResult {
  Status status;
  // H after the optional 180° turn; the caller publishes this one.
  Mat3 image_from_model = Mat3::Identity();
  std::vector<CornerHoleSite> corner_holes;
  std::vector<AdatomSite> adatoms;
  // (faulted − unfaulted) / unfaulted median adatom contrast.
  double faulted_contrast = 0;
  int vacancies = 0;
  // Off-lattice features; filled by RegisterFrame (not by LocateSites).
  std::vector<OffLatticeFeature> off_lattice;
  // The levelled frame smoothed as the contrasts were measured (Gaussian,
  // std 0.2 × the adatom spacing); FindOffLatticeFeatures reuses it.
  cv::Mat1f smoothed;
};

// Adatom and corner-hole positions from H, the residual field and the
// model, refined and classified present / vacancy (the sites step of the
// registration pipeline, anchord/pipeline/register_frame.h).
SitesResult LocateSites(const cv::Mat1f& levelled,
                        const LatticeModel& model,
                        const RegisterResult& registration,
                        const SitesOptions& options);

}  // namespace anchord
