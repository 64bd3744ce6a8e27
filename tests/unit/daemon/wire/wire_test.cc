#include "daemon/wire/wire.h"

#include "anchord/pipeline/register_frame.h"
#include "anchord/synth/synthetic_scan.h"
#include "anchord/util/check.h"

#include "daemon/wire/results.h"
#include <doctest/doctest.h>
#include <opencv2/core.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace anchord::daemon {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Little-endian bytes of `values`, written byte by byte so the test does
// not share the decoder's code path.
template <typename T>
std::string LittleEndianBytes(const std::vector<T>& values) {
  std::string out;
  for (const T& v : values) {
    unsigned char raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    uint64_t bits = 0;
    for (size_t k = 0; k < sizeof(T); ++k) {
      // Host order → integer (the test host may be either endianness).
      const size_t shift = std::endian::native == std::endian::little
                               ? 8 * k
                               : 8 * (sizeof(T) - 1 - k);
      bits |= static_cast<uint64_t>(raw[k]) << shift;
    }
    for (size_t k = 0; k < sizeof(T); ++k) {
      out.push_back(static_cast<char>((bits >> (8 * k)) & 0xff));
    }
  }
  return out;
}

// A valid 16 × 16 Frame message whose pixels are `values` (256 of them).
template <typename T>
v1::Frame MakeMessage(v1::PixelType type, const std::vector<T>& values) {
  v1::Frame m;
  m.set_frame_id(42);
  m.set_instrument("stm-1");
  m.set_session("s7");
  m.set_acquired_unix_ns(1700000000123456789);
  m.set_width(16);
  m.set_height(16);
  m.set_pixel_type(type);
  m.set_pixels(LittleEndianBytes(values));
  m.set_pixel_size_x_nm(0.05);
  m.set_pixel_size_y_nm(0.06);
  m.set_scan_angle_deg(12.5);
  m.set_scan_offset_x_nm(-3.0);
  m.set_scan_offset_y_nm(4.0);
  m.set_slow_scan(v1::SLOW_SCAN_DOWN);
  m.set_fast_scan(v1::FAST_SCAN_FORWARD);
  m.set_line_time_s(0.2);
  m.set_channel("Z");
  m.set_bias_v(-1.5);
  m.set_feedback_error(true);
  return m;
}

// 256 values v(k) = base + k · step, cast to T.
template <typename T>
std::vector<T> Ramp(double base, double step) {
  std::vector<T> v(256);
  for (int k = 0; k < 256; ++k) v[k] = static_cast<T>(base + k * step);
  return v;
}

