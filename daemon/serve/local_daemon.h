#pragma once

// An anchord daemon inside the current process, for the commands that
// bring their own (`anchord demo`, `anchord study closed-loop`): a private
// folder for ipc endpoints, Server::Run on a thread, and a wait until it
// answers queries.

#include "anchord/util/status.h"

#include "daemon/common/exit_codes.h"
#include "daemon/config/config.h"
#include "daemon/serve/server.h"
#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

namespace anchord::daemon {

// A private folder under the system's temporary directory for the ipc
// endpoints; removed with everything in it on destruction.
class RuntimeDir {
 public:
  RuntimeDir() = default;
  RuntimeDir(const RuntimeDir&) = delete;
  RuntimeDir& operator=(const RuntimeDir&) = delete;
  ~RuntimeDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }

  // kInternal when the folder cannot be made.
  Status Create();
  // "ipc://<folder>/<name>".
  std::string Endpoint(const char* name) const {
    return "ipc://" + (path_ / name).string();
  }

 private:
  std::filesystem::path path_;
};

// Server::Run on a thread of its own.
class DaemonThread {
 public:
  explicit DaemonThread(std::shared_ptr<const DaemonConfig> config)
      : server_(std::move(config), "") {
    thread_ = std::thread([this] { Run(); });
  }
  DaemonThread(const DaemonThread&) = delete;
  DaemonThread& operator=(const DaemonThread&) = delete;
  ~DaemonThread() { Stop(); }

  bool exited() const { return exited_; }
  // Asks the daemon to drain and stop (as SIGTERM would).
  void RequestStop() { server_.RequestStop(); }
  // RequestStop, then waits for Run to return; its exit status.
  int Stop() {
    server_.RequestStop();
    if (thread_.joinable()) thread_.join();
    return exit_status_;
  }

 private:
  void Run();

  Server server_;
  std::thread thread_;
  std::atomic<bool> exited_{false};
  int exit_status_ = kExitFailure;
};

// Sends a health query until the daemon answers (it is then serving);
// false when it exits, `stop` is set or `timeout` passes first.
bool WaitUntilServing(
    zmq::context_t& context,
    const std::string& queries,
    const DaemonThread& daemon,
    const std::atomic<bool>& stop,
    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The built-in default configuration with ipc endpoints in `dir`, no
// metrics endpoint, log level warn and the catalog at `catalog_path` (""
// = in memory).
DaemonConfig LocalDaemonConfig(const RuntimeDir& dir,
                               const std::string& catalog_path);

}  // namespace anchord::daemon
