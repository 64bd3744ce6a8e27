#include "daemon/wire/wire.h"

#include "anchord/quality/metrics.h"
#include "anchord/util/check.h"
#include "anchord/util/validation.h"

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

// Reads one little-endian T at `p` (no alignment required).
template <typename T>
T LoadLittleEndian(const char* p) {
  std::array<char, sizeof(T)> b;
  std::memcpy(b.data(), p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) {
    std::reverse(b.begin(), b.end());
  }
  T value;
  std::memcpy(&value, b.data(), sizeof(T));
  return value;
}

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

// Appends the rows of `image` as little-endian float32 to `out`.
void AppendFloat32LittleEndian(const cv::Mat1f& image, std::string* out) {
  out->reserve(out->size() + image.total() * sizeof(float));
  for (int r = 0; r < image.rows; ++r) {
    const float* row = image.ptr<float>(r);
    if constexpr (std::endian::native == std::endian::little) {
      out->append(reinterpret_cast<const char*>(row),
                  static_cast<size_t>(image.cols) * sizeof(float));
    } else {
      for (int c = 0; c < image.cols; ++c) {
        std::array<char, sizeof(float)> b;
        std::memcpy(b.data(), &row[c], sizeof(float));
        out->append(b.rbegin(), b.rend());
      }
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

void CheckMetadata(const v1::Frame& msg,
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
  v.Require(std::isfinite(msg.scan_angle_deg()), "scan_angle_deg",
            msg.scan_angle_deg(), "finite");
  v.Require(std::isfinite(msg.scan_offset_x_nm()), "scan_offset_x_nm",
            msg.scan_offset_x_nm(), "finite");
  v.Require(std::isfinite(msg.scan_offset_y_nm()), "scan_offset_y_nm",
            msg.scan_offset_y_nm(), "finite");
  v.Require(std::isfinite(msg.line_time_s()) && msg.line_time_s() >= 0,
            "line_time_s", msg.line_time_s(), "finite and >= 0");
  v.Require(std::isfinite(msg.bias_v()), "bias_v", msg.bias_v(), "finite");
  v.Require(std::isfinite(msg.drift_compensation_x_nm_per_s()),
            "drift_compensation_x_nm_per_s",
            msg.drift_compensation_x_nm_per_s(), "finite");
  v.Require(std::isfinite(msg.drift_compensation_y_nm_per_s()),
            "drift_compensation_y_nm_per_s",
            msg.drift_compensation_y_nm_per_s(), "finite");
  v.Require(std::isfinite(msg.drift_compensation_offset_x_nm()),
            "drift_compensation_offset_x_nm",
            msg.drift_compensation_offset_x_nm(), "finite");
  v.Require(std::isfinite(msg.drift_compensation_offset_y_nm()),
            "drift_compensation_offset_y_nm",
            msg.drift_compensation_offset_y_nm(), "finite");
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

// The NaN/Inf share of a converted image against the limit.
void CheckNonFinite(const cv::Mat1f& image,
                    const FrameLimits& limits,
                    Violations& v) {
  size_t bad = 0;
  for (int r = 0; r < image.rows; ++r) {
    const float* row = image.ptr<float>(r);
    for (int c = 0; c < image.cols; ++c) bad += !std::isfinite(row[c]);
  }
  const double share =
      static_cast<double>(bad) / static_cast<double>(image.total());
  std::ostringstream value;
  value << share << " (" << bad << " of " << image.total()
        << " pixels NaN or Inf)";
  std::ostringstream constraint;
  constraint << "<= " << limits.max_nonfinite_fraction;
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
  out->session = msg.session();
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
  CheckMetadata(msg, limits, v);
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

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

void SetVector(const Vec2& p, v1::Vector2* out) {
  out->set_x(p.x());
  out->set_y(p.y());
}

v1::Half ToProtoHalf(Half half) {
  return half == Half::kT1 ? v1::HALF_T1 : v1::HALF_T2;
}

v1::SiteKind ToProtoKind(SiteKind kind) {
  return kind == SiteKind::kCorner ? v1::SITE_KIND_CORNER
                                   : v1::SITE_KIND_CENTER;
}

void SetTiming(const std::vector<std::pair<std::string, double>>& timing_ms,
               v1::RegistrationResult* out) {
  double sum_ms = 0;
  bool has_total = false;
  for (const auto& [stage, ms] : timing_ms) {
    v1::StageTime* t = out->add_timing();
    t->set_stage(stage);
    t->set_ms(ms);
    if (stage == "total") {
      has_total = true;
    } else {
      sum_ms += ms;
    }
  }
  if (!has_total) {
    v1::StageTime* t = out->add_timing();
    t->set_stage("total");
    t->set_ms(sum_ms);
  }
}

void SetCornerHoles(const std::vector<CornerHoleSite>& holes,
                    v1::RegistrationResult* out) {
  out->mutable_corner_holes()->Reserve(static_cast<int>(holes.size()));
  for (const CornerHoleSite& h : holes) {
    v1::CornerHole* hole = out->add_corner_holes();
    hole->set_x_px(h.p_px.x());
    hole->set_y_px(h.p_px.y());
    hole->set_x_nm(h.model_nm.x());
    hole->set_y_nm(h.model_nm.y());
    hole->set_i(h.i);
    hole->set_j(h.j);
    hole->set_detected(h.detected);
  }
}

// H, lattice figures, calibration, corner holes and counts of an ok
// result.
void SetGeometry(const Frame& frame,
                 const FrameResult& result,
                 const LatticeModel& model,
                 v1::RegistrationResult* out) {
  const Mat3& h = result.image_from_model;
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) out->add_image_from_model(h(r, c));
  }
  const LocalLattice local =
      LocalLatticeAtCentre(h, model, static_cast<int>(out->width()),
                           static_cast<int>(out->height()));
  v1::LatticeFigures* lattice = out->mutable_lattice();
  lattice->set_residual_rms_px(result.registration.residual_rms_px);
  lattice->set_residual_rms_nm(result.registration.residual_rms_nm);
  lattice->set_inliers(
      static_cast<uint32_t>(std::max(0, result.registration.inliers)));
  SetVector(local.a1_px, lattice->mutable_a1_px());
  SetVector(local.a2_px, lattice->mutable_a2_px());

  const Calibration c = CalibrationFromHomography(
      h, local.centre_px, frame.pixel_size_x_nm, frame.pixel_size_y_nm);
  v1::Calibration* calibration = out->mutable_calibration();
  calibration->set_scale_x(c.scale_x);
  calibration->set_scale_y(c.scale_y);
  calibration->set_nonorthogonality_deg(c.nonorthogonality_deg);
  calibration->set_rotation_deg(c.rotation_deg);

  SetCornerHoles(result.sites.corner_holes, out);
  out->set_adatoms(static_cast<uint32_t>(result.sites.adatoms.size()));
  out->set_vacancies(
      static_cast<uint32_t>(std::max(0, result.sites.vacancies)));
  out->set_faulted_contrast(result.sites.faulted_contrast);
}

void SetAdatom(const AdatomSite& a, v1::Adatom* out) {
  out->set_x_px(a.p_px.x());
  out->set_y_px(a.p_px.y());
  out->set_x_nm(a.model_nm.x());
  out->set_y_nm(a.model_nm.y());
  out->set_i(a.i);
  out->set_j(a.j);
  out->set_half(ToProtoHalf(a.half));
  out->set_kind(ToProtoKind(a.kind));
  out->set_code_index(static_cast<uint32_t>(std::max(0, a.code_index)));
  out->set_faulted(a.faulted);
  out->set_occupied(a.occupied);
  out->set_confidence(a.confidence);
}

uint32_t ClampU32(size_t n) {
  return static_cast<uint32_t>(
      std::min<size_t>(n, std::numeric_limits<uint32_t>::max()));
}

// ---------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------

bool PassesFilters(const v1::Adatom& a,
                   const v1::QueryRequest::SitesInRect& q) {
  if (q.occupancy() == v1::OCCUPANCY_OCCUPIED && !a.occupied()) return false;
  if (q.occupancy() == v1::OCCUPANCY_VACANT && a.occupied()) return false;
  return q.kind() == v1::SITE_KIND_UNSPECIFIED || q.kind() == a.kind();
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

v1::ResultStatus ToProtoStatus(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return v1::RESULT_STATUS_OK;
    case StatusCode::kNoLattice:
      return v1::RESULT_STATUS_NO_LATTICE;
    case StatusCode::kInvalidInput:
      return v1::RESULT_STATUS_INVALID_INPUT;
    case StatusCode::kInternal:
      return v1::RESULT_STATUS_INTERNAL_ERROR;
  }
  return v1::RESULT_STATUS_INTERNAL_ERROR;
}

v1::RegistrationResult MakeRegistrationResult(const InboundFrame& in,
                                              uint64_t sequence,
                                              const Status& decode_status,
                                              const FrameResult* result,
                                              const LatticeModel& model,
                                              double latency_ms,
                                              int64_t received_unix_ns) {
  v1::RegistrationResult out;
  out.set_frame_id(in.frame_id);
  out.set_instrument(in.instrument);
  out.set_session(in.session);
  out.set_sequence(sequence);
  out.set_acquired_unix_ns(in.acquired_unix_ns);
  out.set_latency_ms(latency_ms);
  out.set_received_unix_ns(received_unix_ns);
  if (!decode_status.ok()) {
    out.set_status(ToProtoStatus(decode_status.code()));
    out.set_message(decode_status.message());
    return out;
  }
  ANCHORD_CHECK(result != nullptr) << "a decoded frame needs its result";
  out.set_status(ToProtoStatus(result->status.code()));
  out.set_message(result->status.message());
  out.set_width(static_cast<uint32_t>(result->width > 0 ? result->width
                                                        : in.frame.image.cols));
  out.set_height(static_cast<uint32_t>(
      result->height > 0 ? result->height : in.frame.image.rows));
  out.set_candidates(static_cast<uint32_t>(std::max(0, result->candidates)));
  out.set_voted_candidates(
      static_cast<uint32_t>(std::max(0, result->voted_candidates)));
  if (result->status.ok()) SetGeometry(in.frame, *result, model, &out);
  SetTiming(result->timing_ms, &out);
  return out;
}

bool HasCorrectedFrame(const FrameResult& result) {
  return result.status.ok() && result.corrected.status.ok() &&
         !result.corrected.image.empty();
}

v1::CorrectedFrame MakeCorrectedFrame(const InboundFrame& in,
                                      uint64_t sequence,
                                      const FrameResult& result) {
  v1::CorrectedFrame out;
  out.set_frame_id(in.frame_id);
  out.set_sequence(sequence);
  if (!HasCorrectedFrame(result)) return out;
  const CorrectedFrame& c = result.corrected;
  out.set_width(static_cast<uint32_t>(c.image.cols));
  out.set_height(static_cast<uint32_t>(c.image.rows));
  out.set_pixel_nm(c.pixel_nm);
  out.set_x0_nm(c.x0_nm);
  out.set_y0_nm(c.y0_nm);
  AppendFloat32LittleEndian(c.image, out.mutable_pixels());
  return out;
}

v1::Sites MakeSites(const InboundFrame& in,
                    uint64_t sequence,
                    const FrameResult& result) {
  v1::Sites out;
  out.set_frame_id(in.frame_id);
  out.set_sequence(sequence);
  if (!result.status.ok()) return out;
  out.mutable_adatoms()->Reserve(static_cast<int>(result.sites.adatoms.size()));
  for (const AdatomSite& a : result.sites.adatoms) {
    SetAdatom(a, out.add_adatoms());
  }
  return out;
}

v1::DriftEstimate MakeDriftEstimate(const InboundFrame& in,
                                    uint64_t sequence,
                                    const TrackResult& track) {
  v1::DriftEstimate out;
  out.set_frame_id(in.frame_id);
  out.set_sequence(sequence);
  out.set_session(in.session);
  const DriftReport& d = track.drift;
  out.set_valid(d.valid);
  out.set_message(d.message);
  if (d.valid) {
    out.set_velocity_x_nm_per_s(d.velocity_nm_per_s.x());
    out.set_velocity_y_nm_per_s(d.velocity_nm_per_s.y());
    out.set_velocity_x_sigma_nm_per_s(d.velocity_sigma_nm_per_s.x());
    out.set_velocity_y_sigma_nm_per_s(d.velocity_sigma_nm_per_s.y());
    out.set_compensation_x_m_per_s(d.velocity_nm_per_s.x() * 1e-9);
    out.set_compensation_y_m_per_s(d.velocity_nm_per_s.y() * 1e-9);
    out.set_creep_rate_x_nm_per_s(d.creep_rate_nm_per_s.x());
    out.set_creep_rate_y_nm_per_s(d.creep_rate_nm_per_s.y());
    out.set_creep_remaining_x_nm(d.creep_remaining_nm.x());
    out.set_creep_remaining_y_nm(d.creep_remaining_nm.y());
    out.set_apparent_x_nm_per_s(d.apparent_velocity_nm_per_s.x());
    out.set_apparent_y_nm_per_s(d.apparent_velocity_nm_per_s.y());
    out.set_next_frame_unix_ns(
        static_cast<int64_t>(std::llround(d.next_frame_unix_s * 1e9)));
    out.set_next_scan_offset_x_nm(d.next_scan_offset_nm.x());
    out.set_next_scan_offset_y_nm(d.next_scan_offset_nm.y());
    out.set_centre_correction_x_nm(d.centre_correction_nm.x());
    out.set_centre_correction_y_nm(d.centre_correction_nm.y());
    out.set_frames_used(static_cast<uint32_t>(d.frames));
    out.set_residual_rms_nm(d.residual_rms_nm);
  }
  const Placement& p = track.placement;
  out.set_placed(p.placed);
  out.set_placement_confidence(p.confidence);
  out.set_placement_message(p.message);
  if (p.placed) {
    switch (p.method) {
      case PlacementMethod::kFirst:
        out.set_placement_method(v1::PLACEMENT_METHOD_FIRST);
        break;
      case PlacementMethod::kPrediction:
        out.set_placement_method(v1::PLACEMENT_METHOD_PREDICTION);
        break;
      case PlacementMethod::kCodes:
        out.set_placement_method(v1::PLACEMENT_METHOD_CODES);
        break;
    }
    out.set_rotation_steps(p.rotation_steps);
    out.set_n1(p.n1);
    out.set_n2(p.n2);
    out.set_centre_session_x_nm(p.centre_session_nm.x());
    out.set_centre_session_y_nm(p.centre_session_nm.y());
  }
  return out;
}

v1::DefectKind ToProtoDefectKind(DefectKind kind) {
  return kind == DefectKind::kVacancy ? v1::DEFECT_KIND_VACANCY
                                      : v1::DEFECT_KIND_OFF_LATTICE;
}

void SetDefect(const DefectRecord& r, const Vec2& p_px, v1::Defect* out) {
  out->set_id(r.id);
  out->set_kind(ToProtoDefectKind(r.kind));
  out->set_x_nm(r.session_nm.x());
  out->set_y_nm(r.session_nm.y());
  out->set_sigma_nm(r.sigma_nm);
  out->set_x_px(p_px.x());
  out->set_y_px(p_px.y());
  out->set_i(r.kind == DefectKind::kVacancy ? r.i : 0);
  out->set_j(r.kind == DefectKind::kVacancy ? r.j : 0);
  out->set_site(r.kind == DefectKind::kVacancy ? r.site : -1);
  out->set_first_seen_unix_ns(r.first_seen_unix_ns);
  out->set_last_seen_unix_ns(r.last_seen_unix_ns);
  out->set_times_seen(r.times_seen);
  out->set_times_observed(r.times_observed);
  out->set_active(r.active());
  out->set_changed_unix_ns(r.changed_unix_ns);
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

DefectQuery ToDefectQuery(const v1::QueryRequest::FindDefects& q,
                          const std::string& session,
                          int64_t max_limit) {
  DefectQuery out;
  out.session = session;
  if (q.kind() == v1::DEFECT_KIND_VACANCY) out.kind = DefectKind::kVacancy;
  if (q.kind() == v1::DEFECT_KIND_OFF_LATTICE) {
    out.kind = DefectKind::kOffLattice;
  }
  if (q.has_rect()) {
    const auto& r = q.rect();
    out.rect_nm = std::make_pair(
        Vec2(std::min(r.x0_nm(), r.x1_nm()), std::min(r.y0_nm(), r.y1_nm())),
        Vec2(std::max(r.x0_nm(), r.x1_nm()), std::max(r.y0_nm(), r.y1_nm())));
  }
  if (q.has_disc()) {
    out.disc_nm = std::make_pair(Vec2(q.disc().x_nm(), q.disc().y_nm()),
                                 q.disc().radius_nm());
  }
  if (q.has_nearest_to_nm()) {
    out.nearest_to_nm = Vec2(q.nearest_to_nm().x(), q.nearest_to_nm().y());
  }
  if (q.changed_since_unix_ns() != 0) {
    out.changed_since_unix_ns = q.changed_since_unix_ns();
  }
  out.limit =
      q.limit() == 0 ? max_limit : std::min<int64_t>(q.limit(), max_limit);
  out.include_inactive = q.include_inactive();
  return out;
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

v1::Sites SitesInRect(const v1::Sites& sites,
                      const v1::QueryRequest::SitesInRect& q) {
  v1::Sites out;
  out.set_frame_id(sites.frame_id());
  out.set_sequence(sites.sequence());
  const double x_lo = std::min(q.x0_px(), q.x1_px());
  const double x_hi = std::max(q.x0_px(), q.x1_px());
  const double y_lo = std::min(q.y0_px(), q.y1_px());
  const double y_hi = std::max(q.y0_px(), q.y1_px());
  for (const v1::Adatom& a : sites.adatoms()) {
    const bool inside = a.x_px() >= x_lo && a.x_px() <= x_hi &&
                        a.y_px() >= y_lo && a.y_px() <= y_hi;
    if (inside && PassesFilters(a, q)) *out.add_adatoms() = a;
  }
  return out;
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

v1::Status MakeStatus(const DaemonCounters& counters, int64_t time_unix_ns) {
  v1::Status out;
  out.set_time_unix_ns(time_unix_ns);
  out.set_uptime_s(counters.uptime_s);
  out.set_config_version(counters.config_version);
  out.set_frames_received(counters.frames_received);
  out.set_frames_published(counters.frames_published);
  out.set_frames_dropped(counters.frames_dropped);
  out.set_frames_invalid(counters.frames_invalid);
  out.set_frames_no_lattice(counters.frames_no_lattice);
  out.set_frames_internal_error(counters.frames_internal_error);
  out.set_reorder_skipped(counters.reorder_skipped);
  for (const StageStatsView& s : counters.stages) {
    v1::StageStats* stage = out.add_stages();
    stage->set_name(s.name);
    stage->set_queue_depth(ClampU32(s.queue_depth));
    stage->set_queue_capacity(ClampU32(s.queue_capacity));
    stage->set_dropped(s.dropped);
    stage->set_errors(s.errors);
    stage->set_processed(s.processed);
    stage->set_exec_ms_p50(s.exec_ms_p50);
    stage->set_exec_ms_p90(s.exec_ms_p90);
    stage->set_exec_ms_p99(s.exec_ms_p99);
    stage->set_exec_ms_max(s.exec_ms_max);
  }
  return out;
}

}  // namespace anchord::daemon
