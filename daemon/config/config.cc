#include "daemon/config/config.h"

#include "anchord/util/validation.h"

#include "daemon/config/config_keys.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace anchord::daemon {
namespace {

using config_internal::QuoteToml;

// spdlog level names accepted by spdlog::level::from_str.
constexpr const char* kLogLevels[] = {"trace", "debug",    "info", "warn",
                                      "error", "critical", "off"};

// Parses a decimal port in [1, 65535].
bool IsPort(std::string_view s) {
  int port = 0;
  const auto result = std::from_chars(s.data(), s.data() + s.size(), port);
  return result.ec == std::errc() && result.ptr == s.data() + s.size() &&
         port >= 1 && port <= 65535;
}

// "host:port" with a non-empty host (IPv6 in brackets) and a valid port;
// `allow_wildcard_port` also accepts "*" (ZeroMQ bind to any free port).
bool IsHostPort(std::string_view s, bool allow_wildcard_port) {
  const std::size_t colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view host = s.substr(0, colon);
  const std::string_view port = s.substr(colon + 1);
  const bool bracketed = host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find_first_of("[]:") != std::string_view::npos) {
    return false;
  }
  return IsPort(port) || (allow_wildcard_port && port == "*");
}

bool IsZmqEndpoint(std::string_view e, bool bound) {
  for (const std::string_view scheme : {"ipc://", "inproc://"}) {
    if (e.starts_with(scheme)) return e.size() > scheme.size();
  }
  constexpr std::string_view kTcp = "tcp://";
  return e.starts_with(kTcp) && IsHostPort(e.substr(kTcp.size()), bound);
}

bool IsIpv4Loopback(std::string_view host) {
  int octets[4];
  std::string_view rest = host;
  for (int k = 0; k < 4; ++k) {
    const std::size_t dot = rest.find('.');
    if ((k < 3) == (dot == std::string_view::npos)) return false;
    const std::string_view part = rest.substr(0, dot);
    const auto result =
        std::from_chars(part.data(), part.data() + part.size(), octets[k]);
    if (part.empty() || part.size() > 3 || result.ec != std::errc() ||
        result.ptr != part.data() + part.size() || octets[k] > 255) {
      return false;
    }
    rest = k < 3 ? rest.substr(dot + 1) : "";
  }
  return octets[0] == 127;
}

constexpr const char* kZmqSyntax =
    "tcp://host:port, ipc://path or inproc://name";

// The library's messages name keys by stage ("homography.gate_fraction",
// "pipeline.min_cell_px"); the file nests them under [registration].
Status RegistrationViolations(const PipelineOptions& options) {
  const Status status = options.Validate();
  if (status.ok()) return status;
  std::istringstream lines(status.message());
  std::string out;
  constexpr std::string_view kOwn = "pipeline.";
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    if (!out.empty()) out += '\n';
    out += line.starts_with(kOwn) ? "registration." + line.substr(kOwn.size())
                                  : "registration." + line;
  }
  return Status::InvalidInput(out);
}

}  // namespace

const char* FramesModeName(FramesMode mode) {
  return mode == FramesMode::kBind ? "bind" : "connect";
}

bool IsLoopbackEndpoint(std::string_view endpoint) {
  if (endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://")) {
    return true;
  }
  constexpr std::string_view kTcp = "tcp://";
  if (!endpoint.starts_with(kTcp)) return false;
  const std::string_view rest = endpoint.substr(kTcp.size());
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos) return false;
  const std::string_view host = rest.substr(0, colon);
  return host == "localhost" || host == "[::1]" || IsIpv4Loopback(host);
}

// The host part of "tcp://host:port" or "host:port" ("" when there is no
// colon).
std::string_view HostOf(std::string_view host_port) {
  if (host_port.starts_with("tcp://")) host_port.remove_prefix(6);
  const std::size_t colon = host_port.rfind(':');
  return colon == std::string_view::npos ? std::string_view()
                                         : host_port.substr(0, colon);
}

// A host that means "every interface".
bool IsWildcardHost(std::string_view host) {
  return host == "*" || host == "0.0.0.0" || host == "[::]" ||
         host == "[0:0:0:0:0:0:0:0]";
}

