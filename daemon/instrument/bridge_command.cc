#include "daemon/instrument/bridge_command.h"

#include "daemon/common/cli_args.h"
#include "daemon/common/exit_codes.h"
#include "daemon/common/stop_signals.h"
#include "daemon/config/config.h"
#include <spdlog/spdlog.h>

#include <iostream>

namespace anchord::daemon {
namespace {

const std::vector<std::string> kFlags = {"--help", "-h", "--apply-drift",
                                         "--bind", "--connect"};
const std::vector<std::string> kValues = {"--controller",
                                          "--daemon-config",
                                          "--frames-endpoint",
                                          "--results-endpoint",
                                          "--channel",
                                          "--direction",
                                          "--session",
                                          "--instrument",
                                          "--max-drift-nm-per-min",
                                          "--max-sigma-nm-per-min",
                                          "--min-interval-s",
                                          "--saturation-limit-percent",
                                          "--wait-slice-ms",
                                          "--io-timeout-ms",
                                          "--backoff-max-ms",
                                          "--frames"};

// "HOST:PORT" (an IPv6 address in brackets: "[::1]:6501").
Status ParseController(const std::string& text, NanonisClientOptions& c) {
  const size_t colon = text.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !ParseNumber(std::string_view(text).substr(colon + 1), port) ||
      port < 1 || port > 65535) {
    return UsageError("--controller = '" + text +
                      "': expected HOST:PORT (e.g. 127.0.0.1:6501)");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  c.host = host;
  c.port = port;
  return Status::Ok();
}

template <typename T>
Status Number(const std::string& name,
              const std::string& value,
              T& out,
              bool (*ok)(T)) {
  T v{};
  if (!ParseNumber(value, v) || !ok(v)) {
    return UsageError(name + " = '" + value + "': out of range");
  }
  out = v;
  return Status::Ok();
}

Status Apply(const std::string& name, const std::string& value, BridgeArgs& a) {
  BridgeOptions& o = a.options;
  if (name == "--controller") return ParseController(value, o.controller);
  if (name == "--daemon-config") {
    a.daemon_config = value;
    return Status::Ok();
  }
  if (name == "--frames-endpoint") {
    o.publisher.endpoint = value;
    return Status::Ok();
  }
  if (name == "--results-endpoint") {
    o.results_endpoint = value;
    return Status::Ok();
  }
  if (name == "--channel") {
    o.channel = value;
    return Status::Ok();
  }
  if (name == "--session") {
    o.session = value;
    return Status::Ok();
  }
  if (name == "--instrument") {
    o.instrument = value;
    return Status::Ok();
  }
  if (name == "--direction") {
    if (value != "forward" && value != "backward") {
      return UsageError("--direction = '" + value +
                        "': expected forward or backward");
    }
    o.trace = value == "forward" ? SxmTrace::kForward : SxmTrace::kBackward;
    return Status::Ok();
  }
  const auto positive = [](double v) { return v > 0; };
  const auto non_negative = [](double v) { return v >= 0; };
  if (name == "--max-drift-nm-per-min") {
    return Number<double>(name, value, o.drift.max_drift_nm_per_min, positive);
  }
  if (name == "--max-sigma-nm-per-min") {
    return Number<double>(name, value, o.drift.max_sigma_nm_per_min, positive);
  }
  if (name == "--min-interval-s") {
    return Number<double>(name, value, o.drift.min_interval_s, non_negative);
  }
  if (name == "--saturation-limit-percent") {
    return Number<double>(name, value, o.saturation_limit_percent,
                          [](double v) { return v > 0 && v <= 100; });
  }
  const auto ms = [](int v) { return v >= 1 && v <= 600000; };
  if (name == "--wait-slice-ms") {
    return Number<int>(name, value, o.wait_slice_ms, ms);
  }
  if (name == "--io-timeout-ms") {
    int v = 0;
    Status s = Number<int>(name, value, v, ms);
    o.controller.io_timeout = std::chrono::milliseconds(v);
    return s;
  }
  if (name == "--backoff-max-ms") {
    Status s = Number<int>(name, value, o.backoff_max_ms, ms);
    o.backoff_initial_ms = std::min(o.backoff_initial_ms, o.backoff_max_ms);
    return s;
  }
  return Number<int64_t>(name, value, o.max_frames,
                         [](int64_t v) { return v >= 0; });
}

// Endpoints from the daemon's configuration: its frame endpoint (the
// bridge binds when the daemon connects, and connects when it binds) and
// its results endpoint.
Status ApplyDaemonConfig(const std::string& path, BridgeOptions& o) {
  const LoadedConfig loaded = LoadConfigFile(path);
  if (!loaded.status.ok()) return loaded.status;
  o.publisher.endpoint = loaded.config->endpoints.frames;
  o.publisher.bind =
      loaded.config->endpoints.frames_mode == FramesMode::kConnect;
  o.results_endpoint = loaded.config->endpoints.results;
  return Status::Ok();
}

}  // namespace

Status ParseBridgeArgs(const std::vector<std::string>& args, BridgeArgs& a) {
  SplitArgs split;
  Status s = SplitCommandLine(args, kFlags, kValues, split);
  if (!s.ok()) return s;
  for (const std::string& flag : split.flags) {
    if (flag == "--help" || flag == "-h") a.help = true;
  }
  if (a.help) return Status::Ok();
  if (split.positional.size() != 1 || split.positional[0] != "nanonis") {
    return UsageError(
        "expected the controller type: `anchord bridge nanonis ...`");
  }
  for (const std::string& flag : split.flags) {
    if (flag == "--apply-drift") a.options.apply_drift = true;
    if (flag == "--bind") a.options.publisher.bind = true;
    if (flag == "--connect") a.options.publisher.bind = false;
  }
  if (std::count(split.flags.begin(), split.flags.end(), "--bind") +
          std::count(split.flags.begin(), split.flags.end(), "--connect") >
      1) {
    return UsageError("--bind and --connect exclude each other");
  }
  if (!split.values.count("--controller")) {
    return UsageError("--controller HOST:PORT is required");
  }
  if (split.values.count("--daemon-config") &&
      (split.values.count("--frames-endpoint") ||
       split.values.count("--results-endpoint") ||
       std::count(split.flags.begin(), split.flags.end(), "--bind") ||
       std::count(split.flags.begin(), split.flags.end(), "--connect"))) {
    return UsageError(
        "--daemon-config gives the endpoints: not with --frames-endpoint, "
        "--results-endpoint, --bind or --connect");
  }
  for (const auto& [name, value] : split.values) {
    s = Apply(name, value, a);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

void PrintBridgeHelp(std::ostream& out) {
  out << R"(Usage: anchord bridge nanonis --controller HOST:PORT [options]

Connects to a Nanonis (SPECS) controller's TCP programming interface,
waits for every finished frame (Scan.WaitEndOfScan), reads it with its
geometry and line time (Scan.BufferGet, Scan.SpeedGet, Scan.FrameGet,
Piezo.DriftCompGet, ZCtrl.OnOffGet, Scan.FrameDataGrab) and publishes it as an
anchord.v1.Frame for `anchord serve`, one line per frame on stdout. The
acquisition time is the controller's end of scan minus lines x (forward +
backward time per line). With --apply-drift it sets the daemon's drift
estimate as the controller's drift compensation (Piezo.DriftCompSet) when
the estimate is valid, its frame placed, its uncertainty small and no axis
saturated, clamped to --max-drift-nm-per-min and at most once per
--min-interval-s. A lost controller is reconnected with doubling back-off;
nothing the controller sends ends the bridge.

Options:
  --controller HOST:PORT       the controller (Nanonis: File > Settings >
                               TCP; ports 6501-6504); required
  --daemon-config FILE         the daemon's configuration: its frame and
                               results endpoints
  --frames-endpoint E          frames PUB socket (default
                               tcp://127.0.0.1:5555, bound)
  --bind | --connect           bind E (default) or connect to it (a daemon
                               with frames_mode = "bind")
  --results-endpoint E         the daemon's results (default
                               tcp://127.0.0.1:5556), for the drift topic
  --channel NAME               channel to publish (default: Z, or with the
                               Z controller off, constant height, its
                               signal channel such as Current)
  --direction forward|backward trace to publish (default forward)
  --session NAME               Frame.session (default nanonis)
  --instrument NAME            Frame.instrument (default nanonis)
  --apply-drift                set the daemon's drift as compensation
  --max-drift-nm-per-min V     largest compensation set, nm/min (default 20)
  --max-sigma-nm-per-min V     largest accepted uncertainty (default 0.5)
  --min-interval-s S           shortest time between settings (default 10)
  --saturation-limit-percent P saturation limit sent with the setting
                               (default: the controller's own)
  --wait-slice-ms MS           Scan.WaitEndOfScan time-out, how often drift
                               is handled while waiting (default 200)
  --io-timeout-ms MS           longest wait for one response (default 10000)
  --backoff-max-ms MS          longest wait between reconnects (default 8000)
  --frames N                   stop after N frames (default: never)
  -h, --help                   show this help

Exit status: 0 when stopped (SIGINT/SIGTERM, --frames), 1 when the frames
socket cannot be opened or the daemon configuration not read, 2 on a usage
error.
)";
}

int RunBridgeCommand(const std::vector<std::string>& args) {
  constexpr CommandUsage kUsage{"bridge", &PrintBridgeHelp};
  BridgeArgs parsed;
  const Status status = ParseBridgeArgs(args, parsed);
  if (const std::optional<int> exit =
          FinishParsing(kUsage, status, parsed.help)) {
    return *exit;
  }
  if (!parsed.daemon_config.empty()) {
    const Status s = ApplyDaemonConfig(parsed.daemon_config, parsed.options);
    if (!s.ok()) {
      spdlog::error("[bridge] {}", s.message());
      return kExitFailure;
    }
  }
  const Status valid = parsed.options.Validate();
  if (!valid.ok()) return ReportUsageError(kUsage, valid);
  StopSignals signals;
  BridgeCounters counters;
  const Status ran =
      RunNanonisBridge(parsed.options, signals.flag(), &counters);
  if (!ran.ok()) {
    spdlog::error("[bridge] {}", ran.message());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace anchord::daemon
