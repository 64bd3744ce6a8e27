#include "daemon/common/stop_signals.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>

namespace anchord::daemon {

namespace asio = boost::asio;

struct StopSignals::Runtime {
  asio::io_context io;
  asio::signal_set signals{io, SIGINT, SIGTERM};
};

StopSignals::StopSignals() : runtime_(std::make_unique<Runtime>()) {
  runtime_->signals.async_wait(
      [this](const boost::system::error_code& ec, int signo) {
        if (ec) return;
        signal_ = signo;
        stop_ = true;
      });
  thread_ = std::thread([this] { runtime_->io.run(); });
}

StopSignals::~StopSignals() {
  runtime_->io.stop();
  thread_.join();
}

}  // namespace anchord::daemon
