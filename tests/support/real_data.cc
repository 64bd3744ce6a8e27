#include "support/real_data.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

namespace anchord::testing {

std::string RealDataDir() {
  namespace fs = std::filesystem;
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("ANCHORD_SHARED_DATA")) {
    candidates.push_back(fs::path(env) / "real");
  }
  // tests/support/real_data.cc -> <project>/../shared/data/real
  candidates.push_back(fs::path(__FILE__).parent_path() / "../../../shared" /
                       "data" / "real");
  for (const fs::path& dir : candidates) {
    std::error_code ec;
    if (fs::exists(dir / "Si_7x7_051.sxm", ec)) return dir.string();
  }
  return "";
}

}  // namespace anchord::testing
