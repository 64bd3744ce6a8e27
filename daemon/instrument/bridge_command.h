#pragma once

// `anchord bridge nanonis --controller HOST:PORT [options]`: a Nanonis
// controller's finished frames to the daemon, and optionally the daemon's
// drift back as the controller's drift compensation (nanonis_bridge.h).
// Runs until SIGINT/SIGTERM (or --frames N). Exit status 0 when stopped,
// 1 when the frames socket cannot be opened or the daemon configuration
// not read, 2 on a usage error.

#include "anchord/util/status.h"

#include "daemon/instrument/nanonis_bridge.h"

#include <iosfwd>
#include <string>
#include <vector>

namespace anchord::daemon {

// The parsed command line.
struct BridgeArgs {
  BridgeOptions options;
  // --daemon-config F: endpoints from the daemon's configuration file.
  std::string daemon_config;
  bool help = false;
};

// Parses the arguments after "bridge" ("nanonis" first). kInvalidInput on
// a usage error (unknown controller type or option, bad value, a missing
// --controller, --daemon-config together with --frames-endpoint or
// --results-endpoint).
Status ParseBridgeArgs(const std::vector<std::string>& args, BridgeArgs& out);

void PrintBridgeHelp(std::ostream& out);

// Runs `anchord bridge` and returns the process exit status.
int RunBridgeCommand(const std::vector<std::string>& args);

}  // namespace anchord::daemon
