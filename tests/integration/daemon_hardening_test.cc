// `anchord serve` against hostile or careless peers: the real binary over
// loopback (tests/support/daemon_harness.h). Each case reproduces a way
// the daemon could once be hung, starved or grown without bound.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "daemon/common/clock.h"
#include "support/daemon_harness.h"

namespace anchord::testing {
namespace {

#define REQUIRE_DAEMON(d) REQUIRE_MESSAGE((d).ok, (d).error)

int PortOf(const std::string& host_port) {
  return std::stoi(host_port.substr(host_port.rfind(':') + 1));
}

// A TCP connection to 127.0.0.1:port, or -1.
int ConnectTcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval timeout{3, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string HttpGet(int port) {
  const int fd = ConnectTcp(port);
  std::string response;
  if (fd < 0) return response;
  const std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
      static_cast<ssize_t>(request.size())) {
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0;) {
      response.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return response;
}

size_t OpenFds(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(
           "/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// Sets the soft RLIMIT_NOFILE for this process (children inherit it).
bool SetSoftFdLimit(rlim_t soft) {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return false;
  r.rlim_cur = std::min(soft, r.rlim_max);
  return setrlimit(RLIMIT_NOFILE, &r) == 0;
}

// Regression: 1,100 idle connections to the metrics endpoint took a daemon
// with the usual 1,024-descriptor limit to that limit; no ZeroMQ peer could
// connect any more, and the endpoint stayed dead after they closed.
TEST_CASE("idle metrics connections cannot exhaust the daemon's file "
          "descriptors" *
          doctest::timeout(90)) {
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  REQUIRE(SetSoftFdLimit(1024));  // the daemon inherits systemd's default
  RunningDaemon d;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  REQUIRE_DAEMON(d);
  if (saved.rlim_cur < 1300) {
    MESSAGE("skipped: this process may open only ", saved.rlim_cur,
            " descriptors");
    return;
  }
  const int port = PortOf(d.config.endpoints.http_metrics);
  std::vector<int> idle;
  for (int k = 0; k < 1100; ++k) {
    const int fd = ConnectTcp(port);
    if (fd >= 0) idle.push_back(fd);
  }
  CHECK(idle.size() == 1100);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const size_t fds_held = OpenFds(d.process->pid());
  CHECK(fds_held < 200);
  // While the idle connections are still open: queries, frames and the
  // metrics endpoint all work.
  CHECK(d.client.Health().has_value());
  REQUIRE(d.client.Send(Encode(MakeTruthScan(3).frame, 3)));
  CHECK(d.client.CollectRegistrations(1, Millis(20000)).size() == 1);
  CHECK(HttpGet(port).rfind("HTTP/1.0 200", 0) == 0);
  for (int fd : idle) ::close(fd);
  CHECK(HttpGet(port).rfind("HTTP/1.0 200", 0) == 0);
  MESSAGE("daemon descriptors with 1100 idle metrics connections: ",
          fds_held);
}

TEST_CASE("any path but /metrics is answered 404") {
  RunningDaemon d;
  REQUIRE_DAEMON(d);
  const int port = PortOf(d.config.endpoints.http_metrics);
  const int fd = ConnectTcp(port);
  REQUIRE(fd >= 0);
  const std::string request = "GET /secret HTTP/1.0\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  char buffer[256] = {};
  CHECK(::recv(fd, buffer, sizeof(buffer) - 1, 0) > 0);
  ::close(fd);
  CHECK(std::string(buffer).rfind("HTTP/1.0 404", 0) == 0);
}

// Regression: the query handler looped while any query was pending, so one
// DEALER sending health queries without pause stopped results for seconds
// and dropped frames.
TEST_CASE("a query flood does not starve frames" * doctest::timeout(120)) {
  RunningDaemon d([](daemon::DaemonConfig& c) {
    c.pipeline.ingest_queue = 4;
  });
  REQUIRE_DAEMON(d);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> sent{0};
  std::vector<std::thread> flooders;
  for (int k = 0; k < 2; ++k) {
    flooders.emplace_back([&] {
      zmq::context_t context(1);
      zmq::socket_t dealer(context, zmq::socket_type::dealer);
      dealer.set(zmq::sockopt::linger, 0);
      dealer.set(zmq::sockopt::sndhwm, 100000);
      dealer.set(zmq::sockopt::rcvhwm, 100);  // replies are dropped unread
      dealer.connect(d.config.endpoints.queries);
      v1::QueryRequest health;
      health.mutable_health();
      const std::string body = health.SerializeAsString();
      while (!stop) {
        for (int burst = 0; burst < 1000; ++burst) {
          if (!dealer.send(zmq::buffer(body), zmq::send_flags::dontwait)) {
            break;
          }
          ++sent;
        }
        std::this_thread::yield();
      }
    });
  }
  // Let the flood build up a backlog first.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  constexpr int kFrames = 10;
  std::vector<double> latency_ms;
  for (int k = 0; k < kFrames; ++k) {
    REQUIRE(d.client.Send(Encode(MakeTruthScan(100 + k).frame, 100 + k)));
    const auto results = d.client.CollectRegistrations(1, Millis(5000));
    if (results.size() == 1) {
      latency_ms.push_back(
          (daemon::NowUnixNs() - results[0].received_unix_ns()) * 1e-6);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  stop = true;
  for (auto& t : flooders) t.join();
  MESSAGE("queries offered during the run: ", sent.load());
  CHECK(sent.load() > 50000);
  REQUIRE(latency_ms.size() == static_cast<size_t>(kFrames));
  for (double ms : latency_ms) CHECK(ms < 1000);
  const auto health = d.client.Health();
  REQUIRE(health.has_value());
  CHECK(health->frames_dropped() == 0);
}

}  // namespace
}  // namespace anchord::testing
