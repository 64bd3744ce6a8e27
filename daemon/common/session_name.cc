#include "daemon/common/session_name.h"

#include <algorithm>
#include <cstdio>

namespace anchord::daemon {
namespace {

bool AllowedInSessionName(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') ||
         kSessionNamePunctuation.find(static_cast<char>(c)) !=
             std::string_view::npos;
}

std::string Hex(unsigned char c) {
  char text[5];
  std::snprintf(text, sizeof(text), "0x%02x", c);
  return text;
}

// What kind of byte `c` is, for the error message.
std::string Describe(unsigned char c) {
  if (c < 0x20 || c == 0x7f) return "a control character " + Hex(c);
  if (c == ' ') return "a space";
  if (c > 0x7f) return "a non-ASCII byte " + Hex(c);
  return std::string("the character '") + static_cast<char>(c) + "'";
}

}  // namespace

std::optional<std::string> SessionNameError(std::string_view name,
                                            size_t max_bytes) {
  if (name.empty()) return "is empty";
  if (name.size() > max_bytes) {
    return "is " + std::to_string(name.size()) + " bytes, more than " +
           std::to_string(max_bytes);
  }
  for (size_t k = 0; k < name.size(); ++k) {
    const auto c = static_cast<unsigned char>(name[k]);
    if (AllowedInSessionName(c)) continue;
    return "has " + Describe(c) + " at byte " + std::to_string(k) +
           "; allowed: ASCII letters, digits and " +
           std::string(kSessionNamePunctuation);
  }
  return std::nullopt;
}

std::string SessionOrDefault(std::string_view name) {
  return std::string(name.empty() ? kDefaultSessionName : name);
}

std::string SanitizedForLog(std::string_view text, size_t max_bytes) {
  std::string out = "\"";
  const size_t shown = std::min(text.size(), max_bytes);
  for (size_t k = 0; k < shown; ++k) {
    const auto c = static_cast<unsigned char>(text[k]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", c);
      out += escaped;
    }
  }
  out += '"';
  if (shown < text.size()) {
    out += "...(" + std::to_string(text.size()) + " bytes)";
  }
  return out;
}

}  // namespace anchord::daemon
