#include "daemon/instrument/nanonis_codec.h"

#include "anchord/util/check.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace anchord::daemon::nanonis {
namespace {

// Longest controller error description quoted in a message, bytes.
constexpr size_t kMaxDescriptionBytes = 256;

// Appends `v` big-endian.
template <typename T>
void PutBigEndian(T v, std::string* out) {
  std::array<char, sizeof(T)> b;
  std::memcpy(b.data(), &v, sizeof(T));
  if constexpr (std::endian::native == std::endian::little) {
    std::reverse(b.begin(), b.end());
  }
  out->append(b.data(), b.size());
}

// Reads a big-endian T at `p`.
template <typename T>
T GetBigEndian(const char* p) {
  std::array<char, sizeof(T)> b;
  std::memcpy(b.data(), p, sizeof(T));
  if constexpr (std::endian::native == std::endian::little) {
    std::reverse(b.begin(), b.end());
  }
  T v;
  std::memcpy(&v, b.data(), sizeof(T));
  return v;
}

bool ValidCommandName(std::string_view name) {
  if (name.empty() || name.size() > kCommandNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c > 0x20 && c < 0x7f;  // printable ASCII, no space
  });
}

// Fails `reader` unless it is exactly at the end of a request body.
Status FinishRequest(Reader& reader) {
  if (reader.status().ok() && reader.remaining() > 0) {
    reader.Fail(std::to_string(reader.remaining()) +
                " bytes after the request arguments");
  }
  return reader.status();
}

}  // namespace

std::array<char, kHeaderBytes> EncodeHeader(const Header& header) {
  ANCHORD_CHECK(ValidCommandName(header.command))
      << "invalid Nanonis command name '" << header.command << "'";
  std::array<char, kHeaderBytes> out{};
  std::memcpy(out.data(), header.command.data(), header.command.size());
  std::string tail;
  PutBigEndian<int32_t>(static_cast<int32_t>(header.body_size), &tail);
  PutBigEndian<uint16_t>(header.send_response, &tail);
  PutBigEndian<uint16_t>(0, &tail);
  std::memcpy(out.data() + kCommandNameBytes, tail.data(), tail.size());
  return out;
}

Status DecodeHeader(std::string_view bytes, Header* out) {
  if (bytes.size() < kHeaderBytes) {
    return Status::InvalidInput("nanonis: short header (" +
                                std::to_string(bytes.size()) + " of " +
                                std::to_string(kHeaderBytes) + " bytes)");
  }
  std::string_view name = bytes.substr(0, kCommandNameBytes);
  name = name.substr(0, std::min(name.find('\0'), name.size()));
  if (!ValidCommandName(name)) {
    return Status::InvalidInput(
        "nanonis: header command name is empty or not ASCII");
  }
  const int32_t size = GetBigEndian<int32_t>(bytes.data() + kCommandNameBytes);
  if (size < 0 || static_cast<uint32_t>(size) > kMaxBodyBytes) {
    return Status::InvalidInput("nanonis: body size " + std::to_string(size) +
                                " beyond the limit of " +
                                std::to_string(kMaxBodyBytes) + " bytes");
  }
  out->command = std::string(name);
  out->body_size = static_cast<uint32_t>(size);
  out->send_response =
      GetBigEndian<uint16_t>(bytes.data() + kCommandNameBytes + 4);
  return Status::Ok();
}

// --- Writer -------------------------------------------------------------

void Writer::U16(uint16_t v) { PutBigEndian(v, &bytes_); }
void Writer::I32(int32_t v) { PutBigEndian(v, &bytes_); }
void Writer::U32(uint32_t v) { PutBigEndian(v, &bytes_); }
void Writer::F32(float v) { PutBigEndian(v, &bytes_); }
void Writer::F64(double v) { PutBigEndian(v, &bytes_); }

void Writer::String(std::string_view s) {
  ANCHORD_CHECK(s.size() <= kMaxBodyBytes) << "string too long";
  I32(static_cast<int32_t>(s.size()));
  Bytes(s);
}

void Writer::Bytes(std::string_view s) { bytes_.append(s.data(), s.size()); }

void Writer::I32Array(const std::vector<int32_t>& values) {
  ANCHORD_CHECK(values.size() <= kMaxBodyBytes / 4) << "array too long";
  I32(static_cast<int32_t>(values.size()));
  for (int32_t v : values) I32(v);
}

void Writer::F32Array2D(int32_t rows,
                        int32_t cols,
                        const std::vector<float>& values) {
  ANCHORD_CHECK(rows >= 0 && cols >= 0 &&
                values.size() ==
                    static_cast<size_t>(rows) * static_cast<size_t>(cols))
      << "2-D array of " << values.size() << " values is not " << rows << " x "
      << cols;
  I32(rows);
  I32(cols);
  bytes_.reserve(bytes_.size() + values.size() * sizeof(float));
  for (float v : values) F32(v);
}

