#include "daemon/config/reload.h"

namespace anchord::daemon {

ReloadPlan ApplyReloadable(const DaemonConfig& running,
                           const DaemonConfig& next) {
  ReloadPlan plan;
  plan.config = next;
  DaemonConfig& c = plan.config;
  // Sockets are bound once.
  c.endpoints = running.endpoints;
  c.security = running.security;
  // So are the worker threads and the queues; the drain deadline and the
  // status period are read when they are used.
  c.pipeline = running.pipeline;
  c.pipeline.drain_timeout_ms = next.pipeline.drain_timeout_ms;
  c.pipeline.status_period_ms = next.pipeline.status_period_ms;
  // The catalog is opened once, with its retention and state interval;
  // queries read their limit from the current configuration.
  c.catalog = running.catalog;
  c.catalog.max_query_results = next.catalog.max_query_results;
  plan.need_restart = ChangedKeys(c, next);
  plan.applied = ChangedKeys(running, c);
  return plan;
}

}  // namespace anchord::daemon
