// The decoder and Frame.session: a frame without a session belongs to the
// default session; an over-long name or one with control characters is
// refused with a bounded, printable reason (session_name.h).

#include "daemon/common/session_name.h"
#include "daemon/wire/wire.h"
#include <doctest/doctest.h>

#include <string>

namespace anchord::daemon {
namespace {

// A valid 16 × 16 float32 frame of session `session`.
std::string FrameBytes(const std::string& session) {
  v1::Frame m;
  m.set_frame_id(7);
  m.set_instrument("stm-1");
  m.set_session(session);
  m.set_width(16);
  m.set_height(16);
  m.set_pixel_type(v1::PIXEL_TYPE_FLOAT32);
  m.set_pixels(std::string(16 * 16 * 4, '\0'));
  m.set_pixel_size_x_nm(0.05);
  m.set_pixel_size_y_nm(0.05);
  return m.SerializeAsString();
}

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("a frame without a session is decoded into the default session") {
  InboundFrame in;
  const Status status = DecodeFrame(FrameBytes(""), FrameLimits(), &in);
  REQUIRE_MESSAGE(status.ok(), status.message());
  CHECK(in.session == "default");
  CHECK(in.session == kDefaultSessionName);
  CHECK(in.frame.source == "stm-1/default#7");

  REQUIRE(DecodeFrame(FrameBytes("run_17"), FrameLimits(), &in).ok());
  CHECK(in.session == "run_17");
}

TEST_CASE("an over-long session name is refused, briefly") {
  InboundFrame in;
  const Status status =
      DecodeFrame(FrameBytes(std::string(1 << 20, 'x')), FrameLimits(), &in);
  CHECK(status.code() == StatusCode::kInvalidInput);
  CHECK(Contains(status.message(), "frame.session = \"xxx"));
  CHECK(Contains(status.message(), "is 1048576 bytes, more than 128"));
  CHECK(status.message().size() < 400);
  // The ids are still filled, so the frame can be answered.
  CHECK(in.frame_id == 7);

  CHECK(
      DecodeFrame(FrameBytes(std::string(128, 'x')), FrameLimits(), &in).ok());
  CHECK_FALSE(
      DecodeFrame(FrameBytes(std::string(129, 'x')), FrameLimits(), &in).ok());
}

TEST_CASE("a session name with control characters or spaces is refused") {
  InboundFrame in;
  const Status status =
      DecodeFrame(FrameBytes("run\n\x1b[2J"), FrameLimits(), &in);
  CHECK(status.code() == StatusCode::kInvalidInput);
  CHECK(Contains(status.message(), "frame.session = \"run\\x0a\\x1b[2J\""));
  CHECK(Contains(status.message(), "a control character 0x0a at byte 3"));
  CHECK(status.message().find('\n') == std::string::npos);

  const Status space = DecodeFrame(FrameBytes("run 2"), FrameLimits(), &in);
  CHECK(space.code() == StatusCode::kInvalidInput);
  CHECK(Contains(space.message(), "a space at byte 3"));
}

}  // namespace
}  // namespace anchord::daemon
