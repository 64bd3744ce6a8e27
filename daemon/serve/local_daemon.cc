#include "daemon/serve/local_daemon.h"

#include "anchord/v1/anchord.pb.h"

#include "daemon/common/exit_codes.h"
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <cerrno>

namespace anchord::daemon {

using Clock = std::chrono::steady_clock;

Status RuntimeDir::Create() {
  std::error_code ec;
  std::string pattern =
      (std::filesystem::temp_directory_path(ec) / "anchord-demo-XXXXXX")
          .string();
  if (ec || mkdtemp(pattern.data()) == nullptr) {
    return Status::Internal(
        "cannot create a temporary folder for the "
        "demo's sockets");
  }
  path_ = pattern;
  return Status::Ok();
}

void DaemonThread::Run() {
  try {
    exit_status_ = server_.Run();
  } catch (const std::exception& e) {
    spdlog::critical("[local daemon] {}", e.what());
    exit_status_ = kExitFailure;
  }
  exited_ = true;
}

// Sends a health query until the daemon answers (it is then serving);
// false when it exits, `stop` is set or kStartTimeout passes first.
bool WaitUntilServing(zmq::context_t& context,
                      const std::string& queries,
                      const DaemonThread& daemon,
                      const std::atomic<bool>& stop,
                      std::chrono::milliseconds timeout) {
  zmq::socket_t dealer(context, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(queries);
  v1::QueryRequest request;
  request.set_request_id(1);
  request.mutable_health();
  const std::string body = request.SerializeAsString();
  dealer.send(zmq::message_t(), zmq::send_flags::sndmore);
  dealer.send(zmq::buffer(body), zmq::send_flags::none);
  const Clock::time_point deadline = Clock::now() + timeout;
  while (!stop && !daemon.exited() && Clock::now() < deadline) {
    zmq::pollitem_t item{static_cast<void*>(dealer), 0, ZMQ_POLLIN, 0};
    try {
      zmq::poll(&item, 1, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() != EINTR) throw;
      continue;
    }
    if (item.revents & ZMQ_POLLIN) return true;
  }
  return false;
}

DaemonConfig LocalDaemonConfig(const RuntimeDir& dir,
                               const std::string& catalog_path) {
  DaemonConfig config;
  config.endpoints.frames = dir.Endpoint("frames");
  config.endpoints.frames_mode = FramesMode::kConnect;
  config.endpoints.results = dir.Endpoint("results");
  config.endpoints.queries = dir.Endpoint("queries");
  config.endpoints.http_metrics = "";
  config.logging.level = "warn";
  config.catalog.options.path = catalog_path;
  return config;
}

}  // namespace anchord::daemon
