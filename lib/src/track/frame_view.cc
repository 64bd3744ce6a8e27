#include "track/frame_view.h"

#include "anchord/track/session_tracker_state.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace anchord::internal {
namespace {

constexpr double kPi = 3.14159265358979323846;
using Limits = TrackerStateLimits;

}  // namespace

ScanGeometry::ScanGeometry(const Frame& f) {
  offset_nm = Vec2(f.scan_offset_x_nm, f.scan_offset_y_nm);
  const double a = f.scan_angle_deg * kPi / 180.0;
  Mat2 rot;
  rot << std::cos(a), -std::sin(a), std::sin(a), std::cos(a);
  Mat2 axes = Mat2::Zero();
  axes(0, 0) = f.pixel_size_x_nm;
  axes(1, 1) = -f.pixel_size_y_nm;
  linear = rot * axes;
  centre_px = ImageCentre(f.image.size());
}

double PixelTime(const Frame& f, const Vec2& p) {
  if (f.line_times_s.empty()) return 0.0;
  const int rows = static_cast<int>(f.line_times_s.size());
  // In [0, rows - 1] (NaN to 0): the row index below is in range.
  const double y = std::isfinite(p.y())
                       ? std::clamp(p.y(), 0.0, static_cast<double>(rows - 1))
                       : 0.0;
  const int r0 = static_cast<int>(std::floor(y));
  const int r1 = std::min(r0 + 1, rows - 1);
  const double w = y - r0;
  const double row_t = (1 - w) * f.line_times_s[r0] + w * f.line_times_s[r1];
  const double along = f.image.cols > 1 ? p.x() / (f.image.cols - 1) : 0.0;
  const double frac = f.direction == "backward" ? 1.0 - along : along;
  return row_t + 0.5 * f.line_time_s * std::clamp(frac, 0.0, 1.0);
}

double FrameDuration(const Frame& f) {
  if (f.line_times_s.empty()) return 0.0;
  return *std::max_element(f.line_times_s.begin(), f.line_times_s.end()) +
         f.line_time_s;
}

std::string TimingIssue(const Frame& f, double max_duration_s) {
  char buf[240];
  if (!f.line_times_s.empty()) {
    if (!(f.line_time_s >= 0 && f.line_time_s <= max_duration_s)) {
      std::snprintf(buf, sizeof buf,
                    "frame times out of range: line_time_s = %g s, not in "
                    "[0, max_frame_duration_s = %g s]",
                    f.line_time_s, max_duration_s);
      return buf;
    }
    for (size_t r = 0; r < f.line_times_s.size(); ++r) {
      const double t = f.line_times_s[r];
      if (!(t >= 0 && t <= max_duration_s)) {
        std::snprintf(buf, sizeof buf,
                      "frame times out of range: line_times_s[%zu] = %g s, "
                      "not in [0, max_frame_duration_s = %g s]",
                      r, t, max_duration_s);
        return buf;
      }
    }
    const double duration = FrameDuration(f);
    if (!(duration <= max_duration_s)) {
      std::snprintf(buf, sizeof buf,
                    "frame times out of range: the frame takes %g s (line "
                    "times plus line_time_s), more than "
                    "max_frame_duration_s = %g s",
                    duration, max_duration_s);
      return buf;
    }
  }
  if (std::isfinite(f.acquired_unix_s) &&
      f.acquired_unix_s > Limits::kMaxUnixS) {
    std::snprintf(buf, sizeof buf,
                  "frame times out of range: acquired_unix_s = %g s, after "
                  "%g s (year 2286)",
                  f.acquired_unix_s, Limits::kMaxUnixS);
    return buf;
  }
  return "";
}

