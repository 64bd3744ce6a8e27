#pragma once

// Internal: the match sources of AlignFrames (anchord/align/align_frames.h).

#include "anchord/align/align_frames.h"

#include <opencv2/core.hpp>

#include <vector>

namespace anchord::internal {

// Phase correlation of two levelled frames of one size on copies halved
// until neither side exceeds max_side_px (Hann window): the shift of
// `moving` against `fixed` in full-size px and the peak response.
Vec2 CoarseShift(const cv::Mat1f& fixed,
                 const cv::Mat1f& moving,
                 int max_side_px,
                 double* response);

// Normalised cross-correlation of a grid of fixed-frame patches, each
// searched within ± options.search_radius_px of `shift` in the moving
// frame; sub-pixel peaks by a parabola through the peak and its
// neighbours along each axis. Patches touching a masked row of either
// frame, patches without contrast and peaks on the search border or below
// options.min_correlation give no match. *tried = the patches whose
// search window lies in the moving frame.
std::vector<AlignMatch> PatchMatches(const cv::Mat1f& fixed,
                                     const std::vector<bool>& fixed_rows_ok,
                                     const cv::Mat1f& moving,
                                     const std::vector<bool>& moving_rows_ok,
                                     const Vec2& shift,
                                     const AlignOptions& options,
                                     int* tried);

// ORB keypoints of both frames matched by Hamming distance with Lowe's
// ratio test; only matches within 2 × search_radius_px of `shift` are
// kept.
std::vector<AlignMatch> KeypointMatches(const cv::Mat1f& fixed,
                                        const cv::Mat1f& moving,
                                        const Vec2& shift,
                                        const AlignOptions& options);

}  // namespace anchord::internal
