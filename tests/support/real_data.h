#pragma once

// Where the real scans of ../shared/data/real are, for tests that use them
// and skip cleanly when they are absent (a user's clone has no ../shared).

#include <string>

namespace anchord::testing {

// $ANCHORD_SHARED_DATA/real (set by tests/CMakeLists.txt), else the folder
// beside the source tree; "" when neither holds the scans.
std::string RealDataDir();

}  // namespace anchord::testing
