#pragma once

#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <optional>
#include <string_view>
#include <vector>

namespace anchord {

// Corner-hole candidate detectors (the candidate step of the registration
// pipeline, anchord/pipeline/register_frame.h).
enum class DetectorKind {
  kFast,  // scale-tuned difference of Gaussians + sub-pixel peak fit
  kSift,  // SIFT keypoints kept below the image mean (Diao et al., Sci.
          // Rep. 15, 13486 (2025), Fig. 5b)
};
const char* DetectorKindName(DetectorKind k);  // "fast" | "sift"
// The kind named `name` (the names above); nullopt for anything else.
std::optional<DetectorKind> ParseDetectorKind(std::string_view name);

struct DetectOptions {
  DetectorKind kind = DetectorKind::kFast;
  // Corner-hole blob scale as a fraction of the expected cell length
  // (prior). Default 0.11; in (0, 0.5).
  double hole_sigma_fraction = 0.11;
  // The fast detector works on a copy downsampled so that the expected
  // cell spans about this many pixels. Default 16; >= 8.
  double working_cell_px = 16.0;
  // Keep local maxima of the response above this many robust standard
  // deviations of the response. Default 1.5; > 0.
  double min_response_sigma = 1.5;
  // Non-maximum suppression radius as a fraction of the expected cell
  // length. Default 0.35; in (0, 1).
  double nms_fraction = 0.35;
  // At most this many candidates per expected cell are kept (strongest
  // first). Default 4; >= 1.
  double max_candidates_per_cell = 4.0;

  Status Validate() const;
};

// One corner-hole candidate, raw image pixels (x = column, y = row,
// pixel centres at integers).
struct Candidate {
  Vec2 p_px;
  double response = 0;  // detector strength, larger = darker blob
};

struct DetectResult {
  Status status;
  std::vector<Candidate> candidates;  // strongest first
};

// Detects corner-hole candidates in a levelled image. `cell_px` is the
// prior length of a lattice vector in pixels (nominal pixel size), used
// only to set the scale; it may be off by tens of percent. kInvalidInput
// for an image under 8 × 8 px, a cell that is not positive or options
// that do not validate; kNoLattice
// for a cell longer than the image's larger side or fewer than 4
// candidates.
DetectResult DetectCornerHoles(const cv::Mat1f& levelled,
                               double cell_px,
                               const DetectOptions& options);

}  // namespace anchord