Status Decode(const v1::Frame& m,
              InboundFrame* out,
              const FrameLimits& limits = FrameLimits()) {
  return DecodeFrame(m.SerializeAsString(), limits, out);
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Decodes `values` sent as `type` and checks every pixel equals the value
// converted to float.
template <typename T>
void CheckExactRoundTrip(v1::PixelType type, const std::vector<T>& values) {
  InboundFrame in;
  const Status s = Decode(MakeMessage(type, values), &in);
  CAPTURE(v1::PixelType_Name(type));
  CAPTURE(s.message());
  REQUIRE(s.ok());
  REQUIRE(in.frame.image.rows == 16);
  REQUIRE(in.frame.image.cols == 16);
  for (int k = 0; k < 256; ++k) {
    CHECK(in.frame.image(k / 16, k % 16) == static_cast<float>(values[k]));
  }
}

TEST_CASE("every pixel type decodes to its exact values, row-major") {
  CheckExactRoundTrip(v1::PIXEL_TYPE_FLOAT32, Ramp<float>(-1.25e-9, 3.5e-11));
  CheckExactRoundTrip(v1::PIXEL_TYPE_FLOAT64, Ramp<double>(-0.1, 0.0123));
  std::vector<int16_t> i16 = Ramp<int16_t>(-32768, 257);
  i16[255] = 32767;
  CheckExactRoundTrip(v1::PIXEL_TYPE_INT16, i16);
  std::vector<uint16_t> u16 = Ramp<uint16_t>(0, 257);
  u16[255] = 65535;
  CheckExactRoundTrip(v1::PIXEL_TYPE_UINT16, u16);
  std::vector<int32_t> i32 = Ramp<int32_t>(-(1 << 24), 131072);
  i32[255] = 1 << 24;
  CheckExactRoundTrip(v1::PIXEL_TYPE_INT32, i32);
}

TEST_CASE("decoding copies the metadata into the Frame") {
  InboundFrame in;
  REQUIRE(Decode(MakeMessage(v1::PIXEL_TYPE_UINT16, Ramp<uint16_t>(0, 1)), &in)
              .ok());
  CHECK(in.frame_id == 42);
  CHECK(in.instrument == "stm-1");
  CHECK(in.session == "s7");
  CHECK(in.acquired_unix_ns == 1700000000123456789);
  const Frame& f = in.frame;
  CHECK(f.source == "stm-1/s7#42");
  CHECK(f.pixel_size_x_nm == 0.05);
  CHECK(f.pixel_size_y_nm == 0.06);
  CHECK(f.scan_angle_deg == 12.5);
  CHECK(f.scan_offset_x_nm == -3.0);
  CHECK(f.scan_offset_y_nm == 4.0);
  CHECK(f.line_time_s == 0.2);
  CHECK(f.channel == "Z");
  CHECK(f.bias_v == -1.5);
  CHECK(f.feedback_error);
  CHECK(f.direction == "forward");
  CHECK(f.acquired_at == "2023-11-14T22:13:20.123Z");
  REQUIRE(f.line_times_s.size() == 16);
  CHECK(f.line_times_s[0] == 0.0);
  CHECK(f.line_times_s[15] == doctest::Approx(15 * 0.2));
}

TEST_CASE("line times follow the slow scan and the trace direction") {
  v1::Frame m = MakeMessage(v1::PIXEL_TYPE_UINT16, Ramp<uint16_t>(0, 1));
  m.set_slow_scan(v1::SLOW_SCAN_UP);
  m.set_fast_scan(v1::FAST_SCAN_BACKWARD);
  InboundFrame in;
  REQUIRE(Decode(m, &in).ok());
  CHECK(in.frame.direction == "backward");
  REQUIRE(in.frame.line_times_s.size() == 16);
  // Row 15 (the bottom) was acquired first; the backward trace starts half
  // a line period after the line.
  CHECK(in.frame.line_times_s[15] == doctest::Approx(0.1));
  CHECK(in.frame.line_times_s[0] == doctest::Approx(15 * 0.2 + 0.1));

  m.set_slow_scan(v1::SLOW_SCAN_UNSPECIFIED);
  REQUIRE(Decode(m, &in).ok());
  CHECK(in.frame.line_times_s.empty());
  m.set_slow_scan(v1::SLOW_SCAN_DOWN);
  m.set_line_time_s(0);
  m.set_fast_scan(v1::FAST_SCAN_UNSPECIFIED);
  REQUIRE(Decode(m, &in).ok());
  CHECK(in.frame.line_times_s.empty());
  CHECK(in.frame.direction.empty());
}

TEST_CASE(
    "EncodeFrame → DecodeFrame keeps pixels (NaN included) and metadata") {
  InboundFrame in;
  in.frame_id = 7;
  in.instrument = "afm";
  in.session = "run";
  in.acquired_unix_ns = 5;
  in.frame.image.create(20, 33);
  for (int r = 0; r < 20; ++r) {
    for (int c = 0; c < 33; ++c) in.frame.image(r, c) = 0.25f * r - 1e-3f * c;
  }
  in.frame.image(3, 4) = kNaN;
  in.frame.pixel_size_x_nm = 0.07;
  in.frame.pixel_size_y_nm = 0.08;
  in.frame.channel = "Current";
  in.frame.direction = "backward";
  in.frame.line_time_s = 0.5;
  in.frame.bias_v = 2.0;
  in.frame.scan_angle_deg = -30;
  in.frame.feedback_error = true;
  for (int r = 0; r < 20; ++r) {
    in.frame.line_times_s.push_back((19 - r) * 0.5 + 0.25);
  }

  const v1::Frame m = FrameToProto(in);
  CHECK(m.pixel_type() == v1::PIXEL_TYPE_FLOAT32);
  CHECK(m.slow_scan() == v1::SLOW_SCAN_UP);
  CHECK(m.fast_scan() == v1::FAST_SCAN_BACKWARD);
  CHECK(m.pixels().size() == 20u * 33u * 4u);

  InboundFrame out;
  const Status s = DecodeFrame(EncodeFrame(in), FrameLimits(), &out);
  REQUIRE_MESSAGE(s.ok(), s.message());
  CHECK(out.frame_id == 7);
  CHECK(out.frame.source == "afm/run#7");
  REQUIRE(out.frame.image.size() == in.frame.image.size());
  for (int r = 0; r < 20; ++r) {
    for (int c = 0; c < 33; ++c) {
      const float a = in.frame.image(r, c), b = out.frame.image(r, c);
      CHECK((a == b || (std::isnan(a) && std::isnan(b))));
    }
  }
  CHECK(out.frame.channel == "Current");
  CHECK(out.frame.direction == "backward");
  CHECK(out.frame.feedback_error);
  CHECK(out.frame.scan_angle_deg == -30);
  REQUIRE(out.frame.line_times_s.size() == 20);
  for (int r = 0; r < 20; ++r) {
    CHECK(out.frame.line_times_s[r] ==
          doctest::Approx(in.frame.line_times_s[r]));
  }
}

TEST_CASE("the NaN/Inf share within the scanned rows is checked and named") {
  std::vector<float> v = Ramp<float>(0, 1);
  // Every other pixel NaN: each row keeps half its pixels, so all 16 rows
  // are scanned and the share is exactly 0.5.
  for (int k = 0; k < 256; ++k) {
    if ((k + k / 16) % 2 == 0) v[k] = kNaN;
  }
  InboundFrame in;
  CHECK(Decode(MakeMessage(v1::PIXEL_TYPE_FLOAT32, v), &in).ok());

  v[5 * 16] = std::numeric_limits<float>::infinity();  // 129 / 256
  const Status s = Decode(MakeMessage(v1::PIXEL_TYPE_FLOAT32, v), &in);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Contains(s.message(), "frame.nonfinite_fraction = 0.503906"));
  CHECK(Contains(s.message(), "129 of 256 pixels NaN or Inf in rows 0–16"));
  CHECK(Contains(s.message(), "<= 0.5 within the scanned rows"));
  CHECK(in.frame_id == 42);
  CHECK(in.frame.image.empty());

  FrameLimits strict;
  strict.max_nonfinite_fraction = 0.0;
  std::vector<double> d = Ramp<double>(0, 1);
  d[0] = 1e300;  // beyond float32: Inf after conversion
  CHECK(Decode(MakeMessage(v1::PIXEL_TYPE_FLOAT64, d), &in, strict).code() ==
        StatusCode::kInvalidInput);
}

