#include "daemon/instrument/nanonis_client.h"

#include "anchord/util/validation.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <optional>

namespace anchord::daemon {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

}  // namespace

Status NanonisClientOptions::Validate() const {
  Violations v("controller");
  v.Require(!host.empty(), "host", "\"\"", "not empty");
  ANCHORD_OPTION_IN_CLOSED(v, port, 1, 65535);
  v.Require(connect_timeout.count() > 0, "connect_timeout_ms",
            connect_timeout.count(), "> 0");
  v.Require(io_timeout.count() > 0, "io_timeout_ms", io_timeout.count(), "> 0");
  return v.ToStatus();
}

// The socket and the io_context that runs its operations one at a time
// with a deadline: start the operation, run the context for at most the
// deadline, and close the socket (cancelling the operation) when it has
// not finished.
struct NanonisClient::Io {
  asio::io_context context;
  tcp::socket socket{context};

  // Runs the operations started by `start` (which gets the completion
  // handler) until they complete or `timeout` passes; asio::error::timed_out
  // and a closed socket in that case.
  template <typename Start, typename Cancel>
  error_code Run(std::chrono::milliseconds timeout,
                 Start start,
                 Cancel cancel) {
    std::optional<error_code> result;
    start([&result](const error_code& ec, auto&&...) { result = ec; });
    context.restart();
    context.run_for(timeout);
    if (!result) {
      cancel();
      context.restart();
      context.run();  // the aborted handler
      return asio::error::timed_out;
    }
    return *result;
  }
  template <typename Start>
  error_code Run(std::chrono::milliseconds timeout, Start start) {
    return Run(timeout, start, [this] {
      error_code ignored;
      socket.close(ignored);
    });
  }
};

NanonisClient::NanonisClient(NanonisClientOptions options)
    : options_(std::move(options)), io_(std::make_unique<Io>()) {}

NanonisClient::~NanonisClient() { Close(); }

std::string NanonisClient::peer() const {
  return options_.host + ":" + std::to_string(options_.port);
}

bool NanonisClient::connected() const { return io_->socket.is_open(); }

void NanonisClient::Close() {
  error_code ignored;
  io_->socket.shutdown(tcp::socket::shutdown_both, ignored);
  io_->socket.close(ignored);
}

Status NanonisClient::Connect() {
  Close();
  tcp::resolver resolver(io_->context);
  tcp::resolver::results_type endpoints;
  error_code ec = io_->Run(
      options_.connect_timeout,
      [&](auto handler) {
        resolver.async_resolve(
            options_.host, std::to_string(options_.port),
            [handler, &endpoints](const error_code& e,
                                  tcp::resolver::results_type r) mutable {
              endpoints = std::move(r);
              handler(e);
            });
      },
      [&resolver] { resolver.cancel(); });
  if (!ec) {
    ec = io_->Run(options_.connect_timeout, [&](auto handler) {
      asio::async_connect(io_->socket, endpoints, handler);
    });
  }
  if (ec) {
    Close();
    last_failure_ = CallFailure::kTransport;
    return Status::Internal("nanonis: cannot connect to " + peer() + ": " +
                            ec.message());
  }
  io_->socket.set_option(tcp::no_delay(true), ec);
  last_failure_ = CallFailure::kNone;
  return Status::Ok();
}