void Writer::ErrorBlock(uint32_t status, std::string_view description) {
  U32(status);
  String(description);
}

// --- Reader -------------------------------------------------------------

Reader::Reader(std::string_view command, std::string_view body)
    : command_(command), body_(body) {}

void Reader::Fail(const std::string& message) {
  if (status_.ok()) {
    status_ = Status::InvalidInput("nanonis " + command_ + ": " + message);
  }
}

bool Reader::Need(size_t bytes, const char* field) {
  if (!status_.ok()) return false;
  if (remaining() < bytes) {
    Fail("body ends at byte " + std::to_string(body_.size()) + ", " + field +
         " needs " + std::to_string(bytes - remaining()) + " more");
    return false;
  }
  return true;
}

uint16_t Reader::U16(const char* field) {
  if (!Need(2, field)) return 0;
  const uint16_t v = GetBigEndian<uint16_t>(body_.data() + position_);
  position_ += 2;
  return v;
}

int32_t Reader::I32(const char* field) {
  if (!Need(4, field)) return 0;
  const int32_t v = GetBigEndian<int32_t>(body_.data() + position_);
  position_ += 4;
  return v;
}

uint32_t Reader::U32(const char* field) {
  if (!Need(4, field)) return 0;
  const uint32_t v = GetBigEndian<uint32_t>(body_.data() + position_);
  position_ += 4;
  return v;
}

float Reader::F32(const char* field) {
  if (!Need(4, field)) return 0;
  const float v = GetBigEndian<float>(body_.data() + position_);
  position_ += 4;
  return v;
}

double Reader::F64(const char* field) {
  if (!Need(8, field)) return 0;
  const double v = GetBigEndian<double>(body_.data() + position_);
  position_ += 8;
  return v;
}

std::string Reader::String(const char* field) {
  const int32_t size = I32(field);
  return Bytes(size, field);
}

std::string Reader::Bytes(int64_t count, const char* field) {
  if (!status_.ok()) return {};
  if (count < 0) {
    Fail(std::string(field) + " size " + std::to_string(count) +
         " is negative");
    return {};
  }
  if (!Need(static_cast<size_t>(count), field)) return {};
  std::string s(body_.substr(position_, static_cast<size_t>(count)));
  position_ += static_cast<size_t>(count);
  return s;
}

std::vector<int32_t> Reader::I32Array(const char* field) {
  const int32_t count = I32(field);
  if (!status_.ok()) return {};
  if (count < 0 || static_cast<size_t>(count) > remaining() / 4) {
    Fail(std::string(field) + " count " + std::to_string(count) +
         " does not fit the " + std::to_string(remaining()) + " bytes left");
    return {};
  }
  std::vector<int32_t> out(static_cast<size_t>(count));
  for (int32_t& v : out) v = I32(field);
  return out;
}

std::vector<float> Reader::F32Array2D(int64_t rows,
                                      int64_t cols,
                                      const char* field) {
  if (!status_.ok()) return {};
  if (rows < 0 || cols < 0) {
    Fail(std::string(field) + " size " + std::to_string(rows) + " x " +
         std::to_string(cols) + " is negative");
    return {};
  }
  const uint64_t left = remaining() / sizeof(float);
  if (rows > 0 &&
      static_cast<uint64_t>(cols) > left / static_cast<uint64_t>(rows)) {
    Fail(std::string(field) + " of " + std::to_string(rows) + " x " +
         std::to_string(cols) + " float32 does not fit the " +
         std::to_string(remaining()) + " bytes left");
    return {};
  }
  std::vector<float> out(static_cast<size_t>(rows * cols));
  for (float& v : out) v = F32(field);
  return out;
}

Status FinishResponse(Reader& reader) {
  const uint32_t status = reader.U32("error status");
  const std::string description = reader.String("error description");
  if (!reader.status().ok()) return reader.status();
  if (reader.remaining() > 0) {
    reader.Fail(std::to_string(reader.remaining()) +
                " bytes after the error block");
    return reader.status();
  }
  if (status != 0) {
    // The controller's text, printable ASCII only (a log line), at most
    // kMaxDescriptionBytes.
    std::string text = description.substr(0, kMaxDescriptionBytes);
    std::replace_if(
        text.begin(), text.end(),
        [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return u < 0x20 || u > 0x7e;
        },
        ' ');
    return Status::Internal("nanonis " + reader.command() +
                            ": controller error " + std::to_string(status) +
                            ": " + (text.empty() ? "(no description)" : text));
  }
  return Status::Ok();
}

