#include "daemon/serve/serve_command.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/config/config.h"
#include "daemon/serve/server.h"
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>
#include <optional>

namespace anchord::daemon {
namespace {

void PrintServeHelp(std::ostream& out) {
  out << R"(Usage: anchord serve [--config FILE]

Runs the registration daemon: subscribes to scan frames (anchord.v1.Frame)
on endpoints.frames, registers each against the Si(111)-7x7 model on a pool
of workers, and publishes [topic, payload] on endpoints.results with the
topics registration, corrected, sites, drift and status; answers queries
(anchord.v1.QueryRequest) on endpoints.queries.

Options:
  --config FILE   configuration (TOML; see config/anchord.toml for every
                  key); without it the built-in defaults are used
  -h, --help      show this help

Signals: SIGTERM/SIGINT drain in-flight frames and exit 0; SIGHUP reloads
FILE through the same validation (a bad file is rejected, the old
configuration kept).

Exit status: 0 after a clean stop, 1 when a socket, the metrics endpoint
or the catalog could not be opened, 2 on a usage error or an invalid
configuration.
)";
}

constexpr CommandUsage kUsage{"serve", &PrintServeHelp};

}  // namespace

int RunServeCommand(const std::vector<std::string>& args) {
  std::string path;
  bool help = false;
  const Status parsed = ApplyOptions(
      args, {"--config"},
      [&path](const std::string& name, const std::string& value) {
        if (value.empty()) return UsageError(name + " needs a file name");
        path = value;
        return Status::Ok();
      },
      help);
  if (const std::optional<int> exit = FinishParsing(kUsage, parsed, help)) {
    return *exit;
  }
  std::shared_ptr<const DaemonConfig> config;
  if (path.empty()) {
    config = std::make_shared<const DaemonConfig>();
    spdlog::info("[serve] no --config: built-in defaults");
  } else {
    const LoadedConfig loaded = LoadConfigFile(path);
    if (!loaded.status.ok()) {
      std::cerr << "anchord serve: invalid configuration:\n"
                << loaded.status.message() << '\n';
      return kExitUsage;
    }
    config = loaded.config;
  }
  Server server(config, path);
  return server.Run();
}

}  // namespace anchord::daemon
