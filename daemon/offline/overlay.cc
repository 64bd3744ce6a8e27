#include "daemon/offline/overlay.h"

#include "anchord/util/check.h"

#include "daemon/offline/result_json.h"
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace anchord::daemon {
namespace {

// BGR colours of the markers.
const cv::Scalar kCyan(255, 255, 0);
const cv::Scalar kGreen(0, 255, 0);
const cv::Scalar kRed(0, 0, 255);
const cv::Scalar kBlue(255, 0, 0);

// Fractional bits of OpenCV's fixed-point drawing coordinates.
constexpr int kShift = 4;
constexpr double kFixedOne = 1 << kShift;

// Frames whose larger side is below this are drawn at twice their size.
constexpr int kUpscaleBelowPx = 600;

// Marker sizes as fractions of the adatom spacing.
constexpr double kAdatomDotFraction = 0.15;
constexpr double kVacancyFraction = 0.4;
constexpr double kCornerHoleFraction = 0.45;

// The canvas: an image upscaled by `scale` and the rules to draw on it in
// raw-pixel coordinates.
struct Canvas {
  cv::Mat3b image;
  int scale = 1;
  double spacing_px = 1;  // adatom spacing on the canvas, px
  int thickness = 1;

  // Raw pixel → fixed-point canvas point. Pixel centres are at integers
  // in both, so x maps to (x + 0.5)·scale − 0.5.
  cv::Point At(const Vec2& p) const {
    return cv::Point(cvRound(((p.x() + 0.5) * scale - 0.5) * kFixedOne),
                     cvRound(((p.y() + 0.5) * scale - 0.5) * kFixedOne));
  }
  // A length on the canvas, in fixed point.
  int Length(double canvas_px) const { return cvRound(canvas_px * kFixedOne); }
};

bool IsFinite(const Vec2& p) {
  return std::isfinite(p.x()) && std::isfinite(p.y());
}

// Shortest distance between two distinct sites of the model's basis
// (neighbouring cells included), nm; the lattice constant when the model
// has fewer than two sites per cell.
double MinSiteSpacingNm(const LatticeModel& model) {
  double best = model.lattice_constant_nm();
  for (const BasisSite& s : model.sites) {
    for (const BasisSite& t : model.sites) {
      for (int di = -1; di <= 1; ++di) {
        for (int dj = -1; dj <= 1; ++dj) {
          const Vec2 d = t.frac + Vec2(di, dj) - s.frac;
          const double nm = model.ModelFromLattice(d.x(), d.y()).norm();
          if (nm > 1e-9) best = std::min(best, nm);
        }
      }
    }
  }
  return best;
}

// Mean linear scale of the local lattice, px per model nm.
double PixelsPerNm(const LocalLattice& local, const LatticeModel& model) {
  const double model_area = std::abs(Cross(model.a1_nm, model.a2_nm));
  const double image_area = std::abs(Cross(local.a1_px, local.a2_px));
  if (model_area <= 0 || !std::isfinite(image_area)) return 1;
  return std::sqrt(image_area / model_area);
}

void DrawDashedCircle(Canvas& canvas, const Vec2& p, double radius_px) {
  constexpr int kDashes = 12;
  constexpr double kStepDeg = 360.0 / kDashes;
  const int r = canvas.Length(radius_px);
  for (int k = 0; k < kDashes; ++k) {
    cv::ellipse(canvas.image, canvas.At(p), cv::Size(r, r), 0, k * kStepDeg,
                (k + 0.5) * kStepDeg, kCyan, 1, cv::LINE_AA, kShift);
  }
}

void DrawCornerHoles(Canvas& canvas, const std::vector<CornerHoleSite>& holes) {
  const double radius = kCornerHoleFraction * canvas.spacing_px;
  for (const CornerHoleSite& h : holes) {
    if (!IsFinite(h.p_px)) continue;
    if (h.detected) {
      cv::circle(canvas.image, canvas.At(h.p_px), canvas.Length(radius), kCyan,
                 canvas.thickness, cv::LINE_AA, kShift);
    } else {
      DrawDashedCircle(canvas, h.p_px, radius);
    }
  }
}

void DrawVacancy(Canvas& canvas, const Vec2& p) {
  const double radius = kVacancyFraction * canvas.spacing_px;
  const int arm = canvas.Length(radius / std::sqrt(2.0));
  const cv::Point c = canvas.At(p);
  cv::circle(canvas.image, c, canvas.Length(radius), kRed, canvas.thickness,
             cv::LINE_AA, kShift);
  cv::line(canvas.image, c + cv::Point(-arm, -arm), c + cv::Point(arm, arm),
           kRed, canvas.thickness, cv::LINE_AA, kShift);
  cv::line(canvas.image, c + cv::Point(-arm, arm), c + cv::Point(arm, -arm),
           kRed, canvas.thickness, cv::LINE_AA, kShift);
}

void DrawAdatoms(Canvas& canvas, const std::vector<AdatomSite>& adatoms) {
  const double dot = std::max(1.5, kAdatomDotFraction * canvas.spacing_px);
  for (const AdatomSite& a : adatoms) {
    if (!IsFinite(a.p_px)) continue;
    if (a.occupied) {
      cv::circle(canvas.image, canvas.At(a.p_px), canvas.Length(dot), kGreen,
                 cv::FILLED, cv::LINE_AA, kShift);
    } else {
      DrawVacancy(canvas, a.p_px);
    }
  }
}

void DrawLatticeVectors(Canvas& canvas, const LocalLattice& local) {
  const int thickness = canvas.thickness + 1;
  constexpr double kTipFraction = 0.15;
  cv::arrowedLine(canvas.image, canvas.At(local.centre_px),
                  canvas.At(local.centre_px + local.a1_px), kRed, thickness,
                  cv::LINE_AA, kShift, kTipFraction);
  cv::arrowedLine(canvas.image, canvas.At(local.centre_px),
                  canvas.At(local.centre_px + local.a2_px), kBlue, thickness,
                  cv::LINE_AA, kShift, kTipFraction);
}

void DrawRegistration(Canvas& canvas,
                      const FrameResult& result,
                      const LatticeModel& model) {
  const LocalLattice local =
      LocalLatticeAtCentre(result.image_from_model, model, result.levelled.cols,
                           result.levelled.rows);
  if (!IsFinite(local.a1_px) || !IsFinite(local.a2_px)) return;
  canvas.spacing_px =
      MinSiteSpacingNm(model) * PixelsPerNm(local, model) * canvas.scale;
  canvas.thickness = std::max(1, cvRound(canvas.spacing_px / 12));
  DrawCornerHoles(canvas, result.sites.corner_holes);
  DrawAdatoms(canvas, result.sites.adatoms);
  DrawLatticeVectors(canvas, local);
}

}  // namespace

cv::Mat1b NormaliseToGrey(const cv::Mat1f& image) {
  cv::Mat1b grey(image.size(), uchar{0});
  std::vector<float> finite;
  finite.reserve(image.total());
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      if (std::isfinite(image(y, x))) finite.push_back(image(y, x));
    }
  }
  if (finite.empty()) return grey;
  const auto quantile = [&finite](double q) {
    auto nth = finite.begin() + static_cast<long>(q * (finite.size() - 1));
    std::nth_element(finite.begin(), nth, finite.end());
    return static_cast<double>(*nth);
  };
  const double lo = quantile(0.01);
  const double hi = quantile(0.99);
  if (!(hi > lo)) return grey;
  for (int y = 0; y < image.rows; ++y) {
    for (int x = 0; x < image.cols; ++x) {
      const float v = image(y, x);
      if (!std::isfinite(v)) continue;
      const double t = std::clamp((v - lo) / (hi - lo), 0.0, 1.0);
      grey(y, x) = static_cast<uchar>(std::lround(255 * t));
    }
  }
  return grey;
}

