#pragma once

// The binary framing of the Nanonis TCP programming interface and the
// messages `anchord bridge nanonis` exchanges with a Nanonis (SPECS)
// controller. Pure functions and value types: no sockets, no clocks, no
// logging; thread-safe.
//
// Framing (checked against the public protocol document TCPProtocol_SPM.pdf
// as shipped with SPECS-Zurich-GmbH/nanonis_spm, that package's
// NanonisClass.py, and the open-source clients New-Horizons-SPM/nanonisTCP
// and kronberger-droid/nanonis-rs):
// - Every message is a 40-byte header and a body. Header: the command name
//   ("Scan.FrameGet"), ASCII, zero-padded to 32 bytes; the body size in
//   bytes (int32); in a request the "send response back" flag (uint16, 1 =
//   answer); 2 bytes of zeros. A response's last 4 header bytes are unused
//   (zero).
// - Every number is big-endian. A string in a body is its byte count
//   (int32) followed by the bytes. Arrays are preceded by their element
//   count(s) as separate int32 arguments (a 2-D array: rows, then columns,
//   then row-major elements).
// - Every response body ends with the error block: error status (uint32,
//   non-zero = the command failed), the description's byte count (int32)
//   and the description.

#include "anchord/util/status.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace anchord::daemon::nanonis {

// Header size and the size of its command-name field, bytes.
inline constexpr size_t kHeaderBytes = 40;
inline constexpr size_t kCommandNameBytes = 32;
// Largest body this codec accepts, bytes: a 8192 × 8192 float32 frame and
// its strings (the daemon's own limit on a frame side is 8192 px).
inline constexpr uint32_t kMaxBodyBytes = (uint32_t{1} << 28) + (1 << 20);

// Command names used by the bridge.
inline constexpr std::string_view kScanWaitEndOfScan = "Scan.WaitEndOfScan";
inline constexpr std::string_view kScanFrameGet = "Scan.FrameGet";
inline constexpr std::string_view kScanFrameSet = "Scan.FrameSet";
inline constexpr std::string_view kScanFrameDataGrab = "Scan.FrameDataGrab";
inline constexpr std::string_view kScanBufferGet = "Scan.BufferGet";
inline constexpr std::string_view kScanSpeedGet = "Scan.SpeedGet";
inline constexpr std::string_view kPiezoDriftCompGet = "Piezo.DriftCompGet";
inline constexpr std::string_view kPiezoDriftCompSet = "Piezo.DriftCompSet";
inline constexpr std::string_view kZCtrlOnOffGet = "ZCtrl.OnOffGet";

// One message header.
struct Header {
  // Command name, at most kCommandNameBytes bytes, no NUL.
  std::string command;
  // Size of the body that follows, bytes; <= kMaxBodyBytes.
  uint32_t body_size = 0;
  // Request: 1 = the server answers (always 1 from the bridge); response:
  // 0 (the field is unused).
  uint16_t send_response = 0;
};

// The 40 header bytes. Requires a valid command name (checked: at most 32
// bytes, not empty, no NUL).
std::array<char, kHeaderBytes> EncodeHeader(const Header& header);
// Parses the first kHeaderBytes of `bytes`. kInvalidInput "nanonis: short
// header (N of 40 bytes)", "nanonis: header command name is empty or not
// ASCII", "nanonis: body size N beyond the limit of M bytes".
Status DecodeHeader(std::string_view bytes, Header* out);

// Appends big-endian values to a body.
class Writer {
 public:
  void U16(uint16_t v);
  void I32(int32_t v);
  void U32(uint32_t v);
  void F32(float v);
  void F64(double v);
  // Byte count (int32) and bytes.
  void String(std::string_view s);
  // Bytes only (the count was written as its own argument).
  void Bytes(std::string_view s);
  // Element count (int32), then the elements.
  void I32Array(const std::vector<int32_t>& values);
  // Rows (int32), columns (int32), then rows × cols float32, row-major.
  // Requires values.size() == rows × cols (checked).
  void F32Array2D(int32_t rows, int32_t cols, const std::vector<float>& values);
  // The error block: status, description size, description.
  void ErrorBlock(uint32_t status, std::string_view description);