TEST_CASE("the NaN rows of a scan stopped early are not counted") {
  FrameLimits strict;
  strict.max_nonfinite_fraction = 0.0;
  InboundFrame in;
  SUBCASE("stopped after 6 of 16 rows (62.5 % NaN, bottom)") {
    std::vector<float> v = Ramp<float>(0, 1);
    for (int k = 6 * 16; k < 256; ++k) v[k] = kNaN;
    REQUIRE(Decode(MakeMessage(v1::PIXEL_TYPE_FLOAT32, v), &in, strict).ok());
    CHECK(std::isnan(in.frame.image(6, 0)));
    CHECK(in.frame.image(5, 15) == 95.0f);
    // A NaN inside the scanned rows still counts.
    v[3 * 16 + 4] = kNaN;
    const Status s =
        Decode(MakeMessage(v1::PIXEL_TYPE_FLOAT32, v), &in, strict);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(Contains(s.message(), "1 of 96 pixels NaN or Inf in rows 0–6"));
  }
  SUBCASE("the first 11 rows unscanned (top), the last row half scanned") {
    std::vector<float> v = Ramp<float>(0, 1);
    for (int k = 0; k < 11 * 16; ++k) v[k] = kNaN;
    for (int k = 15 * 16; k < 15 * 16 + 8; ++k) v[k] = kNaN;
    strict.max_nonfinite_fraction = 0.1;  // 8 of 80
    CHECK(Decode(MakeMessage(v1::PIXEL_TYPE_FLOAT32, v), &in, strict).ok());
    strict.max_nonfinite_fraction = 0.09;
    const Status s =
        Decode(MakeMessage(v1::PIXEL_TYPE_FLOAT32, v), &in, strict);
    CHECK(Contains(s.message(), "8 of 80 pixels NaN or Inf in rows 11–16"));
  }
  SUBCASE("no row with half its pixels finite is refused") {
    std::vector<float> v = Ramp<float>(0, 1);
    for (int k = 0; k < 256; ++k) {
      if (k % 16 < 9) v[k] = kNaN;  // 9 of 16 in every row
    }
    FrameLimits any;
    any.max_nonfinite_fraction = 1;
    const Status s = Decode(MakeMessage(v1::PIXEL_TYPE_FLOAT32, v), &in, any);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(Contains(s.message(),
                   "frame.nonfinite_fraction = 1 (no row has half its pixels "
                   "finite)"));
  }
}

TEST_CASE("a byte count that does not match names both numbers") {
  v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
  m.mutable_pixels()->pop_back();  // truncated by one byte
  InboundFrame in;
  Status s = Decode(m, &in);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Contains(s.message(), "frame.pixels = 511 bytes"));
  CHECK(Contains(s.message(), "16 × 16 × 2 = 512 bytes"));
  CHECK(in.frame_id == 42);
  CHECK(in.instrument == "stm-1");
  CHECK(in.session == "s7");

  // The same bytes declared as float32 are too few by half.
  m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
  m.set_pixel_type(v1::PIXEL_TYPE_FLOAT32);
  s = Decode(m, &in);
  CHECK(Contains(s.message(), "frame.pixels = 512 bytes"));
  CHECK(Contains(s.message(), "= 1024 bytes"));

  // Reported together with other violations.
  m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
  m.mutable_pixels()->append("xy");
  m.set_pixel_size_x_nm(0);
  s = Decode(m, &in);
  CHECK(Contains(s.message(), "frame.pixel_size_x_nm = 0"));
  CHECK(Contains(s.message(), "frame.pixels = 514 bytes"));

  // Width and height that disagree with the bytes.
  m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
  m.set_width(32);
  s = Decode(m, &in);
  CHECK(Contains(s.message(), "32 × 16 × 2 = 1024 bytes"));
}

