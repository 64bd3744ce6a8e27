#pragma once

#include "anchord/model/lattice_model.h"
#include "anchord/util/frame.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <cstdint>
#include <vector>

namespace anchord {

// Parameters of one synthetic Si(111)-7×7 scan. Heights are in units of
// the unfaulted adatom height (1.0). The image is rendered through the true
// distortion: scale, rotation, shear, perspective, then slow-axis creep;
// the sample point imaged at pixel (x, y) is
//   m(x, y) = image_from_model⁻¹((x, y) − creep(y)) + row_shift_nm[y].
struct SyntheticScanOptions {
  int width_px = 512;            // frame width, px; [16, 65536]
  int height_px = 512;           // frame height, px; [16, 65536]
  double field_of_view_nm = 30;  // nominal width of the frame, nm; the
                                 // nominal pixel size is this / width_px
                                 // along both axes; (0, 1e6]
  double rotation_deg = 0;       // lattice rotation in the image, degrees
  double scale_error_x = 0;      // true/nominal − 1 along image x; [-0.5, 1]
  double scale_error_y = 0;      // true/nominal − 1 along image y; [-0.5, 1]
  double shear = 0;              // x += shear · y in the image; [-0.5, 0.5]
  double perspective = 0;        // relative change of the projective
                                 // divisor across the frame; [0, 0.1]
  double perspective_angle_deg = 0;  // direction of that change
  Vec2 offset_nm = Vec2::Zero();     // sample point under the frame centre;
                                     // within ±1e8 nm
  double creep_px = 0;               // slow-axis creep at row 0, px; decays
                                     // as exp(−row / creep_tau_rows)
  double creep_angle_deg = 0;        // direction of the creep displacement
  double creep_tau_rows = 40;        // creep decay constant, rows; > 0
  double noise = 0.05;               // white noise std
  double line_noise = 0.0;           // std of a per-row offset
  double tilt = 0.0;                 // plane height difference across the frame
  int glitch_lines = 0;              // rows replaced by spikes / offsets
  double blur_nm = 0.05;             // tip blur, Gaussian std, nm; >= 0
  double vacancy_fraction = 0.0;     // probability that an adatom is missing
  int adsorbates = 0;                // bright off-lattice blobs, placed at
                                     // random in this frame (from `seed`)
  // Probability that a lattice cell (i, j) carries one fixed adsorbate:
  // a population that depends on `seed` only (FixedAdsorbateInCell), so
  // every frame of the same seed shows the same adsorbates at the same
  // model positions. Rendered like `adsorbates`. Default 0; in [0, 1].
  double adsorbates_per_cell = 0;
  Half faulted_half = Half::kT1;   // the half that images brighter
  double faulted_contrast = 0.15;  // extra height of faulted-half adatoms
  double adatom_sigma_nm = 0.17;   // Gaussian std of an adatom, nm
  double hole_sigma_nm = 0.30;     // Gaussian std of a corner hole, nm
  double hole_depth = 1.6;         // depth of a corner hole
  double hole_size_jitter = 0.0;   // relative std of each hole's size/depth
  uint64_t seed = 1;               // RNG seed for everything random
  // RNG seed for the per-scan measurement noise only: white and line
  // noise, the tilt direction and the glitch lines. 0 = use `seed` (the
  // same stream as before this field existed). A non-zero value scans the
  // same sample (structure, vacancies, adsorbates from `seed`) again with
  // fresh noise.
  uint64_t noise_seed = 0;
  // Sample displacement per row, model nm: the point imaged at pixel
  // (x, y) moves by row_shift_nm[y] (e.g. thermal drift during the scan).
  // Empty (default: no shift) or exactly height_px finite entries within
  // ±1e8 nm; the
  // change between consecutive rows, mapped to pixels by the linear part
  // of image_from_model, must be < 0.5 px so that the true pixel of a
  // model point stays unique.
  std::vector<Vec2> row_shift_nm;

