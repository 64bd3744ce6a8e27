#pragma once

// Helpers shared by the .sxm reader (sxm.cc) and the frame extraction
// (sxm_frame.cc); not part of the library's interface.

#include "anchord/util/status.h"

#include <exception>
#include <new>
#include <string>
#include <string_view>

namespace anchord::sxm_internal {

// kInvalidInput "sxm: message", with bytes other than printable ASCII
// (file text may be in any encoding) replaced by '?' so that the message
// is valid UTF-8 wherever it is reported.
Status Invalid(const std::string& message);

// ASCII lower case (locale-independent; other bytes unchanged).
std::string Lower(std::string_view s);

// `s` in quotes for a message, cut to 40 bytes.
std::string Quote(std::string_view s);

// Runs `body` (returning Status), converting any exception to kInternal.
template <typename Body>
Status Guarded(const char* what, Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return Status::Internal(std::string("sxm: out of memory in ") + what);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("sxm: ") + what + ": " + e.what());
  } catch (...) {
    return Status::Internal(std::string("sxm: ") + what +
                            ": unknown exception");
  }
}

}  // namespace anchord::sxm_internal
