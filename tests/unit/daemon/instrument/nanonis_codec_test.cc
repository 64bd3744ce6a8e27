#include "daemon/instrument/nanonis_codec.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>

namespace anchord::daemon::nanonis {
namespace {

const ErrorBlock kNoError{};

// The bytes of `hex` ("0a 1b ..."; spaces ignored).
std::string Hex(const std::string& hex) {
  std::string out;
  std::string digits;
  for (char c : hex) {
    if (c != ' ') digits += c;
  }
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out += static_cast<char>(std::stoi(digits.substr(i, 2), nullptr, 16));
  }
  return out;
}

TEST_CASE("header: 32-byte name, big-endian body size, response flag, pad") {
  const std::string message = EncodeMessage("Scan.FrameGet", "", 1);
  REQUIRE(message.size() == kHeaderBytes);
  CHECK(std::string(message.data(), 13) == "Scan.FrameGet");
  for (size_t i = 13; i < 32; ++i) CHECK(message[i] == '\0');
  CHECK(message.substr(32) == Hex("00000000 0001 0000"));

  const std::string with_body = EncodeMessage(
      "Scan.WaitEndOfScan", EncodeRequest(WaitEndOfScanRequest{-1}), 1);
  CHECK(with_body.substr(32, 8) == Hex("00000004 0001 0000"));
  CHECK(with_body.substr(40) == Hex("ffffffff"));

  Header h;
  REQUIRE(DecodeHeader(with_body, &h).ok());
  CHECK(h.command == "Scan.WaitEndOfScan");
  CHECK(h.body_size == 4);
  CHECK(h.send_response == 1);
}

TEST_CASE("header: malformed ones are refused with a clear message") {
  Header h;
  Status s = DecodeHeader(std::string(39, 'A'), &h);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(s.message() == "nanonis: short header (39 of 40 bytes)");

  std::string message = EncodeMessage("Scan.FrameGet", "", 0);
  message[32] = '\x7f';  // body size 2^31 - ...: beyond the limit
  s = DecodeHeader(message, &h);
  CHECK(s.code() == StatusCode::kInvalidInput);
  CHECK(s.message().find("beyond the limit") != std::string::npos);

  s = DecodeHeader(std::string(40, '\0'), &h);
  CHECK(s.message() == "nanonis: header command name is empty or not ASCII");
}

TEST_CASE("every request round-trips") {
  WaitEndOfScanRequest wait{2500}, wait_out;
  REQUIRE(DecodeRequest(EncodeRequest(wait), &wait_out).ok());
  CHECK(wait_out.timeout_ms == 2500);

  ScanFrame frame{1.5e-8f, -2e-9f, 3e-8f, 3e-8f, 12.5f}, frame_out;
  const std::string frame_body = EncodeRequest(frame);
  CHECK(frame_body.size() == 20);
  REQUIRE(DecodeRequest(frame_body, &frame_out).ok());
  CHECK(frame_out.center_x_m == frame.center_x_m);
  CHECK(frame_out.center_y_m == frame.center_y_m);
  CHECK(frame_out.width_m == frame.width_m);
  CHECK(frame_out.height_m == frame.height_m);
  CHECK(frame_out.angle_deg == frame.angle_deg);

  FrameDataGrabRequest grab{3, false}, grab_out;
  CHECK(EncodeRequest(grab) == Hex("00000003 00000000"));
  REQUIRE(DecodeRequest(EncodeRequest(grab), &grab_out).ok());
  CHECK(grab_out.channel_index == 3);
  CHECK(!grab_out.forward);

  for (const bool with_limit : {false, true}) {
    DriftCompSetRequest set{1, 3.3e-11f, -1.7e-11f, 0, std::nullopt}, set_out;
    if (with_limit) set.saturation_limit_percent = 10.0f;
    const std::string body = EncodeRequest(set);
    CHECK(body.size() == (with_limit ? 20u : 16u));
    REQUIRE(DecodeRequest(body, &set_out).ok());
    CHECK(set_out.on == 1);
    CHECK(set_out.vx_m_per_s == set.vx_m_per_s);
    CHECK(set_out.vy_m_per_s == set.vy_m_per_s);
    CHECK(set_out.saturation_limit_percent == set.saturation_limit_percent);
  }
}

TEST_CASE("every reply round-trips, the error block at the end") {
  WaitEndOfScanReply wait{false, "C:\\data\\img_0042.sxm"}, wait_out;
  const std::string wait_body = EncodeReply(wait, kNoError);
  // timeout status, path size, path, error status, description size.
  CHECK(wait_body.size() == 4 + 4 + wait.file_path.size() + 4 + 4);
  REQUIRE(DecodeReply(wait_body, &wait_out).ok());
  CHECK(!wait_out.timed_out);
  CHECK(wait_out.file_path == wait.file_path);

  ScanFrame frame{1e-9f, 2e-9f, 3e-8f, 4e-8f, -5.0f}, frame_out;
  REQUIRE(DecodeReply(EncodeReply(frame, kNoError), &frame_out).ok());
  CHECK(frame_out.height_m == frame.height_m);
  CHECK(frame_out.angle_deg == frame.angle_deg);

  FrameDataGrabReply grab{"Z", 2, 3, {1, 2, 3, 4, 5, -6e-10f}, true}, grab_out;
  const std::string grab_body = EncodeReply(grab, kNoError);
  CHECK(grab_body.substr(0, 9) == Hex("00000001") + "Z" + Hex("00000002"));
  REQUIRE(DecodeReply(grab_body, &grab_out).ok());
  CHECK(grab_out.channel_name == "Z");
  CHECK(grab_out.rows == 2);
  CHECK(grab_out.cols == 3);
  CHECK(grab_out.data == grab.data);
  CHECK(grab_out.scan_up);

  BufferGetReply buffer{{0, 14, 30}, 256, 128}, buffer_out;
  REQUIRE(DecodeReply(EncodeReply(buffer, kNoError), &buffer_out).ok());
  CHECK(buffer_out.channel_indexes == buffer.channel_indexes);
  CHECK(buffer_out.pixels == 256);
  CHECK(buffer_out.lines == 128);

  SpeedGetReply speed{1e-7f, 2e-7f, 0.1f, 0.05f, 1, 2.0f}, speed_out;
  const std::string speed_body = EncodeReply(speed, kNoError);
  CHECK(speed_body.size() == 22 + 8);
  REQUIRE(DecodeReply(speed_body, &speed_out).ok());
  CHECK(speed_out.forward_line_time_s == 0.1f);
  CHECK(speed_out.backward_line_time_s == 0.05f);
  CHECK(speed_out.keep_constant == 1);
  CHECK(speed_out.speed_ratio == 2.0f);

  for (const bool with_limit : {false, true}) {
    DriftCompGetReply drift{true,  1e-11f, -2e-11f, 0,
                            false, true,   false,   std::nullopt};
    if (with_limit) drift.saturation_limit_percent = 10.0f;
    DriftCompGetReply out;
    const std::string body = EncodeReply(drift, kNoError);
    CHECK(body.size() == (with_limit ? 32u : 28u) + 8);
    REQUIRE(DecodeReply(body, &out).ok());
    CHECK(out.on);
    CHECK(out.vx_m_per_s == drift.vx_m_per_s);
    CHECK(out.vy_m_per_s == drift.vy_m_per_s);
    CHECK(!out.x_saturated);
    CHECK(out.y_saturated);
    CHECK(out.saturation_limit_percent == drift.saturation_limit_percent);
    // A controller error after either layout is still read as one.
    const Status failed = DecodeReply(EncodeReply(drift, {1, "busy"}), &out);
    CHECK(failed.code() == StatusCode::kInternal);
    CHECK(failed.message() ==
          "nanonis Piezo.DriftCompGet: controller error 1: busy");
  }

  ZCtrlOnOffGetReply z{false}, z_out;
  CHECK(EncodeReply(z, kNoError) == Hex("00000000 00000000 00000000"));
  REQUIRE(DecodeReply(EncodeReply(z, kNoError), &z_out).ok());
  CHECK(!z_out.on);

  CHECK(DecodeEmptyReply(kScanFrameSet, EncodeEmptyReply(kNoError)).ok());
}

TEST_CASE("malformed replies give a clear error") {
  ScanFrame frame;
  const std::string good = EncodeReply(frame, kNoError);

  SUBCASE("body shorter than its arguments") {
    const Status s = DecodeReply(good.substr(0, 10), &frame);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(s.message() ==
          "nanonis Scan.FrameGet: body ends at byte 10, width needs 2 more");
  }
  SUBCASE("no error block") {
    const Status s = DecodeReply(good.substr(0, 20), &frame);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(s.message().find("error status needs 4 more") != std::string::npos);
  }
  SUBCASE("trailing bytes") {
    const Status s = DecodeReply(good + "xy", &frame);
    CHECK(s.message() ==
          "nanonis Scan.FrameGet: 2 bytes after the error block");
  }
  SUBCASE("error block set") {
    const Status s = DecodeReply(
        EncodeReply(frame, {1, "Scan module not open\r\n"}), &frame);
    CHECK(s.code() == StatusCode::kInternal);
    CHECK(s.message() ==
          "nanonis Scan.FrameGet: controller error 1: Scan module not open  ");
  }
  SUBCASE("error description size beyond the body") {
    std::string body = EncodeEmptyReply({1, "abc"});
    body[7] = 9;  // claims 9 description bytes, 3 follow
    const Status s = DecodeEmptyReply(kScanFrameSet, body);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(s.message().find("error description needs 6 more") !=
          std::string::npos);
  }
  SUBCASE("2-D array larger than the body") {
    FrameDataGrabReply grab{"Z", 2, 2, {1, 2, 3, 4}, false};
    std::string body = EncodeReply(grab, kNoError);
    // Rows 2 -> 0x10000000: more floats than the body holds.
    body[5] = 0x10;
    FrameDataGrabReply out;
    const Status s = DecodeReply(body, &out);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(s.message().find("does not fit") != std::string::npos);
  }
  SUBCASE("negative string size") {
    const std::string body = Hex("ffffffff") + EncodeEmptyReply(kNoError);
    FrameDataGrabReply out;
    const Status s = DecodeReply(body, &out);
    CHECK(s.message() ==
          "nanonis Scan.FrameDataGrab: channel name size -1 is negative");
  }
  SUBCASE("a request with trailing bytes") {
    WaitEndOfScanRequest wait;
    const Status s = DecodeRequest(Hex("00000001 00"), &wait);
    CHECK(s.code() == StatusCode::kInvalidInput);
    CHECK(s.message() ==
          "nanonis Scan.WaitEndOfScan: 1 bytes after the request arguments");
  }
}

TEST_CASE("reader: float and double big-endian") {
  Writer w;
  w.F32(1.0f);
  w.F64(-2.0);
  CHECK(w.bytes() == Hex("3f800000 c000000000000000"));
  Reader r("Test.Get", w.bytes());
  CHECK(r.F32("a") == 1.0f);
  CHECK(r.F64("b") == -2.0);
  CHECK(r.remaining() == 0);
  CHECK(r.status().ok());
  r.U16("c");
  CHECK(!r.status().ok());
}

}  // namespace
}  // namespace anchord::daemon::nanonis
