#include "daemon/common/log_text.h"

#include <cstdio>

namespace anchord::daemon {

std::string OneLineForLog(std::string_view text, size_t max_bytes) {
  std::string out;
  const size_t n = text.size() < max_bytes ? text.size() : max_bytes;
  out.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    const auto u = static_cast<unsigned char>(text[k]);
    if (u == '\n') {
      out += "; ";
    } else if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += static_cast<char>(u);
    }
  }
  if (n < text.size()) {
    out += "...(" + std::to_string(text.size()) + " bytes)";
  }
  return out;
}

}  // namespace anchord::daemon