// --- Requests -----------------------------------------------------------

std::string EncodeRequest(const WaitEndOfScanRequest& m) {
  Writer w;
  w.I32(m.timeout_ms);
  return w.Take();
}

std::string EncodeRequest(const ScanFrame& m) {
  Writer w;
  w.F32(m.center_x_m);
  w.F32(m.center_y_m);
  w.F32(m.width_m);
  w.F32(m.height_m);
  w.F32(m.angle_deg);
  return w.Take();
}

std::string EncodeRequest(const FrameDataGrabRequest& m) {
  Writer w;
  w.U32(m.channel_index);
  w.U32(m.forward ? 1 : 0);
  return w.Take();
}

std::string EncodeRequest(const DriftCompSetRequest& m) {
  Writer w;
  w.I32(m.on);
  w.F32(m.vx_m_per_s);
  w.F32(m.vy_m_per_s);
  w.F32(m.vz_m_per_s);
  if (m.saturation_limit_percent) w.F32(*m.saturation_limit_percent);
  return w.Take();
}

Status DecodeRequest(std::string_view body, WaitEndOfScanRequest* out) {
  Reader r(kScanWaitEndOfScan, body);
  out->timeout_ms = r.I32("timeout");
  return FinishRequest(r);
}

Status DecodeRequest(std::string_view body, ScanFrame* out) {
  Reader r(kScanFrameSet, body);
  out->center_x_m = r.F32("center x");
  out->center_y_m = r.F32("center y");
  out->width_m = r.F32("width");
  out->height_m = r.F32("height");
  out->angle_deg = r.F32("angle");
  return FinishRequest(r);
}

Status DecodeRequest(std::string_view body, FrameDataGrabRequest* out) {
  Reader r(kScanFrameDataGrab, body);
  out->channel_index = r.U32("channel index");
  out->forward = r.U32("data direction") != 0;
  return FinishRequest(r);
}

Status DecodeRequest(std::string_view body, DriftCompSetRequest* out) {
  Reader r(kPiezoDriftCompSet, body);
  out->on = r.I32("compensation on/off");
  out->vx_m_per_s = r.F32("vx");
  out->vy_m_per_s = r.F32("vy");
  out->vz_m_per_s = r.F32("vz");
  out->saturation_limit_percent.reset();
  if (r.status().ok() && r.remaining() > 0) {
    out->saturation_limit_percent = r.F32("saturation limit");
  }
  return FinishRequest(r);
}

// --- Replies ------------------------------------------------------------

std::string EncodeEmptyReply(const ErrorBlock& error) {
  Writer w;
  w.ErrorBlock(error.status, error.description);
  return w.Take();
}

std::string EncodeReply(const WaitEndOfScanReply& m, const ErrorBlock& error) {
  Writer w;
  w.U32(m.timed_out ? 1 : 0);
  w.U32(static_cast<uint32_t>(m.file_path.size()));
  w.Bytes(m.file_path);
  w.ErrorBlock(error.status, error.description);
  return w.Take();
}

std::string EncodeReply(const ScanFrame& m, const ErrorBlock& error) {
  std::string body = EncodeRequest(m);
  body += EncodeEmptyReply(error);
  return body;
}

std::string EncodeReply(const FrameDataGrabReply& m, const ErrorBlock& error) {
  Writer w;
  w.String(m.channel_name);
  w.F32Array2D(m.rows, m.cols, m.data);
  w.U32(m.scan_up ? 1 : 0);
  w.ErrorBlock(error.status, error.description);
  return w.Take();
}

std::string EncodeReply(const BufferGetReply& m, const ErrorBlock& error) {
  Writer w;
  w.I32Array(m.channel_indexes);
  w.I32(m.pixels);
  w.I32(m.lines);
  w.ErrorBlock(error.status, error.description);
  return w.Take();
}

std::string EncodeReply(const SpeedGetReply& m, const ErrorBlock& error) {
  Writer w;
  w.F32(m.forward_speed_m_per_s);
  w.F32(m.backward_speed_m_per_s);
  w.F32(m.forward_line_time_s);
  w.F32(m.backward_line_time_s);
  w.U16(m.keep_constant);
  w.F32(m.speed_ratio);
  w.ErrorBlock(error.status, error.description);
  return w.Take();
}

std::string EncodeReply(const DriftCompGetReply& m, const ErrorBlock& error) {
  Writer w;
  w.U32(m.on ? 1 : 0);
  w.F32(m.vx_m_per_s);
  w.F32(m.vy_m_per_s);
  w.F32(m.vz_m_per_s);
  w.U32(m.x_saturated ? 1 : 0);
  w.U32(m.y_saturated ? 1 : 0);
  w.U32(m.z_saturated ? 1 : 0);
  if (m.saturation_limit_percent) w.F32(*m.saturation_limit_percent);
  w.ErrorBlock(error.status, error.description);
  return w.Take();
}

