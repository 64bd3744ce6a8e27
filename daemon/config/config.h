#pragma once

#include "anchord/pipeline/register_frame.h"
#include "anchord/track/session_tracker.h"
#include "anchord/util/status.h"

#include "daemon/catalog/catalog.h"
#include "daemon/common/bounded_queue.h"
#include "daemon/wire/wire.h"

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace anchord::daemon {

// The daemon's configuration (`anchord serve --config F`): loaded once
// from TOML, validated with every violation listed, then frozen as a
// std::shared_ptr<const DaemonConfig>. SIGHUP builds a new one through the
// same LoadConfigFile() path (what it may change: reload.h).
// config/anchord.toml documents every key; its values equal the defaults
// below.
//
// Each table is the options struct of the part of the daemon it
// configures, not a copy of it: [endpoints], [security], [pipeline]
// (FramePipeline's options), [limits] (wire's FrameLimits), [logging],
// [registration] (the library's PipelineOptions, with [registration.level],
// [registration.detect], [registration.lattice],
// [registration.homography], [registration.sites],
// [registration.off_lattice] and [registration.correct] for its stages),
// [track] and [track.drift] (TrackOptions), [catalog] (CatalogOptions and
// the daemon's use of the catalog). Files: config.cc validates,
// config_load.cc reads TOML, config_toml.cc writes it and compares,
// config_keys.h lists every key.

// How the frames SUB socket reaches the acquisition controller.
enum class FramesMode {
  kConnect,  // "connect": the controller binds its PUB socket (default)
  kBind,     // "bind": the daemon binds, controllers connect
};
const char* FramesModeName(FramesMode mode);  // "connect" | "bind"

struct SecurityConfig;

// ZeroMQ endpoints ("tcp://host:port", "ipc://path", "inproc://name") and
// the HTTP metrics address. Table [endpoints].
struct EndpointsConfig {
  // The acquisition controller's frame stream (SUB socket).
  std::string frames = "tcp://127.0.0.1:5555";
  // Whether the SUB socket connects to `frames` or binds it. Default
  // connect.
  FramesMode frames_mode = FramesMode::kConnect;
  // Results, bound PUB socket; topics registration, corrected, sites,
  // drift, status.
  std::string results = "tcp://127.0.0.1:5556";
  // Queries, bound ROUTER socket.
  std::string queries = "tcp://127.0.0.1:5557";
  // Prometheus text endpoint, "host:port" (HTTP, unencrypted); empty = off.
  std::string http_metrics = "127.0.0.1:9105";

  // kOk, or kInvalidInput listing every violation, one per line
  // ("endpoints.queries = \"…\". Violated constraint: differs from
  // endpoints.results"); a non-loopback ZeroMQ endpoint is one unless
  // `security` enables CURVE.
  Status Validate(const SecurityConfig& security) const;

  bool operator==(const EndpointsConfig&) const = default;
};

// ZeroMQ CURVE material. A non-loopback ZeroMQ endpoint (see
// IsLoopbackEndpoint) is refused unless both files are set. Table
// [security]. Relative paths resolve against the daemon's working
// directory; a set path must name an existing regular file at load time.
struct SecurityConfig {
  // The daemon's CURVE secret key (Z85 text, as zmq_curve_keypair writes).
  std::string curve_server_secret_key_file;
  // Allow-list of client public keys (Z85), one per line.
  std::string curve_allowed_client_keys_file;

  // True when both key files are set.
  bool curve_enabled() const {
    return !curve_server_secret_key_file.empty() &&
           !curve_allowed_client_keys_file.empty();
  }
  // kOk, or kInvalidInput listing every violation, one per line: a set
  // file that does not exist, one file set without the other.
  Status Validate() const;

  bool operator==(const SecurityConfig&) const = default;
};

// The daemon's frame pipeline: FramePipeline (daemon/serve/frame_pipeline.h)
// takes this struct as its options. Table [pipeline].
struct PipelineConfig {
  // Registration worker threads. Default 2; in [1, 64].
  int workers = 2;
  // Capacity of the ingest queue, frames. Default 8; in [1, 4096].
  int ingest_queue = 8;
  // The ingest queue's bound in bytes: the wire messages it holds at most.
  // A frame that does not fit is handled by ingest_overflow like one past
  // ingest_queue; one larger than the whole budget is dropped (counted),
  // so it should hold the largest frame limits.max_side_px allows (8192²
  // float32: 256 MiB). Default 1073741824 (1 GiB); in [1048576,
  // 17179869184] (1 MiB, 16 GiB).
  int64_t ingest_queue_bytes = int64_t{1} << 30;
  // What a full ingest queue does with a new frame ("drop_oldest",
  // "drop_newest", "block" in the file). Default drop_oldest: a live
  // instrument wants the newest frame, not a backlog.
  OverflowPolicy ingest_overflow = OverflowPolicy::kDropOldest;
  // Results held back for in-order publishing, frames. Default 16; in
  // [workers, 4096] (every frame in flight must fit).
  int reorder_max = 16;
  // A result waits at most this long for a missing predecessor, ms; then
  // the gap is given up on (a result that turns up for it later is not
  // published: sequence numbers only increase). Default 2000; >= 1.
  int reorder_timeout_ms = 2000;
  // Watchdog: the ordered stages (tracking and the catalog commit) may run
  // this long on one frame, ms; past it the frame is published without
  // tracking (internal_error) and so is every later frame until they
  // return; a stage call past it is logged. Default 10000; >= 100.
  int stage_deadline_ms = 10000;
  // SIGTERM: in-flight frames get this long to finish, ms. Default 5000;
  // >= 0.
  int drain_timeout_ms = 5000;
  // Period of the `status` topic, ms. Default 2000; >= 100.
  int status_period_ms = 2000;

  // kOk, or kInvalidInput listing every violation, one per line:
  // "pipeline.workers = 0. Violated constraint: in [1, 64]".
  Status Validate() const;

  bool operator==(const PipelineConfig&) const = default;
};

// spdlog set-up. Table [logging].
struct LoggingConfig {
  // spdlog level: "trace", "debug", "info", "warn", "error", "critical",
  // "off". Default "info".
  std::string level = "info";
  // Per-frame warnings (bad frames, no lattice) logged at most this often,
  // per second; the rest are counted. Default 1; >= 0 (0 = none).
  double per_frame_warnings_per_s = 1.0;

  // kOk, or kInvalidInput listing every violation, one per line.
  Status Validate() const;

  bool operator==(const LoggingConfig&) const = default;
};

// The persistent defect catalog. Table [catalog]: the catalog's own
// options and what the daemon does with it. Opened once at start-up.
struct CatalogConfig {
  // The database and its retention (daemon/catalog/catalog.h documents
  // each): keys path, max_defects_per_session, max_age_s, match_radius_nm.
  // In the file, path "" keeps the catalog in memory (lost at exit) and a
  // relative path resolves against the daemon's working directory; default
  // "anchord_catalog.sqlite". read_only is not a key: the daemon writes.
  CatalogOptions options = {.path = "anchord_catalog.sqlite"};
  // Most defects one query returns. Default 1000; >= 1.
  int max_query_results = 1000;
  // The tracker's state (session frame, drift fit, site map) is committed
  // with a frame's defects when this long has passed since it was last
  // stored, s; 0 = with every frame. After a crash the session resumes
  // from a state at most this old (every defect is stored regardless).
  // Default 5; >= 0.
  double state_interval_s = 5;

  // The options to open the catalog with: `options`, path "" as ":memory:".
  CatalogOptions OpenOptions() const;
  // kOk, or kInvalidInput listing every violation, one per line:
  // "catalog.max_age_s = -1. Violated constraint: >= 0".
  Status Validate() const;
};

// Everything `anchord serve` reads from its configuration file.
struct DaemonConfig {
  EndpointsConfig endpoints;
  SecurityConfig security;
  PipelineConfig pipeline;
  // Every incoming frame is checked against these (table [limits]).
  FrameLimits limits;
  LoggingConfig logging;
  // Per-frame registration options, passed unchanged to RegisterFrame().
  PipelineOptions registration;
  // Cross-frame tracking (tables [track], [track.drift]).
  TrackOptions track;
  CatalogConfig catalog;

  // kOk, or kInvalidInput listing every violated constraint, one per line,
  // each "table.key = value. Violated constraint: …" with the full TOML
  // key (registration options included, e.g.
  // "registration.homography.gate_fraction = 0.7. Violated constraint: in
  // (0, 0.5)"). Checks that CURVE key files exist.
  Status Validate() const;
};

// Field-by-field equality over every configuration key.
bool operator==(const DaemonConfig& a, const DaemonConfig& b);

// The full TOML keys ("pipeline.workers") whose values differ, in file
// order; for logging what a reload changed.
std::vector<std::string> ChangedKeys(const DaemonConfig& a,
                                     const DaemonConfig& b);

// The outcome of loading a configuration. On success `status` is kOk and
// `config` is set; otherwise `config` is null and `status` (kInvalidInput)
// lists every problem, one per line, each prefixed with
// "source:line:" (parse errors "source:line:column:") where the file
// position is known. `source_text` is the text that was read (empty when
// the file could not be read).
struct LoadedConfig {
  Status status;
  std::shared_ptr<const DaemonConfig> config;
  std::string source_text;
};

// Loads and validates a TOML configuration. Missing keys and tables take
// their defaults; unknown keys or tables, values of the wrong type,
// unknown enum spellings and violated constraints are all errors. Never
// throws.
LoadedConfig LoadConfigFile(const std::string& path);
// The same from text; `source_name` names it in messages.
LoadedConfig LoadConfigString(std::string_view toml,
                              std::string_view source_name);

// The configuration as TOML, every key present, in the order of
// config/anchord.toml (no comments). LoadConfigString(ToToml(c)) gives a
// config equal to c (doubles are written in shortest round-trip form).
std::string ToToml(const DaemonConfig& config);

// True for endpoints that cannot leave the host: tcp://127.x.x.x:…,
// tcp://localhost:…, tcp://[::1]:…, ipc://…, inproc://….
bool IsLoopbackEndpoint(std::string_view endpoint);

}  // namespace anchord::daemon
