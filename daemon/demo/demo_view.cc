#include "daemon/demo/demo_view.h"

#include "anchord/io/image_io.h"
#include "anchord/util/check.h"

#include "daemon/common/clock.h"
#include "daemon/offline/overlay.h"
#include "daemon/wire/wire.h"
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>
#include <zmq_addon.hpp>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <ostream>
#include <utility>

namespace anchord::daemon {
namespace {

// BGR marker colours, as in daemon/overlay.cc.
const cv::Scalar kCyan(255, 255, 0);
const cv::Scalar kGreen(0, 255, 0);
const cv::Scalar kRed(0, 0, 255);

// Distance between neighbouring adatoms of the 7×7 reconstruction
// (2 × 0.384 nm), nm; marker sizes are fractions of it, as in
// daemon/overlay.cc.
constexpr double kAdatomSpacingNm = 0.768;
constexpr double kAdatomDotFraction = 0.15;
constexpr double kVacancyFraction = 0.4;
constexpr double kCornerHoleFraction = 0.45;

// Fractional bits of OpenCV's fixed-point drawing coordinates.
constexpr int kShift = 4;
constexpr double kFixedOne = 1 << kShift;

// A sequence this far behind the newest one is forgotten, finished or not.
constexpr uint64_t kMaxPendingBehind = 32;
// Longest status message shown in a row, characters.
constexpr size_t kMaxMessageChars = 70;

// Draws on the upscaled corrected grid in model nm.
struct ModelCanvas {
  cv::Mat3b image;
  int scale = 1;
  double x0_nm = 0, y0_nm = 0, pixel_nm = 1;
  double spacing_px = 1;  // adatom spacing on the canvas
  int thickness = 1;

  // Model point → fixed-point canvas point: corrected column u, row v show
  // (x0 + u·pixel_nm, y0 − v·pixel_nm); pixel centres at integers.
  cv::Point At(double x_nm, double y_nm) const {
    const double u = (x_nm - x0_nm) / pixel_nm;
    const double v = (y0_nm - y_nm) / pixel_nm;
    return cv::Point(cvRound(((u + 0.5) * scale - 0.5) * kFixedOne),
                     cvRound(((v + 0.5) * scale - 0.5) * kFixedOne));
  }
  int Length(double canvas_px) const { return cvRound(canvas_px * kFixedOne); }
};

void DrawVacancy(ModelCanvas& canvas, const cv::Point& c) {
  const double radius = kVacancyFraction * canvas.spacing_px;
  const int arm = canvas.Length(radius / std::sqrt(2.0));
  cv::circle(canvas.image, c, canvas.Length(radius), kRed, canvas.thickness,
             cv::LINE_AA, kShift);
  cv::line(canvas.image, c + cv::Point(-arm, -arm), c + cv::Point(arm, arm),
           kRed, canvas.thickness, cv::LINE_AA, kShift);
  cv::line(canvas.image, c + cv::Point(-arm, arm), c + cv::Point(arm, -arm),
           kRed, canvas.thickness, cv::LINE_AA, kShift);
}

void DrawSites(ModelCanvas& canvas, const v1::Sites& sites) {
  const double dot = std::max(1.5, kAdatomDotFraction * canvas.spacing_px);
  for (const v1::Adatom& a : sites.adatoms()) {
    const cv::Point p = canvas.At(a.x_nm(), a.y_nm());
    if (a.occupied()) {
      cv::circle(canvas.image, p, canvas.Length(dot), kGreen, cv::FILLED,
                 cv::LINE_AA, kShift);
    } else {
      DrawVacancy(canvas, p);
    }
  }
}

void DrawCornerHoles(ModelCanvas& canvas,
                     const v1::RegistrationResult& registration) {
  const int radius = canvas.Length(kCornerHoleFraction * canvas.spacing_px);
  for (const v1::CornerHole& h : registration.corner_holes()) {
    cv::circle(canvas.image, canvas.At(h.x_nm(), h.y_nm()), radius, kCyan,
               h.detected() ? canvas.thickness : 1, cv::LINE_AA, kShift);
  }
}

const char* StatusName(v1::ResultStatus status) {
  switch (status) {
    case v1::RESULT_STATUS_OK:
      return "ok";
    case v1::RESULT_STATUS_NO_LATTICE:
      return "no_lattice";
    case v1::RESULT_STATUS_INVALID_INPUT:
      return "invalid_input";
    case v1::RESULT_STATUS_INTERNAL_ERROR:
      return "internal_error";
    default:
      return "unspecified";
  }
}

// "+1.800,+0.900 P": velocity in nm/min and how the frame was placed.
std::string DriftText(const v1::DriftEstimate& drift) {
  const char* placed = "-";
  switch (drift.placement_method()) {
    case v1::PLACEMENT_METHOD_FIRST:
      placed = "F";
      break;
    case v1::PLACEMENT_METHOD_PREDICTION:
      placed = "P";
      break;
    case v1::PLACEMENT_METHOD_CODES:
      placed = "C";
      break;
    default:
      break;
  }
  if (!drift.valid()) return std::string("n/a           ") + placed;
  char text[48];
  std::snprintf(text, sizeof text, "%+.3f,%+.3f %s",
                60 * drift.velocity_x_nm_per_s(),
                60 * drift.velocity_y_nm_per_s(), placed);
  return text;
}

// The value at quantile q of `values` (nearest rank); 0 when empty.
double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  const auto nth =
      values.begin() + static_cast<long>(q * (values.size() - 1) + 0.5);
  std::nth_element(values.begin(), nth, values.end());
  return *nth;
}

std::string FileName(const std::string& dir,
                     const char* stem,
                     uint64_t frame_id,
                     const char* extension) {
  char name[64];
  std::snprintf(name, sizeof name, "%s-%06llu.%s", stem,
                static_cast<unsigned long long>(frame_id), extension);
  return (std::filesystem::path(dir) / name).string();
}

}  // namespace