TEST_CASE("sizes outside the limits and zero sizes are rejected, all named") {
  v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
  m.set_width(9000);
  m.set_height(8);
  InboundFrame in;
  Status s = Decode(m, &in);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Contains(s.message(),
                 "frame.width = 9000. Violated constraint: "
                 "in [16, 8192]"));
  CHECK(Contains(s.message(), "frame.height = 8"));
  CHECK(Contains(s.message(), "; "));
  CHECK(!Contains(s.message(), "\n"));

  m.set_width(0);
  m.set_height(0);
  m.clear_pixels();
  s = Decode(m, &in);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Contains(s.message(), "frame.width = 0"));
  CHECK(Contains(s.message(), "frame.height = 0"));
  CHECK(in.frame_id == 42);

  // An empty message parses (every field default) and fails validation.
  s = DecodeFrame("", FrameLimits(), &in);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Contains(s.message(), "frame.width = 0"));
  CHECK(Contains(s.message(), "frame.pixel_type = 0"));
}

TEST_CASE("garbage bytes are not a Frame message") {
  InboundFrame in;
  in.frame_id = 99;  // reset by DecodeFrame
  const Status s =
      DecodeFrame("this is not a protobuf message", FrameLimits(), &in);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(s.message() ==
        "frame: not a valid anchord.v1.Frame message (30 bytes)");
  CHECK(in.frame_id == 0);

  // A valid message cut in the middle of its pixels field.
  const std::string whole =
      MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1))
          .SerializeAsString();
  CHECK(DecodeFrame(whole.substr(0, whole.size() / 2), FrameLimits(), &in)
            .code() == StatusCode::kInvalidInput);
}

TEST_CASE("absurd or non-finite pixel sizes and metadata are rejected") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const double nm : {0.0, -0.05, 1e-6, 5e3, 1e30, nan,
                          std::numeric_limits<double>::infinity()}) {
    v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
    m.set_pixel_size_y_nm(nm);
    InboundFrame in;
    const Status s = Decode(m, &in);
    CAPTURE(nm);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(Contains(s.message(), "frame.pixel_size_y_nm = "));
    CHECK(Contains(s.message(), "in [0.0001, 1000]"));
    CHECK(in.frame_id == 42);
  }
  v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
  m.set_bias_v(nan);
  m.set_line_time_s(-1);
  m.set_scan_angle_deg(std::numeric_limits<double>::infinity());
  InboundFrame in;
  const Status s = Decode(m, &in);
  CHECK(Contains(s.message(), "frame.bias_v = nan"));
  CHECK(Contains(s.message(), "frame.line_time_s = -1"));
  CHECK(Contains(s.message(), "frame.scan_angle_deg = inf"));
}

TEST_CASE(
    "times, angle, offsets, bias and compensation outside their "
    "physical ranges are rejected, each named") {
  using Setter = void (v1::Frame::*)(double);
  struct Field {
    const char* name;
    Setter set;
    double bound;  // the range is [-bound, bound] ([0, bound] if lo0)
    bool lo0 = false;
  };
  const Field fields[] = {
      {"scan_angle_deg", &v1::Frame::set_scan_angle_deg, 360},
      {"scan_offset_x_nm", &v1::Frame::set_scan_offset_x_nm, 1e6},
      {"scan_offset_y_nm", &v1::Frame::set_scan_offset_y_nm, 1e6},
      {"line_time_s", &v1::Frame::set_line_time_s, 3600, true},
      {"bias_v", &v1::Frame::set_bias_v, 1e3},
      {"drift_compensation_x_nm_per_s",
       &v1::Frame::set_drift_compensation_x_nm_per_s, 1e3},
      {"drift_compensation_y_nm_per_s",
       &v1::Frame::set_drift_compensation_y_nm_per_s, 1e3},
      {"drift_compensation_offset_x_nm",
       &v1::Frame::set_drift_compensation_offset_x_nm, 1e6},
      {"drift_compensation_offset_y_nm",
       &v1::Frame::set_drift_compensation_offset_y_nm, 1e6},
  };
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const Field& f : fields) {
    CAPTURE(f.name);
    const double lo = f.lo0 ? 0.0 : -f.bound;
    for (const double ok : {lo, f.bound}) {
      v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
      (m.*f.set)(ok);
      InboundFrame in;
      const Status s = Decode(m, &in);
      CHECK_MESSAGE(s.ok(), s.message());
    }
    for (const double bad : {f.bound * 1.001, lo - 0.001 * f.bound, 1e300,
                             -std::numeric_limits<double>::infinity(), nan}) {
      CAPTURE(bad);
      v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
      (m.*f.set)(bad);
      InboundFrame in;
      const Status s = Decode(m, &in);
      CHECK(s.code() == StatusCode::kInvalidInput);
      CHECK(Contains(s.message(), std::string("frame.") + f.name + " = "));
      CHECK(in.frame_id == 42);
      CHECK(in.frame.image.empty());
    }
  }
  // The acquisition time: none (0) up to 2200-01-01.
  for (const int64_t ok : {int64_t{0}, FrameRanges::kMaxAcquiredUnixNs}) {
    v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
    m.set_acquired_unix_ns(ok);
    InboundFrame in;
    CHECK(Decode(m, &in).ok());
  }
  for (const int64_t bad : {int64_t{-1}, FrameRanges::kMaxAcquiredUnixNs + 1,
                            std::numeric_limits<int64_t>::max()}) {
    CAPTURE(bad);
    v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
    m.set_acquired_unix_ns(bad);
    InboundFrame in;
    const Status s = Decode(m, &in);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(Contains(s.message(),
                   "frame.acquired_unix_ns = " + std::to_string(bad) +
                       ". Violated constraint: in [0, "
                       "7258118400000000000] (before "
                       "2200-01-01)"));
    CHECK(in.acquired_unix_ns == bad);  // the ids are still echoed
  }
}

