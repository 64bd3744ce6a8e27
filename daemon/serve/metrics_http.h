#pragma once

#include "anchord/util/status.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

namespace anchord::daemon {

// Limits of the Prometheus HTTP endpoint. A scraper sends one short GET
// per connection; nothing else needs more than these.
struct MetricsHttpOptions {
  // Connections open at once. One more is admitted by closing the oldest,
  // so idle connections can neither exhaust the daemon's file descriptors
  // nor lock a scraper out. Default 16; >= 1.
  int max_connections = 16;
  // A connection that has not sent a complete request (or not taken the
  // whole response) within this is closed. Default 5000 ms; >= 1.
  std::chrono::milliseconds idle_timeout{5000};
  // Longest request head (request line and headers), bytes; longer ones
  // are closed unanswered. Default 8192; >= 64.
  size_t max_request_bytes = 8192;
  // After a failed accept (e.g. EMFILE: no file descriptor left) the next
  // accept waits this long instead of spinning. Default 100 ms; >= 1.
  std::chrono::milliseconds accept_retry{100};

  // kOk, or kInvalidInput listing every violation.
  Status Validate() const;
};

// What the endpoint has done since it opened. Thread-safe reads.
struct MetricsHttpCounters {
  uint64_t accepted = 0;       // connections accepted
  uint64_t evicted = 0;        // closed to admit a newer one
  uint64_t timed_out = 0;      // closed after idle_timeout
  uint64_t accept_errors = 0;  // failed accepts (each retried)
  uint64_t answered = 0;       // requests answered (200 or 404)
  size_t open = 0;             // connections open now
};

// The daemon's Prometheus text endpoint: HTTP/1.0, one request per
// connection. `GET /metrics` (any query string) is answered 200 with
// body(); any other request 404. Runs on the caller's io_context (one
// thread); the body callback is called on that thread.
//
// States: Open() → listening (accepting) → Close() → closed. An accept
// error never ends the accept loop: it is counted and retried after
// accept_retry. Not copyable; the io_context must outlive it, and Close()
// (or the destructor) must run on the io_context's thread or after it
// stopped.
class MetricsHttpServer {
 public:
  using BodyFn = std::function<std::string()>;

  // Binds host:port (IPv4 or IPv6 literal). Null with `why` set when the
  // address is malformed or cannot be bound.
  static std::unique_ptr<MetricsHttpServer> Open(boost::asio::io_context& io,
                                                 const std::string& host,
                                                 unsigned short port,
                                                 const MetricsHttpOptions& o,
                                                 BodyFn body,
                                                 Status* why);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // Arms the accept loop (call once, before io.run() or on its thread).
  void Start();
  // Stops accepting and closes every connection.
  void Close();
  // The bound port (useful when opened on port 0).
  unsigned short port() const;
  MetricsHttpCounters counters() const;

 private:
  struct Connection;
  MetricsHttpServer(boost::asio::io_context& io,
                    const MetricsHttpOptions& o,
                    BodyFn body);
  void Accept();
  void Admit(std::shared_ptr<Connection> connection);
  void ReadRequest(const std::shared_ptr<Connection>& connection);
  void Respond(const std::shared_ptr<Connection>& connection,
               const std::string& request_head);
  void Forget(const std::shared_ptr<Connection>& connection);

  boost::asio::io_context& io_;
  const MetricsHttpOptions options_;
  const BodyFn body_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  // Open connections, oldest first.
  std::list<std::shared_ptr<Connection>> connections_;
  bool closed_ = false;

  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> timed_out_{0};
  std::atomic<uint64_t> accept_errors_{0};
  std::atomic<uint64_t> answered_{0};
  std::atomic<size_t> open_{0};
};

// The reply to one HTTP request head: "HTTP/1.0 200 OK …" with body() for
// `GET /metrics` (or /metrics?…), "HTTP/1.0 404 Not Found" otherwise
// (body() is then not called).
std::string MetricsHttpResponse(const std::string& request_head,
                                const std::function<std::string()>& body);

}  // namespace anchord::daemon
