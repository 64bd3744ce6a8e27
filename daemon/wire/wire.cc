#include "daemon/wire/wire.h"

#include "anchord/util/check.h"
#include "anchord/util/frame.h"
#include "anchord/util/validation.h"

#include "daemon/common/session_name.h"
#include "daemon/wire/little_endian.h"

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <limits>
#include <new>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

namespace anchord::daemon {
namespace {

// ---------------------------------------------------------------------------
// Little-endian pixel bytes
// ---------------------------------------------------------------------------

// A pixel value as float32. Finite doubles beyond the float range become
// ±Inf explicitly (a plain cast would be undefined behaviour).
template <typename T>
float ToFloat(T value) {
  if constexpr (std::is_same_v<T, double>) {
    constexpr double kMax = std::numeric_limits<float>::max();
    if (value > kMax) return std::numeric_limits<float>::infinity();
    if (value < -kMax) return -std::numeric_limits<float>::infinity();
  }
  return static_cast<float>(value);
}

// Converts width × height little-endian T values into `image` (allocated
// by the caller, continuous).
template <typename T>
void ConvertPixels(const std::string& bytes, cv::Mat1f& image) {
  const char* p = bytes.data();
  float* dst = image.ptr<float>(0);
  const size_t n = image.total();
  if constexpr (std::is_same_v<T, float> &&
                std::endian::native == std::endian::little) {
    std::memcpy(dst, p, n * sizeof(float));
  } else {
    for (size_t k = 0; k < n; ++k, p += sizeof(T)) {
      dst[k] = ToFloat(LoadLittleEndian<T>(p));
    }
  }
}

// Bytes per pixel of a known pixel type; 0 for unspecified or unknown.
size_t BytesPerPixel(int pixel_type) {
  switch (pixel_type) {
    case v1::PIXEL_TYPE_FLOAT32:
      return 4;
    case v1::PIXEL_TYPE_FLOAT64:
      return 8;
    case v1::PIXEL_TYPE_INT16:
    case v1::PIXEL_TYPE_UINT16:
      return 2;
    case v1::PIXEL_TYPE_INT32:
      return 4;
    default:
      return 0;
  }
}

// Dispatches the conversion on the (validated) pixel type.
void ConvertPixels(const v1::Frame& msg, cv::Mat1f& image) {
  switch (msg.pixel_type()) {
    case v1::PIXEL_TYPE_FLOAT32:
      return ConvertPixels<float>(msg.pixels(), image);
    case v1::PIXEL_TYPE_FLOAT64:
      return ConvertPixels<double>(msg.pixels(), image);
    case v1::PIXEL_TYPE_INT16:
      return ConvertPixels<int16_t>(msg.pixels(), image);
    case v1::PIXEL_TYPE_UINT16:
      return ConvertPixels<uint16_t>(msg.pixels(), image);
    case v1::PIXEL_TYPE_INT32:
      return ConvertPixels<int32_t>(msg.pixels(), image);
    default:
      ANCHORD_CHECK(false) << "pixel type " << msg.pixel_type()
                           << " passed validation";
  }
}

// ---------------------------------------------------------------------------
// Frame validation
// ---------------------------------------------------------------------------

// Violations joined on one line ("frame.width = 0. Violated …; frame.…"):
// a frame's message travels in a result and a log line.
Status OneLine(const Status& status) {
  if (status.ok()) return status;
  std::string message = status.message();
  for (size_t at = message.find('\n'); at != std::string::npos;
       at = message.find('\n', at)) {
    message.replace(at, 1, "; ");
  }
  return {status.code(), std::move(message)};
}

std::string Range(double lo, double hi) {
  std::ostringstream s;
  s << "in [" << lo << ", " << hi << "]";
  return s.str();
}

bool SideInRange(uint32_t side_px, const FrameLimits& limits) {
  return side_px >= static_cast<uint32_t>(limits.min_side_px) &&
         side_px <= static_cast<uint32_t>(limits.max_side_px);
}

void CheckSides(const v1::Frame& msg,
                const FrameLimits& limits,
                Violations& v) {
  const std::string range = Range(limits.min_side_px, limits.max_side_px);
  v.Require(SideInRange(msg.width(), limits), "width", msg.width(),
            range.c_str());
  v.Require(SideInRange(msg.height(), limits), "height", msg.height(),
            range.c_str());
}

void CheckEnums(const v1::Frame& msg, Violations& v) {
  v.Require(BytesPerPixel(msg.pixel_type()) > 0, "pixel_type",
            static_cast<int>(msg.pixel_type()),
            "one of 1 (FLOAT32), 2 (FLOAT64), 3 (INT16), 4 (UINT16), "
            "5 (INT32)");
  v.Require(v1::SlowScan_IsValid(msg.slow_scan()), "slow_scan",
            static_cast<int>(msg.slow_scan()),
            "one of 0 (unspecified), 1 (DOWN), 2 (UP)");
  v.Require(v1::FastScan_IsValid(msg.fast_scan()), "fast_scan",
            static_cast<int>(msg.fast_scan()),
            "one of 0 (unspecified), 1 (FORWARD), 2 (BACKWARD)");
}

void CheckPixelSizes(const v1::Frame& msg,
                     const FrameLimits& limits,
                     Violations& v) {
  const std::string range = Range(limits.min_pixel_nm, limits.max_pixel_nm);
  const auto in_range = [&](double nm) {
    return nm >= limits.min_pixel_nm && nm <= limits.max_pixel_nm;
  };
  v.Require(in_range(msg.pixel_size_x_nm()), "pixel_size_x_nm",
            msg.pixel_size_x_nm(), range.c_str());
  v.Require(in_range(msg.pixel_size_y_nm()), "pixel_size_y_nm",
            msg.pixel_size_y_nm(), range.c_str());
}

// `value` in [lo, hi] (false for NaN), as a violation named `key`.
void RequireIn(
    Violations& v, const char* key, double value, double lo, double hi) {
  v.Require(value >= lo && value <= hi, key, value, Range(lo, hi).c_str());
}

// The frame's times, angle, offsets, bias and drift compensation against
// their physical ranges (FrameRanges).
void CheckPhysicalRanges(const v1::Frame& msg, Violations& v) {
  using R = FrameRanges;
  v.Require(msg.acquired_unix_ns() >= 0 &&
                msg.acquired_unix_ns() <= R::kMaxAcquiredUnixNs,
            "acquired_unix_ns", msg.acquired_unix_ns(),
            ("in [0, " + std::to_string(R::kMaxAcquiredUnixNs) +
             "] (before 2200-01-01)")
                .c_str());
  RequireIn(v, "scan_angle_deg", msg.scan_angle_deg(), -R::kMaxScanAngleDeg,
            R::kMaxScanAngleDeg);
  RequireIn(v, "scan_offset_x_nm", msg.scan_offset_x_nm(), -R::kMaxScannerNm,
            R::kMaxScannerNm);
  RequireIn(v, "scan_offset_y_nm", msg.scan_offset_y_nm(), -R::kMaxScannerNm,
            R::kMaxScannerNm);
  RequireIn(v, "line_time_s", msg.line_time_s(), 0, R::kMaxLineTimeS);
  RequireIn(v, "bias_v", msg.bias_v(), -R::kMaxBiasV, R::kMaxBiasV);
  RequireIn(v, "drift_compensation_x_nm_per_s",
            msg.drift_compensation_x_nm_per_s(), -R::kMaxDriftNmPerS,
            R::kMaxDriftNmPerS);
  RequireIn(v, "drift_compensation_y_nm_per_s",
            msg.drift_compensation_y_nm_per_s(), -R::kMaxDriftNmPerS,
            R::kMaxDriftNmPerS);
  RequireIn(v, "drift_compensation_offset_x_nm",
            msg.drift_compensation_offset_x_nm(), -R::kMaxScannerNm,
            R::kMaxScannerNm);
  RequireIn(v, "drift_compensation_offset_y_nm",
            msg.drift_compensation_offset_y_nm(), -R::kMaxScannerNm,
            R::kMaxScannerNm);
}

// The byte count against width × height × bytes per pixel, when sides and
// pixel type are valid (else the expected count is unknown).
void CheckByteCount(const v1::Frame& msg,
                    const FrameLimits& limits,
                    Violations& v) {
  if (!SideInRange(msg.width(), limits) || !SideInRange(msg.height(), limits) ||
      BytesPerPixel(msg.pixel_type()) == 0) {
    return;
  }
  const size_t bpp = BytesPerPixel(msg.pixel_type());
  const uint64_t expected =
      static_cast<uint64_t>(msg.width()) * msg.height() * bpp;
  const std::string constraint = "== width × height × " + std::to_string(bpp) +
                                 " (" + v1::PixelType_Name(msg.pixel_type()) +
                                 ") = " + std::to_string(msg.width()) + " × " +
                                 std::to_string(msg.height()) + " × " +
                                 std::to_string(bpp) + " = " +
                                 std::to_string(expected) + " bytes";
  v.Require(msg.pixels().size() == expected, "pixels",
            std::to_string(msg.pixels().size()) + " bytes", constraint.c_str());
}

// The NaN/Inf share of a converted image within its scanned rows
// (anchord::ScannedRows) against the limit: the unscanned rows of a frame
// stopped early are not counted; a frame without a scanned row is refused.
void CheckNonFinite(const cv::Mat1f& image,
                    const FrameLimits& limits,
                    Violations& v) {
  const auto [begin, end] = ScannedRows(image);
  std::ostringstream constraint;
  constraint << "<= " << limits.max_nonfinite_fraction
             << " within the scanned rows (from the first to the last row "
                "with at least half its pixels finite)";
  if (begin == end) {
    v.Require(false, "nonfinite_fraction",
              "1 (no row has half its pixels finite)",
              constraint.str().c_str());
    return;
  }
  size_t bad = 0;
  for (int r = begin; r < end; ++r) {
    const float* row = image.ptr<float>(r);
    for (int c = 0; c < image.cols; ++c) bad += !std::isfinite(row[c]);
  }
  const size_t scanned = static_cast<size_t>(end - begin) * image.cols;
  const double share = static_cast<double>(bad) / static_cast<double>(scanned);
  std::ostringstream value;
  value << share << " (" << bad << " of " << scanned
        << " pixels NaN or Inf in rows " << begin << "–" << end << " of "
        << image.rows << ")";
  v.Require(share <= limits.max_nonfinite_fraction, "nonfinite_fraction",
            value.str(), constraint.str().c_str());
}

// ---------------------------------------------------------------------------
// Frame metadata
// ---------------------------------------------------------------------------

// "2024-05-01T12:00:00.123Z" for ns since the epoch; "" for <= 0.
std::string IsoUtc(int64_t unix_ns) {
  if (unix_ns <= 0) return "";
  const std::time_t seconds = static_cast<std::time_t>(unix_ns / 1000000000);
  const int64_t millis = (unix_ns % 1000000000) / 1000000;
  std::tm utc{};
  if (gmtime_r(&seconds, &utc) == nullptr) return "";
  char text[40];
  const size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  char out[64];
  std::snprintf(out, sizeof(out), "%.*s.%03dZ", static_cast<int>(n), text,
                static_cast<int>(millis));
  return out;
}

// Start of each canonical row's trace after the frame start, s (see
// DecodeFrame); empty when the order or the line time is unknown.
std::vector<double> LineTimes(const v1::Frame& msg) {
  if (msg.slow_scan() == v1::SLOW_SCAN_UNSPECIFIED ||
      !(msg.line_time_s() > 0)) {
    return {};
  }
  const int rows = static_cast<int>(msg.height());
  const double trace_start_s =
      msg.fast_scan() == v1::FAST_SCAN_BACKWARD ? 0.5 * msg.line_time_s() : 0.0;
  std::vector<double> times(static_cast<size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    const int order = msg.slow_scan() == v1::SLOW_SCAN_UP ? rows - 1 - r : r;
    times[static_cast<size_t>(r)] = order * msg.line_time_s() + trace_start_s;
  }
  return times;
}

const char* DirectionName(v1::FastScan fast_scan) {
  switch (fast_scan) {
    case v1::FAST_SCAN_FORWARD:
      return "forward";
    case v1::FAST_SCAN_BACKWARD:
      return "backward";
    default:
      return "";
  }
}

void CopyIds(const v1::Frame& msg, InboundFrame* out) {
  out->frame_id = msg.frame_id();
  out->instrument = msg.instrument();
  out->session = SessionOrDefault(msg.session());
  out->acquired_unix_ns = msg.acquired_unix_ns();
}

void CopyMetadata(const v1::Frame& msg, const InboundFrame& ids, Frame* frame) {
  frame->pixel_size_x_nm = msg.pixel_size_x_nm();
  frame->pixel_size_y_nm = msg.pixel_size_y_nm();
  frame->source =
      ids.instrument + "/" + ids.session + "#" + std::to_string(ids.frame_id);
  frame->channel = msg.channel();
  frame->feedback_error = msg.feedback_error();
  frame->scan_angle_deg = msg.scan_angle_deg();
  frame->scan_offset_x_nm = msg.scan_offset_x_nm();
  frame->scan_offset_y_nm = msg.scan_offset_y_nm();
  frame->line_time_s = msg.line_time_s();
  frame->line_times_s = LineTimes(msg);
  frame->bias_v = msg.bias_v();
  frame->direction = DirectionName(msg.fast_scan());
  frame->acquired_at = IsoUtc(ids.acquired_unix_ns);
  frame->acquired_unix_s = static_cast<double>(ids.acquired_unix_ns) * 1e-9;
  frame->drift_compensation_nm_per_s = Vec2(
      msg.drift_compensation_x_nm_per_s(), msg.drift_compensation_y_nm_per_s());
  frame->drift_compensation_offset_nm =
      Vec2(msg.drift_compensation_offset_x_nm(),
           msg.drift_compensation_offset_y_nm());
}

// Validation and conversion of a parsed message; fills out->frame on kOk.
Status ValidateAndConvert(const v1::Frame& msg,
                          const FrameLimits& limits,
                          InboundFrame* out) {
  Violations v("frame");
  CheckSides(msg, limits, v);
  CheckEnums(msg, v);
  CheckPixelSizes(msg, limits, v);
  CheckPhysicalRanges(msg, v);
  if (std::optional<std::string> error = SessionNameError(out->session)) {
    v.Require(false, "session", SanitizedForLog(out->session),
              ("a valid session name; it " + *error).c_str());
  }
  CheckByteCount(msg, limits, v);
  Status status = v.ToStatus();
  if (!status.ok()) return OneLine(status);

  Frame frame;
  frame.image.create(static_cast<int>(msg.height()),
                     static_cast<int>(msg.width()));
  ConvertPixels(msg, frame.image);
  CheckNonFinite(frame.image, limits, v);
  status = v.ToStatus();
  if (!status.ok()) return OneLine(status);

  CopyMetadata(msg, *out, &frame);
  out->frame = std::move(frame);
  return Status::Ok();
}

}  // namespace

// ---------------------------------------------------------------------------
// Public functions
// ---------------------------------------------------------------------------

Status FrameLimits::Validate() const {
  Violations v("limits");
  v.Require(min_side_px >= 16, "min_side_px", min_side_px, ">= 16");
  v.Require(max_side_px >= min_side_px && max_side_px <= 65536, "max_side_px",
            max_side_px, "in [limits.min_side_px, 65536]");
  v.Require(min_pixel_nm > 0, "min_pixel_nm", min_pixel_nm, "> 0");
  v.Require(max_pixel_nm > min_pixel_nm && max_pixel_nm <= 1e4, "max_pixel_nm",
            max_pixel_nm, "in (limits.min_pixel_nm, 1e4]");
  v.Require(max_nonfinite_fraction >= 0 && max_nonfinite_fraction <= 1,
            "max_nonfinite_fraction", max_nonfinite_fraction, "in [0, 1]");
  return v.ToStatus();
}

Status DecodeFrame(std::string_view bytes,
                   const FrameLimits& limits,
                   InboundFrame* out) {
  ANCHORD_CHECK(out != nullptr);
  *out = InboundFrame();
  try {
    v1::Frame msg;
    if (bytes.size() > static_cast<size_t>(INT_MAX) ||
        !msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return Status::InvalidInput(
          "frame: not a valid anchord.v1.Frame message (" +
          std::to_string(bytes.size()) + " bytes)");
    }
    CopyIds(msg, out);
    return ValidateAndConvert(msg, limits, out);
  } catch (const std::bad_alloc&) {
    return Status::Internal("frame: out of memory while decoding " +
                            std::to_string(bytes.size()) + " bytes");
  } catch (const std::exception& e) {
    return Status::Internal(std::string("frame: decoding failed: ") + e.what());
  }
}

v1::Frame FrameToProto(const InboundFrame& in) {
  const Frame& f = in.frame;
  v1::Frame msg;
  msg.set_frame_id(in.frame_id);
  msg.set_instrument(in.instrument);
  msg.set_session(in.session);
  msg.set_acquired_unix_ns(in.acquired_unix_ns);
  msg.set_width(static_cast<uint32_t>(f.image.cols));
  msg.set_height(static_cast<uint32_t>(f.image.rows));
  msg.set_pixel_type(v1::PIXEL_TYPE_FLOAT32);
  AppendFloat32LittleEndian(f.image, msg.mutable_pixels());
  msg.set_pixel_size_x_nm(f.pixel_size_x_nm);
  msg.set_pixel_size_y_nm(f.pixel_size_y_nm);
  msg.set_scan_angle_deg(f.scan_angle_deg);
  msg.set_scan_offset_x_nm(f.scan_offset_x_nm);
  msg.set_scan_offset_y_nm(f.scan_offset_y_nm);
  const std::vector<double>& t = f.line_times_s;
  if (t.size() >= 2 && std::is_sorted(t.begin(), t.end()) &&
      t.front() < t.back()) {
    msg.set_slow_scan(v1::SLOW_SCAN_DOWN);
  } else if (t.size() >= 2 && std::is_sorted(t.rbegin(), t.rend()) &&
             t.back() < t.front()) {
    msg.set_slow_scan(v1::SLOW_SCAN_UP);
  }
  if (f.direction == "forward") msg.set_fast_scan(v1::FAST_SCAN_FORWARD);
  if (f.direction == "backward") msg.set_fast_scan(v1::FAST_SCAN_BACKWARD);
  msg.set_line_time_s(f.line_time_s);
  msg.set_channel(f.channel);
  msg.set_bias_v(f.bias_v);
  msg.set_feedback_error(f.feedback_error);
  msg.set_drift_compensation_x_nm_per_s(f.drift_compensation_nm_per_s.x());
  msg.set_drift_compensation_y_nm_per_s(f.drift_compensation_nm_per_s.y());
  msg.set_drift_compensation_offset_x_nm(f.drift_compensation_offset_nm.x());
  msg.set_drift_compensation_offset_y_nm(f.drift_compensation_offset_nm.y());
  return msg;
}

std::string EncodeFrame(const InboundFrame& in) {
  return FrameToProto(in).SerializeAsString();
}

Status ValidateFindDefects(const v1::QueryRequest::FindDefects& q) {
  Violations v("query: find_defects");
  v.Require(v1::DefectKind_IsValid(q.kind()), "kind",
            static_cast<int>(q.kind()),
            "one of 0 (any), 1 (VACANCY), 2 (OFF_LATTICE)");
  if (q.has_rect()) {
    const auto& r = q.rect();
    for (const auto& [name, value] : {std::pair{"rect.x0_nm", r.x0_nm()},
                                      std::pair{"rect.y0_nm", r.y0_nm()},
                                      std::pair{"rect.x1_nm", r.x1_nm()},
                                      std::pair{"rect.y1_nm", r.y1_nm()}}) {
      v.Require(std::isfinite(value), name, value, "finite");
    }
  }
  if (q.has_disc()) {
    const auto& d = q.disc();
    v.Require(std::isfinite(d.x_nm()), "disc.x_nm", d.x_nm(), "finite");
    v.Require(std::isfinite(d.y_nm()), "disc.y_nm", d.y_nm(), "finite");
    v.Require(std::isfinite(d.radius_nm()) && d.radius_nm() >= 0,
              "disc.radius_nm", d.radius_nm(), "finite and >= 0");
  }
  if (q.has_nearest_to_nm()) {
    const auto& n = q.nearest_to_nm();
    v.Require(std::isfinite(n.x()), "nearest_to_nm.x", n.x(), "finite");
    v.Require(std::isfinite(n.y()), "nearest_to_nm.y", n.y(), "finite");
  }
  return OneLine(v.ToStatus());
}

Status ValidateSitesInRect(const v1::QueryRequest::SitesInRect& q) {
  Violations v("query: sites_in_rect");
  v.Require(std::isfinite(q.x0_px()), "x0_px", q.x0_px(), "finite");
  v.Require(std::isfinite(q.y0_px()), "y0_px", q.y0_px(), "finite");
  v.Require(std::isfinite(q.x1_px()), "x1_px", q.x1_px(), "finite");
  v.Require(std::isfinite(q.y1_px()), "y1_px", q.y1_px(), "finite");
  v.Require(v1::Occupancy_IsValid(q.occupancy()), "occupancy",
            static_cast<int>(q.occupancy()),
            "one of 0 (ANY), 1 (OCCUPIED), 2 (VACANT)");
  v.Require(v1::SiteKind_IsValid(q.kind()), "kind", static_cast<int>(q.kind()),
            "one of 0 (any), 1 (CORNER), 2 (CENTER)");
  return OneLine(v.ToStatus());
}

Status DecodeQuery(std::string_view bytes, v1::QueryRequest* out) {
  ANCHORD_CHECK(out != nullptr);
  out->Clear();
  if (bytes.size() > static_cast<size_t>(INT_MAX) ||
      !out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    out->Clear();
    return Status::InvalidInput(
        "query: not a valid anchord.v1.QueryRequest message (" +
        std::to_string(bytes.size()) + " bytes)");
  }
  switch (out->query_case()) {
    case v1::QueryRequest::kSitesInRect:
      return ValidateSitesInRect(out->sites_in_rect());
    case v1::QueryRequest::kFindDefects:
      return ValidateFindDefects(out->find_defects());
    case v1::QueryRequest::QUERY_NOT_SET:
      return Status::InvalidInput(
          "query: no query set (one of health, latest_result, "
          "sites_in_rect, current_config, latest_drift, find_defects)");
    default:
      return Status::Ok();
  }
}

v1::QueryReply MakeErrorReply(uint64_t request_id, const Status& why) {
  v1::QueryReply out;
  out.set_request_id(request_id);
  out.set_ok(false);
  out.set_message(why.message());
  return out;
}

}  // namespace anchord::daemon