TEST_CASE("unknown pixel types and scan directions are rejected") {
  v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
  m.set_pixel_type(v1::PIXEL_TYPE_UNSPECIFIED);
  InboundFrame in;
  CHECK(Contains(Decode(m, &in).message(), "frame.pixel_type = 0"));
  m.set_pixel_type(static_cast<v1::PixelType>(9));
  m.set_slow_scan(static_cast<v1::SlowScan>(5));
  const Status s = Decode(m, &in);
  CHECK(Contains(s.message(), "frame.pixel_type = 9"));
  CHECK(Contains(s.message(), "frame.slow_scan = 5"));
}

TEST_CASE("FrameLimits: defaults are valid, every violation is listed") {
  CHECK(FrameLimits().Validate().ok());
  FrameLimits bad;
  bad.min_side_px = 4;
  bad.max_side_px = 100000;
  bad.min_pixel_nm = 0;
  bad.max_pixel_nm = -1;
  bad.max_nonfinite_fraction = 1.5;
  const Status s = bad.Validate();
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Contains(s.message(), "limits.min_side_px = 4"));
  CHECK(Contains(s.message(), "limits.max_side_px = 100000"));
  CHECK(Contains(s.message(), "limits.min_pixel_nm = 0"));
  CHECK(Contains(s.message(), "limits.max_pixel_nm = -1"));
  CHECK(Contains(s.message(), "limits.max_nonfinite_fraction = 1.5"));
}

TEST_CASE("a frame that failed decoding is answered with its ids") {
  v1::Frame m = MakeMessage(v1::PIXEL_TYPE_INT16, Ramp<int16_t>(0, 1));
  m.set_width(3);
  InboundFrame in;
  const Status s = Decode(m, &in);
  REQUIRE(!s.ok());
  const v1::RegistrationResult r =
      MakeRegistrationResult(in, 11, s, nullptr, MakeSi7x7Model(), 0.5, 123);
  CHECK(r.frame_id() == 42);
  CHECK(r.instrument() == "stm-1");
  CHECK(r.session() == "s7");
  CHECK(r.sequence() == 11);
  CHECK(r.status() == v1::RESULT_STATUS_INVALID_INPUT);
  CHECK(r.message() == s.message());
  CHECK(r.width() == 0);
  CHECK(r.image_from_model_size() == 0);
  CHECK(r.timing_size() == 0);
  CHECK(r.latency_ms() == 0.5);
  CHECK(r.received_unix_ns() == 123);
  CHECK(!r.has_lattice());
}

// One synthetic frame through the daemon's path: encode → decode →
// RegisterFrame → builders.
struct Registered {
  InboundFrame in;
  FrameResult result;
};

const Registered& RegisteredSyntheticFrame() {
  static const Registered* registered = [] {
    SyntheticScanOptions o;
    o.width_px = 320;
    o.height_px = 288;
    o.field_of_view_nm = 20;
    o.rotation_deg = 17;
    o.scale_error_x = 0.08;
    o.shear = 0.05;
    o.vacancy_fraction = 0.05;
    o.seed = 5;
    const SyntheticScan scan = MakeSyntheticScan(o);
    InboundFrame sent;
    sent.frame_id = 1001;
    sent.instrument = "sim";
    sent.session = "wire";
    sent.frame = scan.frame;
    auto* r = new Registered;
    const Status s = DecodeFrame(EncodeFrame(sent), FrameLimits(), &r->in);
    ANCHORD_CHECK(s.ok()) << s.message();
    r->result = RegisterFrame(r->in.frame, MakeSi7x7Model(), PipelineOptions());
    return r;
  }();
  return *registered;
}

