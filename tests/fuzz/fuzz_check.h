#pragma once

// Shared by the libFuzzer targets: a broken contract aborts, so that
// libFuzzer records the input as a crash.

#include <cstdio>
#include <cstdlib>
#include <string>

namespace anchord::fuzz {

inline void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz: contract broken: %s\n", what);
    std::abort();
  }
}

// Every status message the daemon reports is printable ASCII or UTF-8
// without control characters other than '\n' (messages list violations
// one per line).
inline bool IsLoggable(const std::string& m) {
  for (char c : m) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n') return false;
  }
  return true;
}

}  // namespace anchord::fuzz
