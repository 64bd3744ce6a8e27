#pragma once

#include "anchord/model/lattice_model.h"
#include "anchord/util/geometry.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <vector>

namespace anchord {

// The frame's mean unit cell: every pixel folded through a registration
// into the cell it images, binned on lattice coordinates (u, v) ∈ [0, 1)²
// of (a1, a2). Over the tens of cells of a frame the mean keeps what
// repeats with the lattice (the cell's own height profile, both halves)
// and averages away what does not (line offsets, noise, single defects).
struct UnitCellMean {
  Status status;
  int bins = 0;    // bins per lattice vector
  cv::Mat1f mean;  // bins × bins: row = v bin, column = u bin; zero mean
                   // over the bins
  double filled_fraction = 0;  // share of bins that received a pixel
};

// Folds `image` (finite where row_ok) into the mean cell. Rows with
// row_ok false (masked, glitched) are skipped; an empty row_ok means all.
// Bins that receive no pixel take the cell mean (0). kInvalidInput for an
// empty image, a singular H, bins outside [4, 256] or fewer than 4 pixels
// per bin on average (a frame too small for its cell).
UnitCellMean FoldIntoUnitCell(const cv::Mat1f& image,
                              const std::vector<bool>& row_ok,
                              const Mat3& image_from_model,
                              const LatticeModel& model,
                              int bins);

// The image the mean cell predicts: at each pixel the cell value at that
// pixel's lattice coordinates (through the same H). Same size as the
// folded image; empty when `cell` is not ok or H is singular.
cv::Mat1f RenderUnitCell(const UnitCellMean& cell,
                         cv::Size size,
                         const Mat3& image_from_model,
                         const LatticeModel& model);

}  // namespace anchord
