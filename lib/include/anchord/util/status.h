#pragma once

#include <string>
#include <utility>

namespace anchord {

// Outcome class of a per-frame computation or a configuration check.
// Per-frame failures are values of this type, never exceptions.
enum class StatusCode {
  kOk,
  kNoLattice,     // the frame holds no usable 7×7 lattice
  kInvalidInput,  // the input itself is malformed (size, NaN, bad options)
  kInternal,      // a library call failed unexpectedly inside a stage
};

// Wire / JSON spelling of a status code: "ok", "no_lattice", ...
const char* StatusCodeName(StatusCode code);

// A status code with a human-readable message naming what went wrong.
class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message)
      : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status NoLattice(std::string m) {
    return {StatusCode::kNoLattice, std::move(m)};
  }
  static Status InvalidInput(std::string m) {
    return {StatusCode::kInvalidInput, std::move(m)};
  }
  static Status Internal(std::string m) {
    return {StatusCode::kInternal, std::move(m)};
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

}  // namespace anchord
