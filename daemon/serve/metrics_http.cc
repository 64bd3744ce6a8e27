#include "daemon/serve/metrics_http.h"

#include "anchord/util/validation.h"

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <utility>

namespace anchord::daemon {

namespace asio = boost::asio;
using asio::ip::tcp;

Status MetricsHttpOptions::Validate() const {
  Violations v("metrics_http");
  ANCHORD_OPTION_GE(v, max_connections, 1);
  v.Require(idle_timeout.count() >= 1, "idle_timeout_ms", idle_timeout.count(),
            ">= 1");
  ANCHORD_OPTION_GE(v, max_request_bytes, size_t{64});
  v.Require(accept_retry.count() >= 1, "accept_retry_ms", accept_retry.count(),
            ">= 1");
  return v.ToStatus();
}

namespace {

std::string HttpReply(const char* status_line, const std::string& body) {
  return std::string("HTTP/1.0 ") + status_line +
         "\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// True for a request line "GET /metrics[?…] HTTP/…".
bool IsMetricsRequest(const std::string& head) {
  const size_t line_end = head.find("\r\n");
  const std::string line = head.substr(0, line_end);
  const std::string prefix = "GET /metrics";
  if (line.compare(0, prefix.size(), prefix) != 0) return false;
  const size_t after = prefix.size();
  return after < line.size() && (line[after] == ' ' || line[after] == '?');
}

}  // namespace

std::string MetricsHttpResponse(const std::string& request_head,
                                const std::function<std::string()>& body) {
  if (!IsMetricsRequest(request_head)) {
    return HttpReply("404 Not Found", "not found: only GET /metrics\n");
  }
  return HttpReply("200 OK", body());
}

struct MetricsHttpServer::Connection {
  explicit Connection(asio::io_context& io, size_t max_request_bytes)
      : socket(io), timer(io), buffer(max_request_bytes) {}

  // Idempotent: cancels the timer and closes the socket.
  void Shut() {
    timer.cancel();
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
  }

  tcp::socket socket;
  asio::steady_timer timer;
  asio::streambuf buffer;
  std::string response;
};

MetricsHttpServer::MetricsHttpServer(asio::io_context& io,
                                     const MetricsHttpOptions& o,
                                     BodyFn body)
    : io_(io), options_(o), body_(std::move(body)), acceptor_(io), retry_(io) {}

MetricsHttpServer::~MetricsHttpServer() { Close(); }

std::unique_ptr<MetricsHttpServer> MetricsHttpServer::Open(
    asio::io_context& io,
    const std::string& host,
    unsigned short port,
    const MetricsHttpOptions& o,
    BodyFn body,
    Status* why) {
  const Status valid = o.Validate();
  if (!valid.ok()) {
    *why = valid;
    return nullptr;
  }
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(io, o, std::move(body)));
  boost::system::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    *why = Status::InvalidInput("metrics address '" + host +
                                "': not an IP address literal");
    return nullptr;
  }
  const tcp::endpoint endpoint(address, port);
  server->acceptor_.open(endpoint.protocol(), ec);
  if (!ec) server->acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) server->acceptor_.bind(endpoint, ec);
  if (!ec)
    server->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *why = Status::InvalidInput("cannot listen on " + host + ":" +
                                std::to_string(port) + ": " + ec.message());
    return nullptr;
  }
  *why = Status::Ok();
  return server;
}

void MetricsHttpServer::Start() { Accept(); }

unsigned short MetricsHttpServer::port() const {
  boost::system::error_code ec;
  const tcp::endpoint local = acceptor_.local_endpoint(ec);
  return ec ? 0 : local.port();
}

MetricsHttpCounters MetricsHttpServer::counters() const {
  MetricsHttpCounters c;
  c.accepted = accepted_;
  c.evicted = evicted_;
  c.timed_out = timed_out_;
  c.accept_errors = accept_errors_;
  c.answered = answered_;
  c.open = open_;
  return c;
}

void MetricsHttpServer::Close() {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_.cancel();
  for (const auto& connection : connections_) connection->Shut();
  connections_.clear();
  open_ = 0;
}

void MetricsHttpServer::Accept() {
  if (closed_) return;
  auto connection =
      std::make_shared<Connection>(io_, options_.max_request_bytes);
  acceptor_.async_accept(
      connection->socket,
      [this, connection](const boost::system::error_code& ec) {
        if (closed_ || ec == asio::error::operation_aborted) return;
        if (ec) {
          // EMFILE, ENFILE, ENOBUFS, ECONNABORTED …: count it and try again
          // later; the listening socket stays open.
          ++accept_errors_;
          retry_.expires_after(options_.accept_retry);
          retry_.async_wait([this](const boost::system::error_code& wait_ec) {
            if (!wait_ec) Accept();
          });
          return;
        }
        ++accepted_;
        Admit(connection);
        Accept();
      });
}

void MetricsHttpServer::Admit(std::shared_ptr<Connection> connection) {
  while (connections_.size() >= static_cast<size_t>(options_.max_connections)) {
    connections_.front()->Shut();
    connections_.pop_front();
    ++evicted_;
  }
  connections_.push_back(connection);
  open_ = connections_.size();
  connection->timer.expires_after(options_.idle_timeout);
  connection->timer.async_wait(
      [this, connection](const boost::system::error_code& ec) {
        if (ec || closed_) return;  // cancelled: answered or evicted
        ++timed_out_;
        Forget(connection);
      });
  ReadRequest(connection);
}

void MetricsHttpServer::ReadRequest(
    const std::shared_ptr<Connection>& connection) {
  asio::async_read_until(
      connection->socket, connection->buffer, "\r\n\r\n",
      [this, connection](const boost::system::error_code& ec, size_t size) {
        if (closed_) return;
        if (ec) {  // closed by the peer, too long, evicted, timed out
          Forget(connection);
          return;
        }
        const auto data = connection->buffer.data();
        const std::string head(
            asio::buffers_begin(data),
            asio::buffers_begin(data) + static_cast<std::ptrdiff_t>(size));
        Respond(connection, head);
      });
}

void MetricsHttpServer::Respond(const std::shared_ptr<Connection>& connection,
                                const std::string& request_head) {
  connection->response = MetricsHttpResponse(request_head, body_);
  ++answered_;
  asio::async_write(
      connection->socket, asio::buffer(connection->response),
      [this, connection](const boost::system::error_code&, size_t) {
        if (!closed_) Forget(connection);
      });
}

void MetricsHttpServer::Forget(const std::shared_ptr<Connection>& connection) {
  connection->Shut();
  connections_.remove(connection);
  open_ = connections_.size();
}

}  // namespace anchord::daemon