int OverlayUpscale(int width, int height) {
  return std::max(width, height) < kUpscaleBelowPx ? 2 : 1;
}

cv::Mat3b RenderOverlay(const FrameResult& result, const LatticeModel& model) {
  ANCHORD_CHECK(!result.levelled.empty()) << "no levelled image to draw on";
  Canvas canvas;
  canvas.scale = OverlayUpscale(result.levelled.cols, result.levelled.rows);
  cv::Mat1b grey = NormaliseToGrey(result.levelled);
  if (canvas.scale != 1) {
    cv::resize(grey, grey, cv::Size(), canvas.scale, canvas.scale,
               cv::INTER_LINEAR);
  }
  cv::cvtColor(grey, canvas.image, cv::COLOR_GRAY2BGR);
  if (result.status.ok()) DrawRegistration(canvas, result, model);
  return canvas.image;
}

Status WriteOverlay(const std::string& path,
                    const FrameResult& result,
                    const LatticeModel& model) {
  if (result.levelled.empty()) {
    return Status::InvalidInput("no levelled image to draw the overlay on");
  }
  try {
    if (!cv::imwrite(path, RenderOverlay(result, model))) {
      return Status::Internal("cannot write overlay " + path);
    }
  } catch (const cv::Exception& e) {
    return Status::Internal("cannot write overlay " + path + ": " + e.what());
  }
  return Status::Ok();
}

}  // namespace anchord::daemon
