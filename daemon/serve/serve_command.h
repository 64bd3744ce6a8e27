#pragma once

#include <string>
#include <vector>

namespace anchord::daemon {

// `anchord serve [--config FILE]`: the daemon. Loads and
// validates the configuration (every violation listed, exit 2 when it is
// invalid), then serves until SIGTERM/SIGINT, draining in-flight frames
// within pipeline.drain_timeout_ms, and exits 0. SIGHUP reloads FILE.
// Without --config the built-in defaults are used (loopback endpoints
// 5555 frames, 5556 results, 5557 queries).
int RunServeCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