TEST_CASE("the registration result carries H, figures and counts") {
  const Registered& reg = RegisteredSyntheticFrame();
  const FrameResult& fr = reg.result;
  REQUIRE_MESSAGE(fr.status.ok(), fr.status.message());
  const v1::RegistrationResult r = MakeRegistrationResult(
      reg.in, 3, Status::Ok(), &fr, MakeSi7x7Model(), 12.5, 77);
  CHECK(r.status() == v1::RESULT_STATUS_OK);
  CHECK(r.message().empty());
  CHECK(r.frame_id() == 1001);
  CHECK(r.width() == 320);
  CHECK(r.height() == 288);
  CHECK(r.scanned_row_begin() == 0);  // a complete frame
  CHECK(r.scanned_row_end() == 288);
  CHECK(r.scanned_fraction() == 1.0);
  // The frame's quality, as computed.
  REQUIRE(r.has_quality());
  CHECK(r.quality().ssim() == fr.quality.ssim);
  CHECK(r.quality().ssim() > 0.5);
  CHECK(r.quality().cells() == static_cast<uint32_t>(fr.quality.cells));
  CHECK(r.quality().cells() > 10);
  CHECK(r.quality().emd_nm() == fr.quality.emd_nm);
  CHECK(r.quality().model_sites() ==
        static_cast<uint32_t>(fr.quality.model_sites));
  CHECK(r.quality().emd_exact());
  REQUIRE(r.image_from_model_size() == 9);
  for (int k = 0; k < 9; ++k) {
    CHECK(r.image_from_model(k) == fr.image_from_model(k / 3, k % 3));
  }
  CHECK(r.image_from_model(8) == doctest::Approx(1.0));
  CHECK(r.lattice().inliers() ==
        static_cast<uint32_t>(fr.registration.inliers));
  CHECK(r.lattice().residual_rms_px() == fr.registration.residual_rms_px);
  // a1 is 2.688 nm ≈ 43 px at 0.0625 nm/px (scale error aside).
  const double a1_px =
      std::hypot(r.lattice().a1_px().x(), r.lattice().a1_px().y());
  CHECK(a1_px == doctest::Approx(2.688 / 0.0625).epsilon(0.15));
  CHECK(r.calibration().scale_x() == doctest::Approx(1.08).epsilon(0.03));
  CHECK(r.adatoms() == fr.sites.adatoms.size());
  CHECK(r.adatoms() > 100);
  CHECK(r.vacancies() == static_cast<uint32_t>(fr.sites.vacancies));
  CHECK(r.vacancies() > 0);
  CHECK(r.corner_holes_size() ==
        static_cast<int>(fr.sites.corner_holes.size()));
  CHECK(r.candidates() == static_cast<uint32_t>(fr.candidates));
  REQUIRE(r.timing_size() >= 2);
  CHECK(r.timing(r.timing_size() - 1).stage() == "total");
  CHECK(r.latency_ms() == 12.5);
  CHECK(r.received_unix_ns() == 77);

  // Survives the wire.
  v1::RegistrationResult parsed;
  REQUIRE(parsed.ParseFromString(r.SerializeAsString()));
  CHECK(parsed.image_from_model(0) == r.image_from_model(0));
  CHECK(parsed.vacancies() == r.vacancies());
}

TEST_CASE("corrected frame and sites mirror the frame result") {
  const Registered& reg = RegisteredSyntheticFrame();
  const FrameResult& fr = reg.result;
  REQUIRE(fr.status.ok());
  REQUIRE(HasCorrectedFrame(fr));
  const v1::CorrectedFrame c = MakeCorrectedFrame(reg.in, 3, fr);
  CHECK(c.frame_id() == 1001);
  CHECK(c.sequence() == 3);
  REQUIRE(c.width() == static_cast<uint32_t>(fr.corrected.image.cols));
  REQUIRE(c.height() == static_cast<uint32_t>(fr.corrected.image.rows));
  CHECK(c.pixel_nm() == fr.corrected.pixel_nm);
  CHECK(c.x0_nm() == fr.corrected.x0_nm);
  REQUIRE(c.pixels().size() == size_t{c.width()} * c.height() * 4);
  // Decode the payload through the frame path: same little-endian float32.
  v1::Frame as_frame;
  as_frame.set_width(c.width());
  as_frame.set_height(c.height());
  as_frame.set_pixel_type(v1::PIXEL_TYPE_FLOAT32);
  as_frame.set_pixels(c.pixels());
  as_frame.set_pixel_size_x_nm(c.pixel_nm());
  as_frame.set_pixel_size_y_nm(c.pixel_nm());
  InboundFrame back;
  FrameLimits any_nan;
  any_nan.max_nonfinite_fraction = 1;
  REQUIRE(Decode(as_frame, &back, any_nan).ok());
  // Every finite pixel equal, NaN where NaN.
  const cv::Mat1b differ = back.frame.image != fr.corrected.image;
  const cv::Mat1b finite = fr.corrected.image == fr.corrected.image;
  CHECK(cv::countNonZero(differ & finite) == 0);
  CHECK(cv::countNonZero(back.frame.image == back.frame.image) ==
        cv::countNonZero(finite));

  const v1::Sites sites = MakeSites(reg.in, 3, fr);
  REQUIRE(sites.adatoms_size() == static_cast<int>(fr.sites.adatoms.size()));
  int vacant = 0;
  for (int k = 0; k < sites.adatoms_size(); ++k) {
    const v1::Adatom& a = sites.adatoms(k);
    const AdatomSite& e = fr.sites.adatoms[k];
    CHECK(a.x_px() == e.p_px.x());
    CHECK(a.y_nm() == e.model_nm.y());
    CHECK(a.i() == e.i);
    CHECK(a.half() == (e.half == Half::kT1 ? v1::HALF_T1 : v1::HALF_T2));
    CHECK(a.kind() == (e.kind == SiteKind::kCorner ? v1::SITE_KIND_CORNER
                                                   : v1::SITE_KIND_CENTER));
    CHECK(a.code_index() == static_cast<uint32_t>(e.code_index));
    CHECK(a.occupied() == e.occupied);
    vacant += !a.occupied();
  }
  CHECK(vacant == fr.sites.vacancies);

  // A failed frame has no corrected frame and no sites.
  FrameResult failed;
  failed.status = Status::NoLattice("no lattice");
  CHECK(!HasCorrectedFrame(failed));
  CHECK(MakeCorrectedFrame(reg.in, 4, failed).width() == 0);
  CHECK(MakeSites(reg.in, 4, failed).adatoms_size() == 0);
}

