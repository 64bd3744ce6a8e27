// The reload policy: which settings a SIGHUP reload applies and which keep
// their running values until a restart.

#include "daemon/config/reload.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace anchord::daemon {
namespace {

using Keys = std::vector<std::string>;

TEST_CASE("an unchanged configuration reloads as nothing") {
  const DaemonConfig running;
  const ReloadPlan plan = ApplyReloadable(running, running);
  CHECK(plan.applied.empty());
  CHECK(plan.need_restart.empty());
  CHECK(plan.config == running);
}

TEST_CASE("per-frame, logging and query settings are applied") {
  const DaemonConfig running;
  DaemonConfig next;
  next.pipeline.drain_timeout_ms = 100;
  next.pipeline.status_period_ms = 500;
  next.limits.max_side_px = 4096;
  next.logging.level = "debug";
  next.logging.per_frame_warnings_per_s = 3;
  next.registration.detect.min_response_sigma = 2.25;
  next.track.min_confidence = 0.99;
  next.catalog.max_query_results = 10;
  const ReloadPlan plan = ApplyReloadable(running, next);
  CHECK(plan.need_restart.empty());
  CHECK(plan.applied ==
        Keys{"pipeline.drain_timeout_ms", "pipeline.status_period_ms",
             "limits.max_side_px", "logging.level",
             "logging.per_frame_warnings_per_s",
             "registration.detect.min_response_sigma", "track.min_confidence",
             "catalog.max_query_results"});
  CHECK(plan.config == next);
}

TEST_CASE("sockets, threads, queues and the catalog wait for a restart") {
  const DaemonConfig running;
  DaemonConfig next;
  next.endpoints.results = "tcp://127.0.0.1:7000";
  next.endpoints.http_metrics = "";
  next.security.curve_server_secret_key_file = "/etc/anchord/secret";
  next.pipeline.workers = 4;
  next.pipeline.ingest_queue = 32;
  next.pipeline.ingest_overflow = OverflowPolicy::kBlock;
  next.pipeline.reorder_max = 64;
  next.pipeline.reorder_timeout_ms = 100;
  next.catalog.state_interval_s = 0;
  const ReloadPlan plan = ApplyReloadable(running, next);
  CHECK(plan.applied.empty());
  CHECK(plan.need_restart ==
        Keys{"endpoints.results", "endpoints.http_metrics",
             "security.curve_server_secret_key_file", "pipeline.workers",
             "pipeline.ingest_queue", "pipeline.ingest_overflow",
             "pipeline.reorder_max", "pipeline.reorder_timeout_ms",
             "catalog.state_interval_s"});
  CHECK(plan.config == running);
}

TEST_CASE("a mixed reload applies its part and keeps the rest") {
  DaemonConfig running;
  running.pipeline.workers = 3;
  DaemonConfig next = running;
  next.pipeline.workers = 8;
  next.pipeline.reorder_max = 32;
  next.pipeline.drain_timeout_ms = 0;
  next.catalog.options.max_age_s = 3600;
  next.catalog.max_query_results = 50;
  next.registration.correct.max_output_px = 1024;
  const ReloadPlan plan = ApplyReloadable(running, next);
  CHECK(plan.applied == Keys{"pipeline.drain_timeout_ms",
                             "registration.correct.max_output_px",
                             "catalog.max_query_results"});
  CHECK(plan.need_restart ==
        Keys{"pipeline.workers", "pipeline.reorder_max", "catalog.max_age_s"});
  CHECK(plan.config.pipeline.workers == 3);
  CHECK(plan.config.pipeline.reorder_max == running.pipeline.reorder_max);
  CHECK(plan.config.pipeline.drain_timeout_ms == 0);
  CHECK(plan.config.catalog.options.max_age_s ==
        running.catalog.options.max_age_s);
  CHECK(plan.config.catalog.max_query_results == 50);
  CHECK(plan.config.registration.correct.max_output_px == 1024);
}

}  // namespace
}  // namespace anchord::daemon
