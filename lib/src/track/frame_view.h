#pragma once

// Internal: what the session tracker derives from one registered frame
// before placing it: scan geometry, pixel times, the sites it classified.

#include "anchord/model/lattice_model.h"
#include "anchord/pipeline/register_frame.h"
#include "anchord/util/frame.h"
#include "anchord/util/geometry.h"

#include <array>
#include <string>
#include <vector>

namespace anchord::internal {

// Scanner position (nm, x right, y up) commanded at pixel p of `frame`.
struct ScanGeometry {
  Vec2 offset_nm;
  Mat2 linear;  // scanner offset per pixel offset from the centre
  Vec2 centre_px;

  explicit ScanGeometry(const Frame& f);
  Vec2 ScannerFromImage(const Vec2& p) const {
    return offset_nm + linear * (p - centre_px);
  }
};

// Acquisition time of pixel p, s after frame start: the row's start plus
// the fraction of the trace (forward: left to right in half a line). 0
// without per-line times.
double PixelTime(const Frame& f, const Vec2& p);

// Latest line start plus the line period, s; 0 without per-line times.
double FrameDuration(const Frame& f);

// Why the frame's times cannot be tracked, or "" when they can: per-line
// times (when given) and the line period in [0, max_duration_s], the
// frame no longer than max_duration_s, the acquisition time (when given)
// within TrackerStateLimits::kMaxUnixS.
std::string TimingIssue(const Frame& f, double max_duration_s);

// Why the frame's scan metadata gives no scan geometry, or "" when it
// does: pixel sizes finite and > 0; scan angle, scan offset and drift
// compensation offset finite; the drift compensation velocity finite and
// within ±TrackerStateLimits::kMaxScannerNm per second (faster, it would
// cross the scanner range within a second; the bound keeps the drift
// report's compensation over a frame period finite).
std::string ScanIssue(const Frame& f);

// The centre of an image of `size`, px.
Vec2 ImageCentre(const cv::Size& size);

// The corners of an image of `size` inset by `border` px (the frame's
// footprint), counter-clockwise on screen from the top left.
std::array<Vec2, 4> FootprintCorners(const cv::Size& size, double border);

// Why the registration cannot place the frame, or "" when it can:
// r.image_from_model invertible with a finite inverse that maps the
// centre and the footprint corners (border px) of an image of `size` to
// finite model positions within ±TrackerStateLimits::kMaxCellIndex / 2
// lattice cells (the range of a prediction).
std::string RegistrationIssue(const FrameResult& r,
                              const cv::Size& size,
                              double border,
                              const LatticeModel& model);

// p finite and at least `border` px inside an image of `size`.
bool Inside(const Vec2& p, const cv::Size& size, double border);

// One registered frame as the tracker sees it; refers to the frame and
// its result, which must outlive it.
struct FrameView {
  const Frame* frame = nullptr;
  const FrameResult* result = nullptr;
  ScanGeometry scan;
  Mat3 image_from_model;
  Mat3 model_from_image;
  double start_s = 0;  // frame start, s after the session reference
  Vec2 comp_velocity = Vec2::Zero();
  Vec2 comp_offset = Vec2::Zero();

  // t0: the session's reference time (0 while unset).
  FrameView(const Frame& f, const FrameResult& r, double t0);
  double TimeOf(const Vec2& p) const { return start_s + PixelTime(*frame, p); }
  // Scanner position of pixel p as it would be without compensation.
  Vec2 Uncompensated(const Vec2& p) const {
    return scan.ScannerFromImage(p) + comp_offset +
           comp_velocity * (TimeOf(p) - start_s);
  }
  Vec2 Centre() const { return scan.centre_px; }
  cv::Size size() const { return frame->image.size(); }
};

// A classified adatom site of the frame and its basis index in the model.
struct UsedSite {
  const AdatomSite* site;
  int basis;
};

// The frame's adatom sites inside the border: those classified
// confidently enough to match and catalogue (with a basis index), and
// those left undecided.
struct FrameSites {
  std::vector<UsedSite> used;
  std::vector<const AdatomSite*> undecided;
};
FrameSites SelectSites(const FrameView& view,
                       const LatticeModel& model,
                       double border_px,
                       double min_site_confidence);

}  // namespace anchord::internal
