#pragma once

// Text from outside (a status message that quotes a frame's fields, a
// file's header) made safe for one log line.

#include <cstddef>
#include <string>
#include <string_view>

namespace anchord::daemon {

// `text` as one log line: each line break becomes "; " (messages list
// violations one per line), every other control byte or DEL is written
// \xNN, and text past `max_bytes` input bytes is replaced by
// "...(N bytes)". Printable bytes, including UTF-8, are kept.
std::string OneLineForLog(std::string_view text, size_t max_bytes = 4096);

}  // namespace anchord::daemon
