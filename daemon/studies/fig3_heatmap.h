#pragma once

// The Fig. 3e-style heat map of `anchord study fig3`: OKS@0.95 recall per
// (noise σ, anchor count N), one panel per estimator and evaluation point
// set, each cell coloured (viridis, 0 → 1) and labelled with its value.

#include "anchord/studies/fig3_study.h"
#include "anchord/util/status.h"

#include <opencv2/core.hpp>

#include <string>
#include <vector>

namespace anchord::daemon {

// Renders the panels: one column per estimator of `options.estimators`,
// one row per point set (fitted, field); in a panel, σ grows downwards
// (options.sigmas order) and N to the right (options.counts order). Cells
// with no row in `rows` stay grey. A colour bar and a title with the
// sample count and seed sit on top.
cv::Mat3b RenderFig3Heatmap(const std::vector<Fig3Row>& rows,
                            const Fig3Options& options);

// RenderFig3Heatmap written to `path` (format by extension). kInternal when
// the file cannot be written.
Status WriteFig3Heatmap(const std::string& path,
                        const std::vector<Fig3Row>& rows,
                        const Fig3Options& options);

}  // namespace anchord::daemon