Status NanonisClient::Call(std::string_view command,
                           std::string_view body,
                           std::chrono::milliseconds command_wait,
                           std::string* reply) {
  last_failure_ = CallFailure::kTransport;
  if (!connected()) {
    return Status::Internal("nanonis: not connected to " + peer());
  }
  const std::string request =
      nanonis::EncodeMessage(command, body, /*send_response=*/1);
  const auto fail = [&](const std::string& what, const error_code& e) {
    Close();
    return Status::Internal("nanonis " + std::string(command) + ": " + what +
                            " " + peer() + ": " + e.message());
  };
  error_code ec = io_->Run(options_.io_timeout, [&](auto handler) {
    asio::async_write(io_->socket, asio::buffer(request), handler);
  });
  if (ec) return fail("cannot send to", ec);

  std::array<char, nanonis::kHeaderBytes> header_bytes;
  ec = io_->Run(options_.io_timeout + command_wait, [&](auto handler) {
    asio::async_read(io_->socket, asio::buffer(header_bytes), handler);
  });
  if (ec) return fail("no response header from", ec);
  nanonis::Header header;
  Status s = nanonis::DecodeHeader(
      std::string_view(header_bytes.data(), header_bytes.size()), &header);
  if (s.ok() && header.command != command) {
    s = Status::InvalidInput("nanonis: response for '" + header.command +
                             "' to a request for '" + std::string(command) +
                             "'");
  }
  if (!s.ok()) {
    Close();
    last_failure_ = CallFailure::kProtocol;
    return s;
  }
  reply->assign(header.body_size, '\0');
  if (header.body_size > 0) {
    ec = io_->Run(options_.io_timeout, [&](auto handler) {
      asio::async_read(io_->socket, asio::buffer(reply->data(), reply->size()),
                       handler);
    });
    if (ec) {
      return fail("response body of " + std::to_string(header.body_size) +
                      " bytes cut short by",
                  ec);
    }
  }
  last_failure_ = CallFailure::kNone;
  return Status::Ok();
}

Status NanonisClient::Decoded(const Status& decoded) {
  if (decoded.ok()) {
    last_failure_ = CallFailure::kNone;
  } else if (decoded.code() == StatusCode::kInternal) {
    last_failure_ = CallFailure::kController;  // error block set
  } else {
    last_failure_ = CallFailure::kProtocol;
    Close();
  }
  return decoded;
}

Status NanonisClient::WaitEndOfScan(int32_t timeout_ms,
                                    nanonis::WaitEndOfScanReply* out) {
  std::string reply;
  const Status s =
      Call(nanonis::kScanWaitEndOfScan,
           nanonis::EncodeRequest(nanonis::WaitEndOfScanRequest{timeout_ms}),
           std::chrono::milliseconds(std::max(timeout_ms, 0)), &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeReply(reply, out));
}

Status NanonisClient::FrameGet(nanonis::ScanFrame* out) {
  std::string reply;
  const Status s = Call(nanonis::kScanFrameGet, "", {}, &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeReply(reply, out));
}

Status NanonisClient::FrameSet(const nanonis::ScanFrame& frame) {
  std::string reply;
  const Status s =
      Call(nanonis::kScanFrameSet, nanonis::EncodeRequest(frame), {}, &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeEmptyReply(nanonis::kScanFrameSet, reply));
}

Status NanonisClient::FrameDataGrab(
    const nanonis::FrameDataGrabRequest& request,
    nanonis::FrameDataGrabReply* out) {
  std::string reply;
  const Status s = Call(nanonis::kScanFrameDataGrab,
                        nanonis::EncodeRequest(request), {}, &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeReply(reply, out));
}

Status NanonisClient::BufferGet(nanonis::BufferGetReply* out) {
  std::string reply;
  const Status s = Call(nanonis::kScanBufferGet, "", {}, &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeReply(reply, out));
}

Status NanonisClient::SpeedGet(nanonis::SpeedGetReply* out) {
  std::string reply;
  const Status s = Call(nanonis::kScanSpeedGet, "", {}, &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeReply(reply, out));
}

Status NanonisClient::DriftCompGet(nanonis::DriftCompGetReply* out) {
  std::string reply;
  const Status s = Call(nanonis::kPiezoDriftCompGet, "", {}, &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeReply(reply, out));
}

Status NanonisClient::DriftCompSet(
    const nanonis::DriftCompSetRequest& request) {
  std::string reply;
  const Status s = Call(nanonis::kPiezoDriftCompSet,
                        nanonis::EncodeRequest(request), {}, &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeEmptyReply(nanonis::kPiezoDriftCompSet, reply));
}

Status NanonisClient::ZCtrlOnOffGet(nanonis::ZCtrlOnOffGetReply* out) {
  std::string reply;
  const Status s = Call(nanonis::kZCtrlOnOffGet, "", {}, &reply);
  if (!s.ok()) return s;
  return Decoded(nanonis::DecodeReply(reply, out));
}

}  // namespace anchord::daemon
