#pragma once

// The wire edge of the daemon, frames and queries in: the only place that
// converts the anchord.v1 protobuf messages (proto/anchord/v1/anchord.proto)
// into the library's types (daemon/wire/results.h converts the library's
// results into messages). Everything here is a pure function of its
// arguments: no sockets, no clocks, no logging. Thread-safe (no shared
// state).

#include "anchord/util/frame.h"
#include "anchord/util/status.h"
#include "anchord/v1/anchord.pb.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace anchord::daemon {

// Topics of the results PUB socket: the first part of each two-part
// message [topic, payload]. No topic is a prefix of another.
inline constexpr std::string_view kTopicRegistration = "registration";
inline constexpr std::string_view kTopicCorrected = "corrected";
inline constexpr std::string_view kTopicSites = "sites";
inline constexpr std::string_view kTopicDrift = "drift";
inline constexpr std::string_view kTopicDefects = "defects";
inline constexpr std::string_view kTopicStatus = "status";

// Limits every incoming frame must meet: table [limits] of the daemon's
// configuration (DaemonConfig::limits), applied by DecodeFrame; a frame
// outside them is answered with status invalid_input.
struct FrameLimits {
  // Largest width or height, px. Default 8192; in [min_side_px, 65536].
  int max_side_px = 8192;
  // Smallest width or height, px. Default 16; >= 16 (the registration's
  // own floor).
  int min_side_px = 16;
  // Accepted nominal pixel size range (each axis), nm. Defaults 1e-4 and
  // 1e3; 0 < min_pixel_nm < max_pixel_nm <= 1e4.
  double min_pixel_nm = 1e-4;
  double max_pixel_nm = 1e3;
  // Largest accepted share of NaN/Inf pixels within the scanned rows
  // (anchord::ScannedRows: the unscanned rows of a frame stopped early do
  // not count; a frame without a scanned row is refused), in [0, 1].
  // Default 0.5.
  double max_nonfinite_fraction = 0.5;

  // kOk, or kInvalidInput listing every violation, one per line, each
  // with its full configuration key: "limits.max_side_px = 0. Violated
  // constraint: in [limits.min_side_px, 65536]".
  Status Validate() const;

  bool operator==(const FrameLimits&) const = default;
};

// Physical ranges of a frame's other numeric fields, checked by
// DecodeFrame beside FrameLimits. Fixed, not configuration: no instrument
// sends values beyond them, and within them the daemon's arithmetic on a
// frame (row times, ns timestamps, positions in lattice cells) stays far
// from overflow. proto/anchord/v1/anchord.proto states each next to its
// field. Every bound is inclusive; NaN is outside every range.
struct FrameRanges {
  // line_time_s in [0, kMaxLineTimeS], s: one scan line within an hour.
  static constexpr double kMaxLineTimeS = 3600;
  // scan_angle_deg in [-kMaxScanAngleDeg, kMaxScanAngleDeg], degrees.
  static constexpr double kMaxScanAngleDeg = 360;
  // scan_offset_{x,y}_nm and drift_compensation_offset_{x,y}_nm in
  // [-kMaxScannerNm, kMaxScannerNm], nm (1 mm; scanners span µm).
  static constexpr double kMaxScannerNm = 1e6;
  // drift_compensation_{x,y}_nm_per_s in [-kMaxDriftNmPerS,
  // kMaxDriftNmPerS], nm/s (1 µm/s; thermal drift is below 1 nm/s).
  static constexpr double kMaxDriftNmPerS = 1e3;
  // bias_v in [-kMaxBiasV, kMaxBiasV], V.
  static constexpr double kMaxBiasV = 1e3;
  // acquired_unix_ns in [0, kMaxAcquiredUnixNs]: 2200-01-01T00:00:00Z.
  static constexpr int64_t kMaxAcquiredUnixNs = 7258118400000000000;
};