  const std::string& bytes() const { return bytes_; }
  std::string Take() { return std::move(bytes_); }

 private:
  std::string bytes_;
};

// Reads big-endian values from a body, never past its end. Each read
// fails with kInvalidInput "nanonis COMMAND: body ends at byte N, FIELD
// needs K more" and leaves the reader failed: every later read fails too
// (so a decoder may read all fields and check status() once).
class Reader {
 public:
  Reader(std::string_view command, std::string_view body);

  uint16_t U16(const char* field);
  int32_t I32(const char* field);
  uint32_t U32(const char* field);
  float F32(const char* field);
  double F64(const char* field);
  // Byte count (int32, 0 to the bytes left) and bytes.
  std::string String(const char* field);
  // `count` bytes (a count read before as its own argument; negative or
  // beyond the body fails).
  std::string Bytes(int64_t count, const char* field);
  // Element count (int32) and int32 elements.
  std::vector<int32_t> I32Array(const char* field);
  // rows × cols float32 elements (counts read before); negative counts or
  // more elements than the body holds fail.
  std::vector<float> F32Array2D(int64_t rows, int64_t cols, const char* field);

  size_t remaining() const { return body_.size() - position_; }
  const std::string& command() const { return command_; }
  const Status& status() const { return status_; }
  // Fails the reader with `message` (prefixed "nanonis COMMAND: ") unless
  // it failed already.
  void Fail(const std::string& message);

 private:
  bool Need(size_t bytes, const char* field);

  std::string command_;
  std::string_view body_;
  size_t position_ = 0;
  Status status_;
};

// The error block at the end of every response.
struct ErrorBlock {
  uint32_t status = 0;  // non-zero: the command failed
  std::string description;
};

// Reads the error block that must end the body, after the return
// arguments. kInvalidInput when it is short or bytes follow it
// ("nanonis COMMAND: N bytes after the error block"); kInternal
// "nanonis COMMAND: controller error S: DESCRIPTION" when its status is
// set (the description's bytes other than printable ASCII as spaces, at
// most 256 of them). `reader`'s own failure is returned first.
Status FinishResponse(Reader& reader);

// --- Messages --------------------------------------------------------------
// For each command: the request's arguments and the response's return
// arguments, with Encode (to a body) and Decode (from a body) for both, so
// the simulator in tests/support speaks the same codec. Response encoders
// append the error block; response decoders check it (FinishResponse).
// Request decoders fail with kInvalidInput on a short body or trailing
// bytes.

// Scan.WaitEndOfScan: waits for the next end of a frame.
struct WaitEndOfScanRequest {
  int32_t timeout_ms = -1;  // -1 = wait indefinitely
};
struct WaitEndOfScanReply {
  bool timed_out = false;  // true: no frame ended within the timeout
  std::string file_path;   // the autosaved file; empty when none
};

// Scan.FrameGet reply / Scan.FrameSet request: the scan frame.
struct ScanFrame {
  float center_x_m = 0, center_y_m = 0;  // frame centre, scanner m
  float width_m = 0, height_m = 0;       // frame size, m
  float angle_deg = 0;                   // positive = clockwise
};

// Scan.FrameDataGrab: one channel of the latest frame.
struct FrameDataGrabRequest {
  uint32_t channel_index = 0;  // a recorded channel (Scan.BufferGet)
  bool forward = true;         // data direction: 1 forward, 0 backward
};
struct FrameDataGrabReply {
  std::string channel_name;
  int32_t rows = 0, cols = 0;
  std::vector<float> data;  // rows × cols, row-major
  bool scan_up = false;     // scan direction: 1 up, 0 down
};

// Scan.BufferGet reply: the recorded channels and the frame size.
struct BufferGetReply {
  std::vector<int32_t> channel_indexes;
  int32_t pixels = 0;  // samples per line
  int32_t lines = 0;   // lines per frame
};