TEST_CASE("sites_in_rect queries are validated") {
  v1::QueryRequest::SitesInRect q;
  q.set_x0_px(20);
  q.set_y0_px(30);
  q.set_x1_px(10);
  q.set_y1_px(10);
  CHECK(ValidateSitesInRect(q).ok());
  q.set_x1_px(std::numeric_limits<double>::quiet_NaN());
  const Status s = ValidateSitesInRect(q);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Contains(s.message(), "query: sites_in_rect.x1_px = nan"));
}

TEST_CASE("queries: garbage, empty and valid requests") {
  v1::QueryRequest q;
  Status s = DecodeQuery("\xff\xff\xff\xff", &q);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(Contains(s.message(), "not a valid anchord.v1.QueryRequest"));

  v1::QueryRequest sent;
  sent.set_request_id(9);
  s = DecodeQuery(sent.SerializeAsString(), &q);
  CHECK(Contains(s.message(), "no query set"));
  CHECK(q.request_id() == 9);
  const v1::QueryReply reply = MakeErrorReply(q.request_id(), s);
  CHECK(reply.request_id() == 9);
  CHECK(!reply.ok());
  CHECK(reply.message() == s.message());

  sent.mutable_health();
  CHECK(DecodeQuery(sent.SerializeAsString(), &q).ok());
  CHECK(q.has_health());
  sent.mutable_sites_in_rect()->set_y0_px(
      std::numeric_limits<double>::infinity());
  CHECK(!DecodeQuery(sent.SerializeAsString(), &q).ok());
}

TEST_CASE("drift estimate from a track result") {
  InboundFrame in;
  in.frame_id = 3;
  in.session = "s1";
  TrackResult track;
  track.drift.message = "one frame placed so far";
  track.placement.placed = true;
  track.placement.method = PlacementMethod::kFirst;
  track.placement.confidence = 1;
  v1::DriftEstimate d = MakeDriftEstimate(in, 8, track);
  CHECK(d.frame_id() == 3);
  CHECK(d.sequence() == 8);
  CHECK(d.session() == "s1");
  CHECK(!d.valid());
  CHECK(d.message() == "one frame placed so far");
  CHECK(d.velocity_x_nm_per_s() == 0);
  CHECK(d.placed());
  CHECK(d.placement_method() == v1::PLACEMENT_METHOD_FIRST);

  track.drift.valid = true;
  track.drift.message.clear();
  track.drift.velocity_nm_per_s = Vec2(0.02, -0.01);
  track.drift.velocity_sigma_nm_per_s = Vec2(1e-4, 2e-4);
  track.drift.next_frame_unix_s = 1.8e9 + 0.5;
  track.drift.centre_correction_nm = Vec2(1.5, -0.5);
  track.placement.method = PlacementMethod::kCodes;
  track.placement.n1 = -2;
  track.placement.centre_session_nm = Vec2(10, 20);
  d = MakeDriftEstimate(in, 9, track);
  CHECK(d.valid());
  CHECK(d.velocity_x_nm_per_s() == 0.02);
  CHECK(d.velocity_y_sigma_nm_per_s() == 2e-4);
  // Nanonis Piezo.DriftCompSet takes m/s.
  CHECK(d.compensation_x_m_per_s() == doctest::Approx(0.02e-9));
  CHECK(d.compensation_y_m_per_s() == doctest::Approx(-0.01e-9));
  CHECK(d.next_frame_unix_ns() == 1800000000500000000LL);
  CHECK(d.centre_correction_x_nm() == 1.5);
  CHECK(d.placement_method() == v1::PLACEMENT_METHOD_CODES);
  CHECK(d.n1() == -2);
  CHECK(d.centre_session_y_nm() == 20);

  track.placement = Placement{};
  track.placement.message = "ambiguous";
  d = MakeDriftEstimate(in, 10, track);
  CHECK(!d.placed());
  CHECK(d.placement_method() == v1::PLACEMENT_METHOD_UNSPECIFIED);
  CHECK(d.placement_message() == "ambiguous");
}