// A frame as received: the ids the daemon echoes in every answer, and the
// frame in the library's canonical form.
struct InboundFrame {
  // Chosen by the controller (Frame.frame_id).
  uint64_t frame_id = 0;
  std::string instrument;
  std::string session;
  // Start of the acquisition, ns since the Unix epoch (UTC); 0 if unknown.
  int64_t acquired_unix_ns = 0;
  Frame frame;
};

// Parses and validates one serialized anchord.v1.Frame (`limits` must be
// valid) and converts it into `out`:
// - frame.image: float32 copy of the pixels (each pixel type converted by
//   value, no scaling), canonical orientation as sent;
// - frame.source = "instrument/session#frame_id"; pixel sizes, channel,
//   scan angle and offsets, line_time_s, bias_v and feedback_error copied;
//   direction "forward" / "backward" / "" from fast_scan; acquired_at the
//   UTC ISO 8601 time of acquired_unix_ns ("" when 0); line_times_s[r] =
//   (acquisition index of row r) × line_time_s, plus line_time_s / 2 for a
//   backward trace, with index r (SLOW_SCAN_DOWN) or height − 1 − r
//   (SLOW_SCAN_UP); empty when slow_scan is unspecified or line_time_s is
//   0.
// Returns kInvalidInput with a one-line message when the bytes are not a
// Frame message ("frame: not a valid anchord.v1.Frame message (N bytes)")
// or when fields violate their constraints: every violation is named, as
// "frame.<field> = <value>. Violated constraint: <constraint>", joined by
// "; " (width and height against the limits; pixel type and scan-direction
// enums; pixel sizes against the limits; acquisition time, scan angle,
// offsets, line time, bias and drift compensation within FrameRanges; the
// session a valid name, daemon/common/session_name.h, where "" is read as
// "default"; then the byte count against width × height × bytes per
// pixel with both numbers; then the NaN/Inf share within the
// scanned rows against limits.max_nonfinite_fraction, with the counts and
// the rows). kInternal when memory
// runs out.
// Whenever the message parsed, out->frame_id, instrument, session and
// acquired_unix_ns are filled even if validation fails, so the frame can
// be answered; out->frame is filled only on kOk. Never throws.
Status DecodeFrame(std::string_view bytes,
                   const FrameLimits& limits,
                   InboundFrame* out);

// The Frame message of `in` (the inverse of DecodeFrame, for `anchord
// replay` and tests): pixels as little-endian float32 in the canonical
// orientation; fast_scan from frame.direction ("forward", "backward",
// else unspecified); slow_scan DOWN when line_times_s increases with the
// row, UP when it decreases, unspecified when it is empty or neither;
// acquired_at is not sent (acquired_unix_ns is). `in.frame.image` may be
// empty (width = height = 0, an invalid frame).
v1::Frame FrameToProto(const InboundFrame& in);
// FrameToProto(in), serialized.
std::string EncodeFrame(const InboundFrame& in);

// kOk, or kInvalidInput naming every non-finite coordinate, negative
// radius or unknown kind ("query: find_defects.disc.radius_nm = -1. …").
Status ValidateFindDefects(const v1::QueryRequest::FindDefects& query);
// kOk, or kInvalidInput ("query: sites_in_rect.x0_px = nan. Violated
// constraint: finite", …) when a coordinate is not finite or an enum value
// is unknown.
Status ValidateSitesInRect(const v1::QueryRequest::SitesInRect& query);
// Parses one serialized QueryRequest. kInvalidInput "query: not a valid
// anchord.v1.QueryRequest message (N bytes)" for garbage, "query: no query
// set (one of health, latest_result, sites_in_rect, current_config,
// latest_drift, find_defects)" when the oneof is empty, or the message of
// ValidateSitesInRect / ValidateFindDefects. On a parse that
// succeeded, out->request_id is set even when validation fails. Never
// throws.
Status DecodeQuery(std::string_view bytes, v1::QueryRequest* out);
// A reply with ok = false carrying `why`'s message.
v1::QueryReply MakeErrorReply(uint64_t request_id, const Status& why);

}  // namespace anchord::daemon