std::string EncodeReply(const ZCtrlOnOffGetReply& m, const ErrorBlock& error) {
  Writer w;
  w.U32(m.on ? 1 : 0);
  w.ErrorBlock(error.status, error.description);
  return w.Take();
}

Status DecodeReply(std::string_view body, ZCtrlOnOffGetReply* out) {
  Reader r(kZCtrlOnOffGet, body);
  out->on = r.U32("Z-controller status") != 0;
  return FinishResponse(r);
}

Status DecodeEmptyReply(std::string_view command, std::string_view body) {
  Reader r(command, body);
  return FinishResponse(r);
}

Status DecodeReply(std::string_view body, WaitEndOfScanReply* out) {
  Reader r(kScanWaitEndOfScan, body);
  out->timed_out = r.U32("timeout status") != 0;
  const uint32_t size = r.U32("file path size");
  out->file_path = r.Bytes(static_cast<int64_t>(size), "file path");
  return FinishResponse(r);
}

Status DecodeReply(std::string_view body, ScanFrame* out) {
  Reader r(kScanFrameGet, body);
  out->center_x_m = r.F32("center x");
  out->center_y_m = r.F32("center y");
  out->width_m = r.F32("width");
  out->height_m = r.F32("height");
  out->angle_deg = r.F32("angle");
  return FinishResponse(r);
}

Status DecodeReply(std::string_view body, FrameDataGrabReply* out) {
  Reader r(kScanFrameDataGrab, body);
  out->channel_name = r.String("channel name");
  out->rows = r.I32("scan data rows");
  out->cols = r.I32("scan data columns");
  out->data = r.F32Array2D(out->rows, out->cols, "scan data");
  out->scan_up = r.U32("scan direction") != 0;
  return FinishResponse(r);
}

Status DecodeReply(std::string_view body, BufferGetReply* out) {
  Reader r(kScanBufferGet, body);
  out->channel_indexes = r.I32Array("channel indexes");
  out->pixels = r.I32("pixels");
  out->lines = r.I32("lines");
  return FinishResponse(r);
}

Status DecodeReply(std::string_view body, SpeedGetReply* out) {
  Reader r(kScanSpeedGet, body);
  out->forward_speed_m_per_s = r.F32("forward speed");
  out->backward_speed_m_per_s = r.F32("backward speed");
  out->forward_line_time_s = r.F32("forward time per line");
  out->backward_line_time_s = r.F32("backward time per line");
  out->keep_constant = r.U16("keep parameter constant");
  out->speed_ratio = r.F32("speed ratio");
  return FinishResponse(r);
}

Status DecodeReply(std::string_view body, DriftCompGetReply* out) {
  // The arguments are 28 bytes (older controllers) or 32 (with the
  // saturation limit); the error block after them is at least 8.
  Reader r(kPiezoDriftCompGet, body);
  out->on = r.U32("compensation status") != 0;
  out->vx_m_per_s = r.F32("vx");
  out->vy_m_per_s = r.F32("vy");
  out->vz_m_per_s = r.F32("vz");
  out->x_saturated = r.U32("x saturated") != 0;
  out->y_saturated = r.U32("y saturated") != 0;
  out->z_saturated = r.U32("z saturated") != 0;
  out->saturation_limit_percent.reset();
  if (r.status().ok()) {
    // Without the limit the next 4 bytes are the error status and the 4
    // after them the description size, which must then account for the
    // rest of the body exactly.
    Reader probe(kPiezoDriftCompGet, body.substr(body.size() - r.remaining()));
    probe.U32("error status");
    const int32_t size = probe.I32("error description size");
    const bool legacy = probe.status().ok() && size >= 0 &&
                        static_cast<size_t>(size) == probe.remaining();
    if (!legacy) out->saturation_limit_percent = r.F32("saturation limit");
  }
  return FinishResponse(r);
}

std::string EncodeMessage(std::string_view command,
                          std::string_view body,
                          uint16_t send_response) {
  ANCHORD_CHECK(body.size() <= kMaxBodyBytes) << "body too large";
  Header h;
  h.command = std::string(command);
  h.body_size = static_cast<uint32_t>(body.size());
  h.send_response = send_response;
  const std::array<char, kHeaderBytes> header = EncodeHeader(h);
  std::string out(header.data(), header.size());
  out.append(body.data(), body.size());
  return out;
}

}  // namespace anchord::daemon::nanonis
