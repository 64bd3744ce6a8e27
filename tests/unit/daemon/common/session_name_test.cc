// Session names: the length limit and the character set, the default
// session of a frame that names none, and log-safe quoting of untrusted
// text.

#include "daemon/common/session_name.h"

#include <doctest/doctest.h>

#include <string>

namespace anchord::daemon {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("valid session names") {
  for (const char* name :
       {"s", "default", "lt-stm-2/2024-05-01", "run_17", "user@host:3",
        "sample+tip", "anchord-demo-1714567890", "A.B-C_D:E/F@G+H0123456789"}) {
    CAPTURE(name);
    CHECK_FALSE(SessionNameError(name));
  }
  CHECK_FALSE(SessionNameError(std::string(kMaxSessionNameBytes, 'x')));
}

TEST_CASE("empty, over-long and odd names are refused with the reason") {
  CHECK(*SessionNameError("") == "is empty");

  const auto too_long = SessionNameError(std::string(129, 'x'));
  REQUIRE(too_long);
  CHECK(*too_long == "is 129 bytes, more than 128");
  CHECK(SessionNameError(std::string(1 << 20, 'x'))->find("1048576 bytes") !=
        std::string::npos);
  CHECK(SessionNameError("abcd", 3));
  CHECK_FALSE(SessionNameError("abc", 3));

  const auto newline = SessionNameError("run\n2");
  REQUIRE(newline);
  CHECK(Contains(*newline, "a control character 0x0a at byte 3"));
  CHECK(Contains(*newline, "allowed: ASCII letters, digits and ._-:/@+"));
  CHECK(Contains(*SessionNameError("run 2"), "a space at byte 3"));
  CHECK(Contains(*SessionNameError(std::string("a\0b", 3)),
                 "a control character 0x00 at byte 1"));
  CHECK(Contains(*SessionNameError("tab\t"), "0x09"));
  CHECK(Contains(*SessionNameError("del\x7f"), "0x7f"));
  CHECK(Contains(*SessionNameError("caf\xc3\xa9"),
                 "a non-ASCII byte 0xc3 at byte 3"));
  for (const char* odd : {"a'b", "a\"b", "a;b", "a#b", "a\\b", "a*b", "a,b"}) {
    CAPTURE(odd);
    const auto error = SessionNameError(odd);
    REQUIRE(error);
    CHECK(Contains(*error, std::string("the character '") + odd[1] + "'"));
  }
}

TEST_CASE("a frame without a session belongs to the default session") {
  CHECK(SessionOrDefault("") == "default");
  CHECK(SessionOrDefault("") == kDefaultSessionName);
  CHECK(SessionOrDefault("run_17") == "run_17");
  CHECK_FALSE(SessionNameError(kDefaultSessionName));
}

TEST_CASE("SanitizedForLog quotes, escapes and truncates") {
  CHECK(SanitizedForLog("run_17") == "\"run_17\"");
  CHECK(SanitizedForLog("") == "\"\"");
  CHECK(SanitizedForLog("a\nb") == "\"a\\x0ab\"");
  CHECK(SanitizedForLog(std::string("\0\x1b[2J", 5)) == "\"\\x00\\x1b[2J\"");
  CHECK(SanitizedForLog("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
  CHECK(SanitizedForLog("\xff") == "\"\\xff\"");

  const std::string huge(1 << 20, 'y');
  const std::string shown = SanitizedForLog(huge);
  CHECK(shown == "\"" + std::string(64, 'y') + "\"...(1048576 bytes)");
  CHECK(SanitizedForLog("abcdef", 3) == "\"abc\"...(6 bytes)");
  // Whatever the input, the output is printable ASCII on one line.
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (char c : SanitizedForLog(all, 256)) {
    CHECK((c >= 0x20 && c < 0x7f));
  }
}

}  // namespace
}  // namespace anchord::daemon
