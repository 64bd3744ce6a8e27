#pragma once

#include "anchord/util/status.h"

#include <sstream>
#include <string>
#include <vector>

namespace anchord {

// Collects every violated constraint of an Options struct, so that
// Validate() reports all of them at once:
//   "detect.sigma_fraction = -1. Violated constraint: > 0"
class Violations {
 public:
  explicit Violations(std::string prefix) : prefix_(std::move(prefix)) {}

  template <typename T>
  void Require(bool ok,
               const char* key,
               const T& value,
               const char* constraint) {
    if (ok) return;
    std::ostringstream s;
    s << prefix_ << "." << key << " = " << value
      << ". Violated constraint: " << constraint;
    messages_.push_back(s.str());
  }
  // Merges another stage's violations (from its Validate()).
  void Merge(const Status& status);

  // kOk when nothing was violated, else kInvalidInput listing every
  // violation, one per line.
  Status ToStatus() const;

 private:
  std::string prefix_;
  std::vector<std::string> messages_;
};

// Constraint helpers, in the manner of Ceres' OPTION_GT.
#define ANCHORD_OPTION_GT(v, field, bound) \
  v.Require((field) > (bound), #field, field, "> " #bound)
#define ANCHORD_OPTION_GE(v, field, bound) \
  v.Require((field) >= (bound), #field, field, ">= " #bound)
#define ANCHORD_OPTION_IN_OPEN(v, field, lo, hi)             \
  v.Require((field) > (lo) && (field) < (hi), #field, field, \
            "in (" #lo ", " #hi ")")
#define ANCHORD_OPTION_IN_CLOSED(v, field, lo, hi)             \
  v.Require((field) >= (lo) && (field) <= (hi), #field, field, \
            "in [" #lo ", " #hi "]")

}  // namespace anchord