  Status Validate() const;
};

// Ground truth of one adatom site whose true position lies in the frame.
struct TruthAdatom {
  Vec2 p_px;         // true pixel position (x = column, y = row)
  Vec2 model_nm;     // position in the generator's model frame
  int i = 0, j = 0;  // cell
  Half half = Half::kT1;
  SiteKind kind = SiteKind::kCorner;
  bool faulted = false;
  bool occupied = true;
};

// Ground truth of one corner hole whose true position lies in the frame.
struct TruthCornerHole {
  Vec2 p_px;
  Vec2 model_nm;
  int i = 0, j = 0;
};

// A synthetic frame with its ground truth.
struct SyntheticScan {
  Frame frame;
  std::vector<TruthAdatom> adatoms;
  std::vector<TruthCornerHole> corner_holes;
  // True pixel positions of the adsorbates: first the `adsorbates`
  // random ones (all of them), then the fixed ones (adsorbates_per_cell)
  // whose true pixel lies in the frame, by cell.
  std::vector<Vec2> adsorbates_px;
  // Model positions of the same adsorbates, parallel to adsorbates_px.
  std::vector<Vec2> adsorbates_model_nm;
  std::vector<int> glitch_rows;
  // The projective part of the true mapping (no creep, no row shift):
  // model nm → px.
  Mat3 image_from_model = Mat3::Identity();
  // The full true mapping model nm → px, creep and row shift included:
  // the pixel p with m(p) = model_nm, the row shift interpolated linearly
  // between rows and held constant beyond the first and last row.
  Vec2 TruePixel(const Vec2& model_nm) const;
  double creep_px = 0, creep_tau_rows = 1;
  Vec2 creep_dir = Vec2::UnitX();
  // options.row_shift_nm (empty: none).
  std::vector<Vec2> row_shift_nm;
};

// Renders a synthetic scan. Deterministic for a given options.seed.
// Requires options.Validate().ok() (checked).
SyntheticScan MakeSyntheticScan(const SyntheticScanOptions& options);

// The linear part of image_from_model, model nm → px (image y down):
// scale error · shear · (y flip, rotation), before perspective.
Mat2 ImageFromModelLinear(const SyntheticScanOptions& options);

// Whether adatom site `site` (index into MakeSi7x7Model().sites) of cell
// (i, j) is occupied: false with probability options.vacancy_fraction,
// a function of options.seed only.
bool SiteOccupied(const SyntheticScanOptions& options, int i, int j, int site);

// The fixed adsorbate of cell (i, j), if it carries one: with probability
// options.adsorbates_per_cell (a function of options.seed only) at a
// position inside the cell at least 0.45 nm from every adatom site and
// corner hole (about 1.4 % of the cell's area qualifies; a cell whose 1024
// hashed candidates all fail, probability ~1e-6, carries none).
// Writes the model position to *model_nm (if not null) and returns true.
bool FixedAdsorbateInCell(const SyntheticScanOptions& options,
                          int i,
                          int j,
                          Vec2* model_nm);

// Model positions of every fixed adsorbate in the closed axis-aligned
// model rectangle [lo_nm, hi_nm], ordered by cell (i, then j).
std::vector<Vec2> FixedAdsorbatesIn(const SyntheticScanOptions& options,
                                    const Vec2& lo_nm,
                                    const Vec2& hi_nm);

// Random options spanning the foundation issue's acceptance ranges: any
// rotation, scale error up to ±25 %, shear up to ±0.25, creep up to 6 px,
// white noise up to 0.25, line noise, tilt, glitch lines, 3–8 % vacancies,
// adsorbates, 256–1024 px frames of 20–60 nm.
SyntheticScanOptions RandomSyntheticScanOptions(uint64_t seed);

// The moderately distorted frame that `anchord synth`, the simulated
// sequences, the studies and several tests start from: library defaults
// with rotation 17°, scale errors +0.08 / −0.05 along x / y, shear 0.05,
// 5 % vacancies and white noise 0.1, on `size_px` × `size_px` pixels over
// a nominal `field_of_view_nm`.
SyntheticScanOptions ModeratelyDistortedScan(uint64_t seed,
                                             int size_px = 512,
                                             double field_of_view_nm = 30);

}  // namespace anchord
