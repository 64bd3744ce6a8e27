#include "daemon/studies/fig3_heatmap.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace anchord::daemon {
namespace {

// Layout, px.
constexpr int kCellW = 64;
constexpr int kCellH = 30;
constexpr int kLeft = 70;    // σ labels left of a panel
constexpr int kTop = 46;     // panel title above a panel
constexpr int kBottom = 44;  // N labels and axis name below a panel
constexpr int kGap = 24;     // between panels
constexpr int kHeader = 70;  // figure title and colour bar
constexpr int kMargin = 16;
constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kInk(20, 20, 20);
const cv::Scalar kWhite(255, 255, 255);
const cv::Scalar kMissing(190, 190, 190);

// Viridis colour of v in [0, 1] (BGR).
cv::Vec3b Viridis(double v) {
  cv::Mat1b level(1, 1, static_cast<uchar>(std::clamp(v, 0.0, 1.0) * 255));
  cv::Mat3b colour;
  cv::applyColorMap(level, colour, cv::COLORMAP_VIRIDIS);
  return colour(0, 0);
}

// Dark text on light cells, white on dark ones.
cv::Scalar TextColourOn(const cv::Vec3b& bgr) {
  const double luma = 0.114 * bgr[0] + 0.587 * bgr[1] + 0.299 * bgr[2];
  return luma > 128 ? kInk : kWhite;
}

void PutCentred(cv::Mat3b& img,
                const std::string& text,
                cv::Point centre,
                double scale,
                const cv::Scalar& colour,
                int thickness = 1) {
  int baseline = 0;
  const cv::Size size =
      cv::getTextSize(text, kFont, scale, thickness, &baseline);
  cv::putText(img, text,
              {centre.x - size.width / 2, centre.y + size.height / 2}, kFont,
              scale, colour, thickness, cv::LINE_AA);
}

std::string Format(const char* format, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

const Fig3Row* FindRow(const std::vector<Fig3Row>& rows,
                       Fig3Estimator estimator,
                       Fig3Where where,
                       double sigma,
                       int count) {
  for (const Fig3Row& r : rows) {
    if (r.estimator == estimator && r.where == where && r.sigma == sigma &&
        r.count == count) {
      return &r;
    }
  }
  return nullptr;
}

cv::Size PanelSize(const Fig3Options& o) {
  return {kLeft + kCellW * static_cast<int>(o.counts.size()),
          kTop + kCellH * static_cast<int>(o.sigmas.size()) + kBottom};
}

void DrawPanel(cv::Mat3b& img,
               cv::Point origin,
               const std::vector<Fig3Row>& rows,
               const Fig3Options& o,
               Fig3Estimator estimator,
               Fig3Where where) {
  const std::string title =
      std::string(Fig3EstimatorName(estimator)) + " - " +
      (where == Fig3Where::kFitted ? "at the fitted anchors"
                                   : "over the field of view");
  cv::putText(img, title, origin + cv::Point(kLeft, kTop - 14), kFont, 0.55,
              kInk, 1, cv::LINE_AA);
  const cv::Point grid = origin + cv::Point(kLeft, kTop);
  for (size_t s = 0; s < o.sigmas.size(); ++s) {
    const int y = grid.y + kCellH * static_cast<int>(s);
    PutCentred(img, Format("%.2f", o.sigmas[s]),
               {origin.x + kLeft / 2 + 6, y + kCellH / 2}, 0.45, kInk);
    for (size_t c = 0; c < o.counts.size(); ++c) {
      const cv::Rect cell(grid.x + kCellW * static_cast<int>(c), y, kCellW,
                          kCellH);
      const Fig3Row* row =
          FindRow(rows, estimator, where, o.sigmas[s], o.counts[c]);
      const cv::Vec3b colour =
          row ? Viridis(row->oks95)
              : cv::Vec3b(kMissing[0], kMissing[1], kMissing[2]);
      cv::rectangle(img, cell, cv::Scalar(colour), cv::FILLED);
      cv::rectangle(img, cell, kWhite, 1);
      if (row) {
        PutCentred(img, Format("%.2f", row->oks95),
                   {cell.x + kCellW / 2, cell.y + kCellH / 2}, 0.45,
                   TextColourOn(colour));
      }
    }
  }
  const int below = grid.y + kCellH * static_cast<int>(o.sigmas.size());
  for (size_t c = 0; c < o.counts.size(); ++c) {
    PutCentred(img, std::to_string(o.counts[c]),
               {grid.x + kCellW * static_cast<int>(c) + kCellW / 2, below + 12},
               0.45, kInk);
  }
  PutCentred(
      img, "anchor points N",
      {grid.x + kCellW * static_cast<int>(o.counts.size()) / 2, below + 33},
      0.45, kInk);
  cv::putText(img, "sigma", origin + cv::Point(4, kTop - 4), kFont, 0.45, kInk,
              1, cv::LINE_AA);
}

void DrawHeader(cv::Mat3b& img, const Fig3Options& o) {
  const std::string title =
      "OKS@0.95 recall (kappa = " + Format("%.2g", o.kappa) +
      " unit spacings; d <= " +
      Format("%.4f", o.kappa * std::sqrt(-2 * std::log(0.95))) + "), " +
      std::to_string(o.samples) + " samples per cell, seed " +
      std::to_string(o.seed);
  cv::putText(img, title, {kMargin, kMargin + 16}, kFont, 0.55, kInk, 1,
              cv::LINE_AA);
  const int bar_x = kMargin + 16, bar_y = kMargin + 30, bar_w = 300;
  const int bar_h = 14;
  cv::putText(img, "0", {kMargin, bar_y + 12}, kFont, 0.45, kInk, 1,
              cv::LINE_AA);
  for (int x = 0; x < bar_w; ++x) {
    cv::line(img, {bar_x + x, bar_y}, {bar_x + x, bar_y + bar_h},
             cv::Scalar(Viridis(static_cast<double>(x) / (bar_w - 1))));
  }
  cv::putText(img, "1", {bar_x + bar_w + 6, bar_y + 12}, kFont, 0.45, kInk, 1,
              cv::LINE_AA);
}

}  // namespace

cv::Mat3b RenderFig3Heatmap(const std::vector<Fig3Row>& rows,
                            const Fig3Options& options) {
  const cv::Size panel = PanelSize(options);
  const int columns = static_cast<int>(options.estimators.size());
  const int width =
      std::max(2 * kMargin + columns * panel.width + (columns - 1) * kGap,
               2 * kMargin + 720);
  const int height = kHeader + 2 * panel.height + kGap + kMargin;
  cv::Mat3b img(height, width, cv::Vec3b(255, 255, 255));
  DrawHeader(img, options);
  const Fig3Where wheres[] = {Fig3Where::kFitted, Fig3Where::kField};
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < columns; ++c) {
      const cv::Point origin(kMargin + c * (panel.width + kGap),
                             kHeader + r * (panel.height + kGap));
      DrawPanel(img, origin, rows, options, options.estimators[c], wheres[r]);
    }
  }
  return img;
}

Status WriteFig3Heatmap(const std::string& path,
                        const std::vector<Fig3Row>& rows,
                        const Fig3Options& options) {
  const cv::Mat3b img = RenderFig3Heatmap(rows, options);
  bool written = false;
  try {
    written = cv::imwrite(path, img);
  } catch (const cv::Exception& e) {
    return Status::Internal("cannot write " + path + ": " + e.what());
  }
  if (!written) return Status::Internal("cannot write " + path);
  return Status::Ok();
}

}  // namespace anchord::daemon