TEST_CASE("an absurd next-frame prediction is sent as 0, not overflowed") {
  InboundFrame in;
  TrackResult track;
  track.drift.valid = true;
  for (const double s : {1e12, -1e12, 9.3e9, std::numeric_limits<double>::max(),
                         std::numeric_limits<double>::quiet_NaN(),
                         std::numeric_limits<double>::infinity()}) {
    CAPTURE(s);
    track.drift.next_frame_unix_s = s;
    CHECK(MakeDriftEstimate(in, 1, track).next_frame_unix_ns() == 0);
  }
  track.drift.next_frame_unix_s = 9.2e9;  // just inside int64 ns
  CHECK(MakeDriftEstimate(in, 1, track).next_frame_unix_ns() ==
        9200000000000000000LL);
}

TEST_CASE("find_defects queries are validated") {
  v1::QueryRequest sent;
  sent.set_request_id(5);
  auto* q = sent.mutable_find_defects();
  q->set_kind(v1::DEFECT_KIND_VACANCY);
  q->mutable_rect()->set_x0_nm(4);
  q->mutable_rect()->set_x1_nm(-4);
  q->mutable_rect()->set_y0_nm(1);
  q->mutable_rect()->set_y1_nm(2);
  q->set_limit(5000);
  v1::QueryRequest got;
  REQUIRE(DecodeQuery(sent.SerializeAsString(), &got).ok());
  q->mutable_disc()->set_radius_nm(-1);
  q->mutable_nearest_to_nm()->set_x(std::numeric_limits<double>::quiet_NaN());
  q->set_kind(static_cast<v1::DefectKind>(7));
  const Status bad = DecodeQuery(sent.SerializeAsString(), &got);
  CHECK(bad.code() == StatusCode::kInvalidInput);
  CHECK(Contains(bad.message(), "disc.radius_nm"));
  CHECK(Contains(bad.message(), "nearest_to_nm.x"));
  CHECK(Contains(bad.message(), "kind"));
  CHECK(got.request_id() == 5);
}

TEST_CASE("drift compensation fields cross the wire") {
  InboundFrame in;
  in.frame_id = 1;
  in.acquired_unix_ns = 1800000000250000000LL;
  in.frame.image = cv::Mat1f(32, 32, 1.0f);
  in.frame.pixel_size_x_nm = in.frame.pixel_size_y_nm = 0.1;
  in.frame.drift_compensation_nm_per_s = Vec2(0.03, -0.02);
  in.frame.drift_compensation_offset_nm = Vec2(4.5, 1.25);
  InboundFrame out;
  REQUIRE(DecodeFrame(EncodeFrame(in), FrameLimits{}, &out).ok());
  CHECK(out.frame.drift_compensation_nm_per_s == Vec2(0.03, -0.02));
  CHECK(out.frame.drift_compensation_offset_nm == Vec2(4.5, 1.25));
  CHECK(out.frame.acquired_unix_s == doctest::Approx(1.80000000025e9));

  v1::Frame msg = FrameToProto(in);
  msg.set_drift_compensation_y_nm_per_s(
      std::numeric_limits<double>::infinity());
  const Status bad = DecodeFrame(msg.SerializeAsString(), FrameLimits{}, &out);
  CHECK(bad.code() == StatusCode::kInvalidInput);
  CHECK(Contains(bad.message(), "drift_compensation_y_nm_per_s"));
}

TEST_CASE("status message") {
  DaemonCounters c;
  c.uptime_s = 4.5;
  c.config_version = 2;
  c.frames_received = 10;
  c.frames_dropped = 1;
  c.frames_invalid = 2;
  StageStatsView stage;
  stage.name = "register";
  stage.queue_depth = 3;
  stage.queue_capacity = size_t{1} << 40;  // clamped
  stage.processed = 9;
  stage.exec_ms_p99 = 14;
  c.stages.push_back(stage);
  const v1::Status st = MakeStatus(c, 1000);
  CHECK(st.time_unix_ns() == 1000);
  CHECK(st.uptime_s() == 4.5);
  CHECK(st.config_version() == 2);
  CHECK(st.frames_received() == 10);
  CHECK(st.frames_dropped() == 1);
  CHECK(st.frames_invalid() == 2);
  REQUIRE(st.stages_size() == 1);
  CHECK(st.stages(0).name() == "register");
  CHECK(st.stages(0).queue_depth() == 3);
  CHECK(st.stages(0).queue_capacity() == 0xffffffffu);
  CHECK(st.stages(0).processed() == 9);
  CHECK(st.stages(0).exec_ms_p99() == 14);
}

TEST_CASE("topics are distinct and none is a prefix of another") {
  const std::vector<std::string_view> topics = {kTopicRegistration,
                                                kTopicCorrected, kTopicSites,
                                                kTopicDrift, kTopicStatus};
  for (size_t a = 0; a < topics.size(); ++a) {
    for (size_t b = 0; b < topics.size(); ++b) {
      if (a != b) CHECK(topics[b].substr(0, topics[a].size()) != topics[a]);
    }
  }
}

}  // namespace
}  // namespace anchord::daemon
