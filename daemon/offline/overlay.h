#pragma once

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <string>

namespace anchord::daemon {

// The levelled frame as 8-bit grey: the 1 % and 99 % quantiles of its
// finite pixels map to 0 and 255 (clamped); non-finite pixels are 0.
// An empty or constant image gives a black image of the same size.
cv::Mat1b NormaliseToGrey(const cv::Mat1f& image);

// Factor the overlay is drawn at: 2 for frames whose larger side is below
// 600 px (so markers stay visible), else 1.
int OverlayUpscale(int width, int height);

// Renders result.levelled (BGR, upscaled by OverlayUpscale) with what the
// registration found: corner holes (cyan circles, solid when paired with a
// detected candidate, dashed otherwise), occupied adatoms (small green
// dots), vacancies (larger red circles with a cross) and the local lattice
// vectors a1 (red arrow) and a2 (blue arrow) from the frame centre. Marker
// sizes are fractions of the local adatom spacing in pixels. When the
// status is not ok only the image is drawn. Requires result.levelled to be
// non-empty.
cv::Mat3b RenderOverlay(const FrameResult& result, const LatticeModel& model);

// RenderOverlay written to `path` (format by extension, e.g. .png).
// kInvalidInput when there is no levelled image; kInternal when the file
// cannot be written.
Status WriteOverlay(const std::string& path,
                    const FrameResult& result,
                    const LatticeModel& model);

}  // namespace anchord::daemon
