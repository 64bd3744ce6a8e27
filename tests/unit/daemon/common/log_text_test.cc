#include "daemon/common/log_text.h"

#include <doctest/doctest.h>

#include <string>

namespace anchord::daemon {
namespace {

TEST_CASE("a message becomes one log line") {
  CHECK(OneLineForLog("a = 1. Violated\nb = 2. Violated") ==
        "a = 1. Violated; b = 2. Violated");
  CHECK(OneLineForLog(std::string("x\r\x1b[31my\x7f", 9)) ==
        "x\\x0d\\x1b[31my\\x7f");
  CHECK(OneLineForLog("grüße") == "grüße");  // UTF-8 kept
  CHECK(OneLineForLog("abcdef", 3) == "abc...(6 bytes)");
  CHECK(OneLineForLog("") == "");
}

}  // namespace
}  // namespace anchord::daemon
