#pragma once

// Session names: the one rule for what a session may be called, for every
// room that accepts one from outside (the frame decoder, the catalog), and
// a safe way to put an untrusted name in a log line or an error message.
//
// A valid name is 1 to max_bytes bytes (default kMaxSessionNameBytes) of
// printable ASCII letters, digits and the punctuation in
// kSessionNamePunctuation ("._-:/@+"): enough for "lt-stm-2/2024-05-01",
// "run_17", "user@host:3" or "sample+tip", and nothing that could break a
// log line, a query or a file name built from it (no spaces, quotes,
// control characters or bytes above 0x7e).
//
// A frame that names no session (the protobuf default "") belongs to the
// session kDefaultSessionName; the decoder applies SessionOrDefault before
// it validates the name, so "" never reaches the tracker or the catalog.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace anchord::daemon {

// Longest valid session name, bytes.
inline constexpr size_t kMaxSessionNameBytes = 128;
// The punctuation a session name may use besides letters and digits.
inline constexpr std::string_view kSessionNamePunctuation = "._-:/@+";
// The session of a frame that names none.
inline constexpr std::string_view kDefaultSessionName = "default";

// Why `name` is not a valid session name ("is empty", "is 300 bytes, more
// than 128", "has a control character 0x0a at byte 5; allowed: ..."), or
// unset when it is valid. `max_bytes` >= 1.
std::optional<std::string> SessionNameError(
    std::string_view name, size_t max_bytes = kMaxSessionNameBytes);

// `name`, or kDefaultSessionName when it is empty.
std::string SessionOrDefault(std::string_view name);

// `text` quoted for a log line or a message, whatever it holds: printable
// ASCII is kept, a backslash or double quote is escaped with a backslash,
// every other byte is written \xNN, and after `max_bytes` input bytes the
// rest is replaced by "...(N bytes)". The result is in double quotes: a
// name of 'a', a line feed and 'b' is written "a\x0ab".
std::string SanitizedForLog(std::string_view text, size_t max_bytes = 64);

}  // namespace anchord::daemon
