#pragma once

#include <cstdlib>
#include <iostream>
#include <sstream>

// ANCHORD_CHECK(cond) << "context";  aborts when an invariant is broken.
// For bugs only: bad input and bad configuration are reported as Status.
namespace anchord::internal {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* expr) {
    stream_ << file << ":" << line << ": check failed: " << expr << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << stream_.str() << std::endl;
    std::abort();
  }
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace anchord::internal

#define ANCHORD_CHECK(cond) \
  if (cond) {               \
  } else                    \
    ::anchord::internal::CheckFailure(__FILE__, __LINE__, #cond).stream()
