#pragma once

#include "daemon/config/config.h"

#include <atomic>
#include <cstdint>
#include <memory>

namespace anchord::daemon {

// The daemon's current configuration: an immutable snapshot swapped as a
// whole (SIGHUP reload). Readers take a snapshot per frame, so a reload
// takes effect at a frame boundary. Thread-safe.
class ConfigHolder {
 public:
  explicit ConfigHolder(std::shared_ptr<const DaemonConfig> initial)
      : current_(std::move(initial)) {}

  std::shared_ptr<const DaemonConfig> Get() const { return current_.load(); }
  // Installs a validated configuration; returns the new version number.
  uint64_t Set(std::shared_ptr<const DaemonConfig> next) {
    current_.store(std::move(next));
    return ++version_;
  }
  // 0 for the configuration loaded at start, +1 per accepted reload.
  uint64_t version() const { return version_.load(); }

 private:
  std::atomic<std::shared_ptr<const DaemonConfig>> current_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace anchord::daemon