std::string ScanIssue(const Frame& f) {
  constexpr double kMaxCompensation = Limits::kMaxScannerNm;  // per second
  struct Value {
    const char* field;
    double v;
    const char* wanted;
    bool ok;
  };
  const auto finite = [](double v) { return std::isfinite(v); };
  const auto size = [](double v) { return std::isfinite(v) && v > 0; };
  const auto velocity = [&](double v) {
    return std::isfinite(v) && std::abs(v) <= kMaxCompensation;
  };
  const Vec2& comp = f.drift_compensation_nm_per_s;
  const Vec2& comp_offset = f.drift_compensation_offset_nm;
  const Value values[] = {
      {"pixel_size_x_nm", f.pixel_size_x_nm, "finite and > 0",
       size(f.pixel_size_x_nm)},
      {"pixel_size_y_nm", f.pixel_size_y_nm, "finite and > 0",
       size(f.pixel_size_y_nm)},
      {"scan_angle_deg", f.scan_angle_deg, "finite", finite(f.scan_angle_deg)},
      {"scan_offset_x_nm", f.scan_offset_x_nm, "finite",
       finite(f.scan_offset_x_nm)},
      {"scan_offset_y_nm", f.scan_offset_y_nm, "finite",
       finite(f.scan_offset_y_nm)},
      {"drift_compensation_nm_per_s.x", comp.x(), "finite and within ±1e9 nm/s",
       velocity(comp.x())},
      {"drift_compensation_nm_per_s.y", comp.y(), "finite and within ±1e9 nm/s",
       velocity(comp.y())},
      {"drift_compensation_offset_nm.x", comp_offset.x(), "finite",
       finite(comp_offset.x())},
      {"drift_compensation_offset_nm.y", comp_offset.y(), "finite",
       finite(comp_offset.y())},
  };
  static_assert(kMaxCompensation == 1e9, "the message says ±1e9");
  for (const Value& value : values) {
    if (!value.ok) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "frame scan geometry out of range: %s = %g, not %s",
                    value.field, value.v, value.wanted);
      return buf;
    }
  }
  return "";
}

Vec2 ImageCentre(const cv::Size& size) {
  return Vec2(0.5 * (size.width - 1), 0.5 * (size.height - 1));
}

std::array<Vec2, 4> FootprintCorners(const cv::Size& size, double border) {
  const double w = size.width - 1 - border, h = size.height - 1 - border;
  return {Vec2(border, border), Vec2(w, border), Vec2(w, h), Vec2(border, h)};
}

std::string RegistrationIssue(const FrameResult& r,
                              const cv::Size& size,
                              double border,
                              const LatticeModel& model) {
  char buf[240];
  const Mat3& h = r.image_from_model;
  const Mat3 model_from_image = h.inverse();
  if (!h.allFinite() || !model_from_image.allFinite()) {
    std::snprintf(buf, sizeof buf,
                  "frame registration out of range: image_from_model is "
                  "%s, no finite map from the image to the model",
                  h.allFinite() ? "singular" : "not finite");
    return buf;
  }
  const std::array<Vec2, 4> c = FootprintCorners(size, border);
  for (const Vec2& p : {ImageCentre(size), c[0], c[1], c[2], c[3]}) {
    const Vec2 m = Apply(model_from_image, p);
    const Vec2 u = model.LatticeFromModel(m);
    if (!(m.allFinite() && u.allFinite() &&
          std::abs(u.x()) <= Limits::kMaxCellIndex / 2 &&
          std::abs(u.y()) <= Limits::kMaxCellIndex / 2)) {
      std::snprintf(buf, sizeof buf,
                    "frame registration out of range: image_from_model "
                    "maps pixel (%g, %g) to (%g, %g) nm in the model, not a "
                    "finite position within the lattice index range ±%d cells",
                    p.x(), p.y(), m.x(), m.y(), Limits::kMaxCellIndex / 2);
      return buf;
    }
  }
  return "";
}

bool Inside(const Vec2& p, const cv::Size& size, double border) {
  return std::isfinite(p.x()) && std::isfinite(p.y()) && p.x() >= border &&
         p.y() >= border && p.x() <= size.width - 1 - border &&
         p.y() <= size.height - 1 - border;
}

FrameView::FrameView(const Frame& f, const FrameResult& r, double t0)
    : frame(&f), result(&r), scan(f) {
  image_from_model = r.image_from_model;
  model_from_image = image_from_model.inverse();
  start_s = std::isfinite(f.acquired_unix_s) && f.acquired_unix_s > 0 && t0 > 0
                ? f.acquired_unix_s - t0
                : 0.0;
  comp_velocity = f.drift_compensation_nm_per_s;
  comp_offset = f.drift_compensation_offset_nm;
}

FrameSites SelectSites(const FrameView& view,
                       const LatticeModel& model,
                       double border_px,
                       double min_site_confidence) {
  FrameSites out;
  for (const AdatomSite& a : view.result->sites.adatoms) {
    if (!Inside(a.p_px, view.size(), border_px)) continue;
    if (a.confidence < min_site_confidence) {
      out.undecided.push_back(&a);
      continue;
    }
    int basis = -1;
    for (size_t k = 0; k < model.sites.size(); ++k) {
      if (model.sites[k].half == a.half &&
          model.sites[k].code_index == a.code_index) {
        basis = static_cast<int>(k);
      }
    }
    if (basis >= 0) out.used.push_back({&a, basis});
  }
  return out;
}

}  // namespace anchord::internal
