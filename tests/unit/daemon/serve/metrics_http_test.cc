#include "daemon/serve/metrics_http.h"

#include "support/loopback_http.h"
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace anchord::daemon {
namespace {

using testing::ConnectLoopbackTcp;
using testing::HttpExchange;
using testing::HttpGet;

using std::chrono::milliseconds;

// The endpoint on 127.0.0.1 (kernel-chosen port) with its io_context on a
// thread of its own, as the daemon runs it.
struct Endpoint {
  explicit Endpoint(MetricsHttpOptions o = {}) {
    Status why;
    server = MetricsHttpServer::Open(
        io, "127.0.0.1", 0, o, [] { return std::string("body 42\n"); }, &why);
    REQUIRE_MESSAGE(server, why.message());
    server->Start();
    thread = std::thread([this] { io.run(); });
  }
  ~Endpoint() {
    io.stop();
    thread.join();
  }
  boost::asio::io_context io;
  std::unique_ptr<MetricsHttpServer> server;
  std::thread thread;
};

bool WaitFor(const std::function<bool()>& done, milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

TEST_CASE("GET /metrics is answered 200 with the body, other paths 404") {
  Endpoint e;
  const unsigned short port = e.server->port();
  const std::string ok = HttpGet(port, "/metrics");
  CHECK(ok.rfind("HTTP/1.0 200 OK", 0) == 0);
  CHECK(ok.find("\r\n\r\nbody 42\n") != std::string::npos);
  CHECK(HttpGet(port, "/metrics?name[]=x").rfind("HTTP/1.0 200", 0) == 0);
  CHECK(HttpGet(port, "/").rfind("HTTP/1.0 404", 0) == 0);
  CHECK(HttpGet(port, "/metricsX").rfind("HTTP/1.0 404", 0) == 0);
  CHECK(HttpExchange(ConnectLoopbackTcp(port), "POST /metrics HTTP/1.0\r\n\r\n")
            .rfind("HTTP/1.0 404", 0) == 0);
  CHECK(e.server->counters().answered == 5);
}

TEST_CASE(
    "idle connections beyond the limit evict the oldest; a scraper "
    "is still served") {
  MetricsHttpOptions o;
  o.max_connections = 16;
  Endpoint e(o);
  const unsigned short port = e.server->port();
  std::vector<int> idle;
  for (int k = 0; k < 300; ++k) {
    const int fd = ConnectLoopbackTcp(port);
    REQUIRE(fd >= 0);
    idle.push_back(fd);
  }
  REQUIRE(WaitFor([&] { return e.server->counters().accepted == 300; },
                  milliseconds(5000)));
  const MetricsHttpCounters held = e.server->counters();
  CHECK(held.open <= 16);
  CHECK(held.evicted >= 284);
  // Held open, 300 idle clients do not lock the scraper out.
  CHECK(HttpGet(port, "/metrics").rfind("HTTP/1.0 200", 0) == 0);
  for (int fd : idle) ::close(fd);
}

TEST_CASE(
    "a connection that sends nothing is closed after the idle "
    "timeout") {
  MetricsHttpOptions o;
  o.idle_timeout = milliseconds(100);
  Endpoint e(o);
  const int fd = ConnectLoopbackTcp(e.server->port());
  REQUIRE(fd >= 0);
  char byte;
  const auto start = std::chrono::steady_clock::now();
  CHECK(::recv(fd, &byte, 1, 0) == 0);  // orderly close by the server
  CHECK(std::chrono::steady_clock::now() - start < milliseconds(2000));
  ::close(fd);
  CHECK(WaitFor([&] { return e.server->counters().timed_out == 1; },
                milliseconds(1000)));
}

TEST_CASE("an over-long request head is closed unanswered") {
  MetricsHttpOptions o;
  o.max_request_bytes = 256;
  Endpoint e(o);
  const std::string response = HttpExchange(
      ConnectLoopbackTcp(e.server->port()),
      "GET /metrics HTTP/1.0\r\nX: " + std::string(4096, 'a') + "\r\n\r\n");
  CHECK(response.empty());
  CHECK(HttpGet(e.server->port(), "/metrics").rfind("HTTP/1.0 200", 0) == 0);
}

// Regression: an accept error (no file descriptor left) used to end the
// accept loop, so the endpoint stayed dead after the descriptors were
// freed again.
TEST_CASE("the accept loop survives running out of file descriptors") {
  MetricsHttpOptions o;
  o.accept_retry = milliseconds(20);
  Endpoint e(o);
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  const int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(client >= 0);
  // No descriptor above the highest one in use: the server's accept()
  // fails with EMFILE while the client's connection waits in the backlog.
  int highest = client;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    highest = std::max(highest, std::stoi(entry.path().filename().string()));
  }
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(highest + 1);
  REQUIRE(setrlimit(RLIMIT_NOFILE, &tight) == 0);
  // Fill the holes below the limit.
  std::vector<int> fillers;
  for (int fd; (fd = ::dup(client)) >= 0;) fillers.push_back(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(e.server->port());
  const int connected =
      ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const bool failed_accepts =
      WaitFor([&] { return e.server->counters().accept_errors >= 2; },
              milliseconds(3000));
  REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  for (int fd : fillers) ::close(fd);
  REQUIRE(connected == 0);
  CHECK(failed_accepts);
  timeval timeout{3, 0};
  setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  // The waiting connection is accepted on a retry and answered.
  CHECK(HttpExchange(client, "GET /metrics HTTP/1.0\r\n\r\n")
            .rfind("HTTP/1.0 200", 0) == 0);
  CHECK(HttpGet(e.server->port(), "/metrics").rfind("HTTP/1.0 200", 0) == 0);
}

TEST_CASE("options are validated, every violation listed") {
  MetricsHttpOptions o;
  o.max_connections = 0;
  o.idle_timeout = milliseconds(0);
  o.max_request_bytes = 10;
  o.accept_retry = milliseconds(0);
  const Status s = o.Validate();
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("max_connections") != std::string::npos);
  CHECK(s.message().find("idle_timeout_ms") != std::string::npos);
  CHECK(s.message().find("max_request_bytes") != std::string::npos);
  CHECK(s.message().find("accept_retry_ms") != std::string::npos);
  boost::asio::io_context io;
  Status why;
  CHECK(MetricsHttpServer::Open(io, "not-an-ip", 0, {}, {}, &why) == nullptr);
  CHECK(why.message().find("not an IP address") != std::string::npos);
}

}  // namespace
}  // namespace anchord::daemon
