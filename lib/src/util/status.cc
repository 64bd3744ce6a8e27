#include "anchord/util/status.h"

#include "anchord/util/validation.h"

namespace anchord {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kNoLattice:
      return "no_lattice";
    case StatusCode::kInvalidInput:
      return "invalid_input";
    case StatusCode::kInternal:
      return "internal_error";
  }
  return "internal_error";
}

void Violations::Merge(const Status& status) {
  if (status.ok()) return;
  std::istringstream lines(status.message());
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) messages_.push_back(line);
  }
}

Status Violations::ToStatus() const {
  if (messages_.empty()) return Status::Ok();
  std::string all;
  for (const auto& m : messages_) {
    if (!all.empty()) all += "\n";
    all += m;
  }
  return Status::InvalidInput(all);
}

}  // namespace anchord