// Scan.SpeedGet reply.
struct SpeedGetReply {
  float forward_speed_m_per_s = 0, backward_speed_m_per_s = 0;
  float forward_line_time_s = 0, backward_line_time_s = 0;
  uint16_t keep_constant = 0;  // 0 linear speed, 1 time per line
  float speed_ratio = 0;       // backward / forward speed
};

// Piezo.DriftCompGet reply. Older controller versions (New-Horizons-SPM/
// nanonisTCP Piezo.py) send no saturation limit: both layouts decode, told
// apart by the body size.
struct DriftCompGetReply {
  bool on = false;
  float vx_m_per_s = 0, vy_m_per_s = 0, vz_m_per_s = 0;
  // An axis whose correction reached the saturation limit: the controller
  // stopped compensating it until compensation is switched off and on.
  bool x_saturated = false, y_saturated = false, z_saturated = false;
  std::optional<float> saturation_limit_percent;
};

// Piezo.DriftCompSet request. `on`: -1 no change, 0 off, 1 on. The
// saturation limit (percent of the piezo range, all axes) is sent when set;
// older controllers take the request without it.
struct DriftCompSetRequest {
  int32_t on = 1;
  float vx_m_per_s = 0, vy_m_per_s = 0, vz_m_per_s = 0;
  std::optional<float> saturation_limit_percent;
};

// ZCtrl.OnOffGet reply: whether the Z controller (feedback) is on; off
// during a constant-height scan.
struct ZCtrlOnOffGetReply {
  bool on = true;
};

std::string EncodeRequest(const WaitEndOfScanRequest& m);
std::string EncodeRequest(const ScanFrame& m);  // Scan.FrameSet
std::string EncodeRequest(const FrameDataGrabRequest& m);
std::string EncodeRequest(const DriftCompSetRequest& m);
Status DecodeRequest(std::string_view body, WaitEndOfScanRequest* out);
Status DecodeRequest(std::string_view body, ScanFrame* out);
Status DecodeRequest(std::string_view body, FrameDataGrabRequest* out);
Status DecodeRequest(std::string_view body, DriftCompSetRequest* out);

// Response bodies, each ending with the error block `error`.
std::string EncodeReply(const WaitEndOfScanReply& m, const ErrorBlock& error);
std::string EncodeReply(const ScanFrame& m, const ErrorBlock& error);
std::string EncodeReply(const FrameDataGrabReply& m, const ErrorBlock& error);
std::string EncodeReply(const BufferGetReply& m, const ErrorBlock& error);
std::string EncodeReply(const SpeedGetReply& m, const ErrorBlock& error);
std::string EncodeReply(const DriftCompGetReply& m, const ErrorBlock& error);
std::string EncodeReply(const ZCtrlOnOffGetReply& m, const ErrorBlock& error);
// A reply with no return arguments (Scan.FrameSet, Piezo.DriftCompSet, or
// any command that failed before producing its values).
std::string EncodeEmptyReply(const ErrorBlock& error);

Status DecodeReply(std::string_view body, WaitEndOfScanReply* out);
Status DecodeReply(std::string_view body, ScanFrame* out);  // Scan.FrameGet
Status DecodeReply(std::string_view body, FrameDataGrabReply* out);
Status DecodeReply(std::string_view body, BufferGetReply* out);
Status DecodeReply(std::string_view body, SpeedGetReply* out);
Status DecodeReply(std::string_view body, DriftCompGetReply* out);
Status DecodeReply(std::string_view body, ZCtrlOnOffGetReply* out);
// The reply of a command without return arguments; `command` names it in
// messages.
Status DecodeEmptyReply(std::string_view command, std::string_view body);

// A whole message: header (send_response = `send_response`) and body.
std::string EncodeMessage(std::string_view command,
                          std::string_view body,
                          uint16_t send_response);

}  // namespace anchord::daemon::nanonis