Status CorrectedPixels(const v1::CorrectedFrame& corrected, cv::Mat1f* out) {
  const uint64_t count =
      static_cast<uint64_t>(corrected.width()) * corrected.height();
  if (corrected.pixels().size() != count * sizeof(float) || count == 0) {
    return Status::InvalidInput(
        "corrected frame: " + std::to_string(corrected.pixels().size()) +
        " bytes for " + std::to_string(corrected.width()) + "x" +
        std::to_string(corrected.height()) + " float32 pixels");
  }
  cv::Mat1f image(static_cast<int>(corrected.height()),
                  static_cast<int>(corrected.width()));
  const auto* bytes =
      reinterpret_cast<const unsigned char*>(corrected.pixels().data());
  for (uint64_t k = 0; k < count; ++k) {
    const unsigned char* b = bytes + 4 * k;
    const uint32_t bits = uint32_t{b[0]} | uint32_t{b[1]} << 8 |
                          uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
    image(static_cast<int>(k / corrected.width()),
          static_cast<int>(k % corrected.width())) = std::bit_cast<float>(bits);
  }
  *out = image;
  return Status::Ok();
}

cv::Mat3b RenderCorrectedOverlay(const cv::Mat1f& pixels,
                                 const v1::CorrectedFrame& corrected,
                                 const v1::Sites& sites,
                                 const v1::RegistrationResult& registration) {
  ANCHORD_CHECK(pixels.cols == static_cast<int>(corrected.width()) &&
                pixels.rows == static_cast<int>(corrected.height()))
      << "pixels do not match the corrected frame's size";
  ModelCanvas canvas;
  canvas.scale = OverlayUpscale(pixels.cols, pixels.rows);
  canvas.x0_nm = corrected.x0_nm();
  canvas.y0_nm = corrected.y0_nm();
  canvas.pixel_nm = corrected.pixel_nm();
  canvas.spacing_px = kAdatomSpacingNm / canvas.pixel_nm * canvas.scale;
  canvas.thickness = std::max(1, cvRound(canvas.spacing_px / 12));
  cv::Mat1b grey = NormaliseToGrey(pixels);
  if (canvas.scale != 1) {
    cv::resize(grey, grey, cv::Size(), canvas.scale, canvas.scale,
               cv::INTER_LINEAR);
  }
  cv::cvtColor(grey, canvas.image, cv::COLOR_GRAY2BGR);
  DrawCornerHoles(canvas, registration);
  DrawSites(canvas, sites);
  return canvas.image;
}

DemoView::DemoView(zmq::context_t& context,
                   const std::string& results_endpoint,
                   std::string out_dir,
                   std::ostream& out)
    : socket_(context, zmq::socket_type::sub),
      out_dir_(std::move(out_dir)),
      out_(out) {
  socket_.set(zmq::sockopt::linger, 0);
  for (std::string_view topic :
       {kTopicRegistration, kTopicCorrected, kTopicSites, kTopicDrift}) {
    socket_.set(zmq::sockopt::subscribe, topic);
  }
  socket_.connect(results_endpoint);
}

void DemoView::PrintHeader() {
  out_ << " frame   seq  status          lat ms   e2e ms  drift nm/min     "
          " adatoms  vacancies  resid nm\n"
       << std::flush;
}

void DemoView::Poll(std::chrono::milliseconds timeout) {
  zmq::pollitem_t item{static_cast<void*>(socket_), 0, ZMQ_POLLIN, 0};
  try {
    zmq::poll(&item, 1, timeout);
    if (!(item.revents & ZMQ_POLLIN)) return;
    for (;;) {
      std::vector<zmq::message_t> parts;
      const auto got = zmq::recv_multipart(socket_, std::back_inserter(parts),
                                           zmq::recv_flags::dontwait);
      if (!got) return;
      if (parts.size() == 2) Handle(parts[0].to_string(), parts[1].to_string());
    }
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;  // a signal: the caller decides
  }
}

