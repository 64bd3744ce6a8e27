#include "daemon/common/bounded_queue.h"

namespace anchord::daemon {

const char* OverflowPolicyName(OverflowPolicy p) {
  switch (p) {
    case OverflowPolicy::kBlock:
      return "block";
    case OverflowPolicy::kDropOldest:
      return "drop_oldest";
    case OverflowPolicy::kDropNewest:
      return "drop_newest";
  }
  return "drop_oldest";
}

bool ParseOverflowPolicy(const std::string& name, OverflowPolicy& out) {
  for (OverflowPolicy p : {OverflowPolicy::kBlock, OverflowPolicy::kDropOldest,
                           OverflowPolicy::kDropNewest}) {
    if (name == OverflowPolicyName(p)) {
      out = p;
      return true;
    }
  }
  return false;
}

}  // namespace anchord::daemon
