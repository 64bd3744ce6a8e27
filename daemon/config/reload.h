#pragma once

#include "daemon/config/config.h"

#include <string>
#include <vector>

namespace anchord::daemon {

// What a configuration reload (SIGHUP) installs, and what it leaves for a
// restart.
struct ReloadPlan {
  // The configuration to install: the new one, with every setting that
  // needs a restart kept at its running value.
  DaemonConfig config;
  // Full TOML keys ("logging.level") whose new value `config` holds, in
  // file order.
  std::vector<std::string> applied;
  // Full TOML keys whose new value waits for a restart (`config` keeps the
  // running one), in file order.
  std::vector<std::string> need_restart;
};

// The reload policy of `anchord serve`, a pure function of the running and
// the newly loaded (valid) configuration. Sockets, worker threads, queues
// and the catalog are built once at start-up, so these keep their running
// values: every endpoints.* and security.* key; pipeline.workers,
// ingest_queue, ingest_queue_bytes, ingest_overflow, reorder_max,
// reorder_timeout_ms and stage_deadline_ms; every
// catalog.* key but max_query_results. Everything else takes its new
// value: limits.*, logging.*, registration.* (from the next frame on),
// track.* (for sessions started afterwards), pipeline.drain_timeout_ms
// and status_period_ms, catalog.max_query_results.
ReloadPlan ApplyReloadable(const DaemonConfig& running,
                           const DaemonConfig& next);

}  // namespace anchord::daemon