void DemoView::Handle(const std::string& topic, const std::string& payload) {
  uint64_t sequence = 0;
  if (topic == kTopicRegistration) {
    v1::RegistrationResult m;
    if (!m.ParseFromString(payload)) return;
    sequence = m.sequence();
    pending_[sequence].registration = std::move(m);
    pending_[sequence].received_unix_ns = NowUnixNs();
  } else if (topic == kTopicDrift) {
    v1::DriftEstimate m;
    if (!m.ParseFromString(payload)) return;
    sequence = m.sequence();
    pending_[sequence].drift = std::move(m);
  } else if (topic == kTopicCorrected) {
    v1::CorrectedFrame m;
    if (!m.ParseFromString(payload)) return;
    sequence = m.sequence();
    pending_[sequence].corrected = std::move(m);
  } else if (topic == kTopicSites) {
    v1::Sites m;
    if (!m.ParseFromString(payload)) return;
    sequence = m.sequence();
    pending_[sequence].sites = std::move(m);
  } else {
    return;
  }
  Advance(sequence);
  Prune(sequence);
}

void DemoView::Advance(uint64_t sequence) {
  Pending& p = pending_[sequence];
  if (!p.registration) return;
  if (!p.row_done && p.drift) {
    PrintRow(p);
    p.row_done = true;
  }
  const bool registered = p.registration->status() == v1::RESULT_STATUS_OK;
  if (!p.files_done && (!registered || (p.corrected && p.sites))) {
    if (registered) WriteFiles(p);
    p.files_done = true;
  }
  if (p.row_done && p.files_done) pending_.erase(sequence);
}

void DemoView::PrintRow(const Pending& p) {
  const v1::RegistrationResult& r = *p.registration;
  const char* status = StatusName(r.status());
  ++rows_;
  ++status_counts_[status];
  latencies_ms_.push_back(r.latency_ms());
  const double e2e_ms = r.received_unix_ns() > 0
                            ? 1e-6 * static_cast<double>(p.received_unix_ns -
                                                         r.received_unix_ns())
                            : NAN;
  char line[256];
  if (r.status() == v1::RESULT_STATUS_OK) {
    std::snprintf(line, sizeof line,
                  "%6llu %5llu  %-14s %7.1f  %7.1f  %-17s %8u %10u %9.4f",
                  static_cast<unsigned long long>(r.frame_id()),
                  static_cast<unsigned long long>(r.sequence()), status,
                  r.latency_ms(), e2e_ms, DriftText(*p.drift).c_str(),
                  r.adatoms(), r.vacancies(), r.lattice().residual_rms_nm());
  } else {
    std::snprintf(line, sizeof line,
                  "%6llu %5llu  %-14s %7.1f  %7.1f  %-17s  %.*s",
                  static_cast<unsigned long long>(r.frame_id()),
                  static_cast<unsigned long long>(r.sequence()), status,
                  r.latency_ms(), e2e_ms, DriftText(*p.drift).c_str(),
                  static_cast<int>(kMaxMessageChars), r.message().c_str());
  }
  out_ << line << '\n' << std::flush;
}

void DemoView::WriteFiles(const Pending& p) {
  const uint64_t id = p.registration->frame_id();
  cv::Mat1f pixels;
  Status s = CorrectedPixels(*p.corrected, &pixels);
  if (s.ok()) {
    s = WriteFloatTiff(FileName(out_dir_, "corrected", id, "tiff"), pixels);
  }
  if (s.ok()) {
    const std::string path = FileName(out_dir_, "overlay", id, "png");
    const cv::Mat3b overlay =
        RenderCorrectedOverlay(pixels, *p.corrected, *p.sites, *p.registration);
    if (!cv::imwrite(path, overlay)) {
      s = Status::Internal("cannot write overlay " + path);
    }
  }
  if (s.ok()) {
    ++files_written_;
    return;
  }
  files_ok_ = false;
  spdlog::error("[demo] frame {}: {}", id, s.message());
}

void DemoView::Prune(uint64_t newest) {
  while (!pending_.empty() &&
         pending_.begin()->first + kMaxPendingBehind < newest) {
    pending_.erase(pending_.begin());
  }
}

void DemoView::PrintSummary() {
  out_ << "\n" << rows_ << " results:";
  const char* separator = " ";
  for (const auto& [status, count] : status_counts_) {
    out_ << separator << count << ' ' << status;
    separator = ", ";
  }
  char line[160];
  std::snprintf(line, sizeof line,
                "\ndaemon latency ms: p50 %.1f, p90 %.1f, max %.1f\n",
                Quantile(latencies_ms_, 0.5), Quantile(latencies_ms_, 0.9),
                Quantile(latencies_ms_, 1.0));
  out_ << line << files_written_ << " corrected frames (corrected-*.tiff) and "
       << "overlays (overlay-*.png) in " << out_dir_ << '\n'
       << std::flush;
}

}  // namespace anchord::daemon