Status EndpointsConfig::Validate(const SecurityConfig& security) const {
  Violations v("endpoints");
  const EndpointsConfig& e = *this;
  const bool frames_bound = e.frames_mode == FramesMode::kBind;
  const std::pair<const char*, const std::string*> zmq[] = {
      {"frames", &e.frames}, {"results", &e.results}, {"queries", &e.queries}};
  for (const auto& [key, value] : zmq) {
    const bool bound = value != &e.frames || frames_bound;
    if (!IsZmqEndpoint(*value, bound)) {
      v.Require(false, key, QuoteToml(*value), kZmqSyntax);
    } else if (bound && HostOf(*value) == "localhost") {
      // ZeroMQ binds to an address or an interface name, not a host name.
      v.Require(false, key, QuoteToml(*value),
                "a bound endpoint names an address: tcp://127.0.0.1:PORT "
                "(ZeroMQ cannot bind tcp://localhost)");
    } else {
      v.Require(IsLoopbackEndpoint(*value) || security.curve_enabled(), key,
                QuoteToml(*value),
                "loopback (tcp://127.x.x.x, tcp://localhost, tcp://[::1], "
                "ipc://, inproc://) unless security.curve_server_secret_key_"
                "file and security.curve_allowed_client_keys_file are set");
    }
  }
  v.Require(e.queries != e.results, "queries", QuoteToml(e.queries),
            "differs from endpoints.results");
  if (frames_bound) {
    v.Require(e.frames != e.results && e.frames != e.queries, "frames",
              QuoteToml(e.frames),
              "differs from endpoints.results and endpoints.queries");
  }
  v.Require(e.http_metrics.empty() || IsHostPort(e.http_metrics, false),
            "http_metrics", QuoteToml(e.http_metrics),
            "host:port with port in [1, 65535], or empty (off)");
  // The metrics endpoint has no authentication: never on every interface.
  v.Require(!IsWildcardHost(HostOf(e.http_metrics)), "http_metrics",
            QuoteToml(e.http_metrics),
            "a single address, not every interface (it is unauthenticated: "
            "use 127.0.0.1, or the one address a Prometheus server reaches)");
  return v.ToStatus();
}

Status SecurityConfig::Validate() const {
  Violations v("security");
  const SecurityConfig& s = *this;
  const std::pair<const char*, const std::string*> files[] = {
      {"curve_server_secret_key_file", &s.curve_server_secret_key_file},
      {"curve_allowed_client_keys_file", &s.curve_allowed_client_keys_file}};
  for (const auto& [key, path] : files) {
    if (path->empty()) continue;
    std::error_code ec;
    v.Require(std::filesystem::is_regular_file(*path, ec), key,
              QuoteToml(*path), "an existing regular file");
  }
  const bool server = !s.curve_server_secret_key_file.empty();
  const bool clients = !s.curve_allowed_client_keys_file.empty();
  v.Require(server || !clients, "curve_server_secret_key_file",
            QuoteToml(s.curve_server_secret_key_file),
            "set together with security.curve_allowed_client_keys_file");
  v.Require(clients || !server, "curve_allowed_client_keys_file",
            QuoteToml(s.curve_allowed_client_keys_file),
            "set together with security.curve_server_secret_key_file");
  return v.ToStatus();
}

Status LoggingConfig::Validate() const {
  Violations v("logging");
  const LoggingConfig& l = *this;
  const auto* end = std::end(kLogLevels);
  v.Require(std::find(std::begin(kLogLevels), end, l.level) != end, "level",
            QuoteToml(l.level),
            "one of \"trace\", \"debug\", \"info\", \"warn\", \"error\", "
            "\"critical\", \"off\"");
  v.Require(l.per_frame_warnings_per_s >= 0, "per_frame_warnings_per_s",
            l.per_frame_warnings_per_s, ">= 0");
  return v.ToStatus();
}

Status PipelineConfig::Validate() const {
  Violations v("pipeline");
  v.Require(workers >= 1 && workers <= 64, "workers", workers, "in [1, 64]");
  v.Require(ingest_queue >= 1 && ingest_queue <= 4096, "ingest_queue",
            ingest_queue, "in [1, 4096]");
  v.Require(ingest_queue_bytes >= (int64_t{1} << 20) &&
                ingest_queue_bytes <= (int64_t{16} << 30),
            "ingest_queue_bytes", ingest_queue_bytes,
            "in [1048576, 17179869184]");
  v.Require(reorder_max >= workers && reorder_max <= 4096, "reorder_max",
            reorder_max,
            ("in [pipeline.workers (" + std::to_string(workers) + "), 4096]")
                .c_str());
  v.Require(reorder_timeout_ms >= 1, "reorder_timeout_ms", reorder_timeout_ms,
            ">= 1");
  v.Require(stage_deadline_ms >= 100, "stage_deadline_ms", stage_deadline_ms,
            ">= 100");
  v.Require(drain_timeout_ms >= 0, "drain_timeout_ms", drain_timeout_ms,
            ">= 0");
  v.Require(status_period_ms >= 100, "status_period_ms", status_period_ms,
            ">= 100");
  return v.ToStatus();
}

CatalogOptions CatalogConfig::OpenOptions() const {
  CatalogOptions open = options;
  if (open.path.empty()) open.path = ":memory:";
  return open;
}

Status CatalogConfig::Validate() const {
  Violations v("catalog");
  v.Merge(OpenOptions().Validate());
  v.Require(max_query_results >= 1, "max_query_results", max_query_results,
            ">= 1");
  v.Require(state_interval_s >= 0, "state_interval_s", state_interval_s,
            ">= 0");
  return v.ToStatus();
}

Status DaemonConfig::Validate() const {
  // Merge() keeps each table's messages as they are; the prefix is unused.
  Violations all("config");
  all.Merge(endpoints.Validate(security));
  all.Merge(security.Validate());
  all.Merge(pipeline.Validate());
  all.Merge(limits.Validate());
  all.Merge(logging.Validate());
  all.Merge(RegistrationViolations(registration));
  all.Merge(track.Validate());
  all.Merge(catalog.Validate());
  return all.ToStatus();
}

}  // namespace anchord::daemon
