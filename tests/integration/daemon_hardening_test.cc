// `anchord serve` against hostile or careless peers: the real binary over
// loopback (tests/support/daemon_harness.h). Each case reproduces a way
// the daemon could once be hung, starved or grown without bound.

#include "daemon/common/clock.h"
#include "support/daemon_harness.h"
#include "support/loopback_http.h"
#include "support/temp_dir.h"
#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace anchord::testing {
namespace {

#define REQUIRE_DAEMON(d) REQUIRE_MESSAGE((d).ok, (d).error)

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
TEST_CASE(
    "idle metrics connections cannot exhaust the daemon's file "
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
    const int fd = ConnectLoopbackTcp(port);
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
  MESSAGE("daemon descriptors with 1100 idle metrics connections: ", fds_held);
}

TEST_CASE("any path but /metrics is answered 404") {
  RunningDaemon d;
  REQUIRE_DAEMON(d);
  const int port = PortOf(d.config.endpoints.http_metrics);
  CHECK(HttpGet(port, "/secret").rfind("HTTP/1.0 404", 0) == 0);
}

// Regression: the query handler looped while any query was pending, so one
// DEALER sending health queries without pause stopped results for seconds
// and dropped frames.
TEST_CASE("a query flood does not starve frames" * doctest::timeout(120)) {
  RunningDaemon d([](daemon::DaemonConfig& c) { c.pipeline.ingest_queue = 4; });
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

TEST_CASE(
    "ingest_overflow = block holds frames back without stalling the "
    "loop" *
    doctest::timeout(120)) {
  RunningDaemon d([](daemon::DaemonConfig& c) {
    c.pipeline.workers = 1;
    c.pipeline.ingest_queue = 2;
    c.pipeline.ingest_overflow = daemon::OverflowPolicy::kBlock;
  });
  REQUIRE_DAEMON(d);
  // 512 px frames take a worker ~10 ms or more; offered at ~200 frames/s
  // they keep the ingest queue full for the whole run. Health is asked on
  // a second connection meanwhile.
  const Frame frame = MakeTruthScan(7, 512).frame;
  std::atomic<bool> stop{false};
  std::vector<double> health_ms;
  long peak_rss_kb = 0;
  std::thread monitor([&] {
    zmq::context_t context(1);
    zmq::socket_t dealer(context, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.set(zmq::sockopt::rcvtimeo, 5000);
    dealer.connect(d.config.endpoints.queries);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    v1::QueryRequest health;
    health.mutable_health();
    const std::string body = health.SerializeAsString();
    while (!stop) {
      const auto t0 = std::chrono::steady_clock::now();
      dealer.send(zmq::buffer(body), zmq::send_flags::none);
      zmq::message_t reply;
      if (!dealer.recv(reply)) {
        health_ms.push_back(5000);
        break;
      }
      health_ms.push_back(std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - t0)
                              .count());
      peak_rss_kb = std::max(peak_rss_kb, d.process->RssKb());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  uint64_t offered = 0;
  double blocked_s = 0;  // time the sender spent inside Send
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (uint64_t id = 1; std::chrono::steady_clock::now() < until; ++id) {
    const std::string bytes = Encode(frame, id);
    const auto t0 = std::chrono::steady_clock::now();
    if (d.client.Send(bytes)) ++offered;
    blocked_s +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  monitor.join();
  REQUIRE(!health_ms.empty());
  const double worst_ms = *std::max_element(health_ms.begin(), health_ms.end());
  MESSAGE("frames offered: ", offered, ", sender held in Send for ", blocked_s,
          " s, health queries: ", health_ms.size(), ", slowest answer ",
          worst_ms, " ms, peak RSS ", peak_rss_kb / 1024, " MiB");
  // The pressure was there: the sender was held back by the full queue for
  // a tenth of the run or more (1.5–1.7 s of 5 on an idle 2-core machine,
  // more under load; how many frames got through depends on the machine).
  CHECK(blocked_s > 0.5);
  CHECK(worst_ms < 300);
  CHECK(peak_rss_kb < 512 * 1024);
  const auto health = d.client.Health();
  REQUIRE(health.has_value());
  CHECK(health->frames_dropped() == 0);  // block drops nothing itself
}

// A stuck ordered stage, made the way an operator could make it: another
// process holds the catalog's write lock (an open `sqlite3` shell in a
// transaction), so the daemon's commit waits out SQLite's busy timeout
// (5 s). The watchdog must publish the frames untracked within its
// deadline, report the stuck stage, and SIGTERM must still end the daemon
// within the drain deadline + 1 s.
TEST_CASE("a stuck catalog commit is abandoned and SIGTERM still exits" *
          doctest::timeout(90)) {
  constexpr int kDeadlineMs = 300;
  constexpr int kDrainMs = 500;
  TempDir dir("anchord_stuck");
  const std::string db_path = dir / "catalog.sqlite";
  RunningDaemon d([&](daemon::DaemonConfig& c) {
    c.catalog.options.path = db_path;
    c.pipeline.stage_deadline_ms = kDeadlineMs;
    c.pipeline.drain_timeout_ms = kDrainMs;
  });
  REQUIRE_DAEMON(d);
  const Frame frame = MakeTruthScan(13).frame;
  REQUIRE(d.client.Send(Encode(frame, 1)));
  auto first = d.client.CollectRegistrations(1, Millis(20000));
  REQUIRE(first.size() == 1);
  REQUIRE(StatusName(first[0].status()) == "ok");

  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &other) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) ==
          SQLITE_OK);
  const auto sent = std::chrono::steady_clock::now();
  REQUIRE(d.client.Send(Encode(frame, 2)));
  REQUIRE(d.client.Send(Encode(frame, 3)));
  const auto stuck = d.client.CollectRegistrations(2, Millis(3000));
  const double waited_ms = std::chrono::duration<double, std::milli>(
                               std::chrono::steady_clock::now() - sent)
                               .count();
  // Both frames came out long before the 5 s busy timeout: frame 2 after
  // the deadline, frame 3 at once (the stage is still busy). Their
  // registration stands; their tracking is counted as an internal error.
  REQUIRE(stuck.size() == 2);
  CHECK(waited_ms < 2500);
  for (const auto& r : stuck) CHECK(StatusName(r.status()) == "ok");
  const auto health = d.client.Health();
  REQUIRE(health.has_value());
  CHECK(health->frames_internal_error() == 2);
  CHECK(d.process->Log().find("abandoned") != std::string::npos);
  const std::string metrics = HttpGet(PortOf(d.config.endpoints.http_metrics));
  CHECK(metrics.find("\nanchord_ordered_abandoned_total 2\n") !=
        std::string::npos);
  CHECK(metrics.find("\nanchord_stage_longest_running_seconds 0\n") ==
        std::string::npos);

  const auto signalled = std::chrono::steady_clock::now();
  REQUIRE(d.process->Signal(SIGTERM));
  const auto exit = d.process->WaitExit(Millis(kDrainMs + 1000 + 500));
  const double exit_ms = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - signalled)
                             .count();
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  REQUIRE(exit.has_value());
  MESSAGE("stuck frames out after ", waited_ms, " ms; SIGTERM to exit ",
          exit_ms, " ms");
  CHECK(exit_ms < kDrainMs + 1000);
  CHECK(exit->exited);
}

// The catalog's global bounds and the live-tracker bound evict whole
// sessions; an operator must see that happen (status and metrics), not
// discover it when a session's defects are gone.
TEST_CASE("catalog and tracker evictions are counted in status and metrics" *
          doctest::timeout(120)) {
  constexpr int kMaxSessions = 3;
  constexpr int kSessions = 19;  // the daemon keeps 16 trackers in memory
  RunningDaemon d([](daemon::DaemonConfig& c) {
    c.catalog.options.max_sessions = kMaxSessions;
  });
  REQUIRE_DAEMON(d);
  const Frame frame = MakeTruthScan(11).frame;
  // One frame at a time: the ingest queue's overflow policy is not what
  // this test is about.
  for (int k = 0; k < kSessions; ++k) {
    v1::Frame m = ToMessage(frame, 100 + k);
    m.set_session("evict-" + std::to_string(k));
    REQUIRE(d.client.Send(m.SerializeAsString()));
    const auto results = d.client.CollectRegistrations(1, Millis(20000));
    REQUIRE(results.size() == 1);
    REQUIRE(StatusName(results[0].status()) == "ok");
  }
  // Results are published after their commit: the counters are final.
  const auto health = d.client.Health();
  REQUIRE(health.has_value());
  CHECK(health->catalog_sessions_evicted() == kSessions - kMaxSessions);
  CHECK(health->trackers_evicted() == kSessions - 16);
  const std::string metrics = HttpGet(PortOf(d.config.endpoints.http_metrics));
  CHECK(metrics.find("\nanchord_catalog_sessions_evicted_total " +
                     std::to_string(kSessions - kMaxSessions) + "\n") !=
        std::string::npos);
  CHECK(metrics.find("\nanchord_trackers_evicted_total " +
                     std::to_string(kSessions - 16) + "\n") !=
        std::string::npos);
  CHECK(metrics.find("\nanchord_catalog_defects_evicted_total " +
                     std::to_string(health->catalog_defects_evicted()) +
                     "\n") != std::string::npos);
}

TEST_CASE("a session name cannot forge log lines" * doctest::timeout(60)) {
  RunningDaemon d;
  REQUIRE_DAEMON(d);
  v1::Frame m = ToMessage(MakeTruthScan(5).frame, 5);
  m.set_session("run\n[critical] [serve] forged line\r\x1b[2K");
  REQUIRE(d.client.Send(m.SerializeAsString()));
  const auto results = d.client.CollectRegistrations(1, Millis(10000));
  REQUIRE(results.size() == 1);
  CHECK(StatusName(results[0].status()) == "invalid_input");
  // The refusal is logged, on one line, with the name escaped.
  std::string log;
  for (int k = 0; k < 50 && log.find("forged") == std::string::npos; ++k) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    log = d.process->Log();
  }
  CHECK(log.find("forged line") != std::string::npos);
  CHECK(log.find("\n[critical] [serve] forged") == std::string::npos);
  CHECK(log.find('\x1b') == std::string::npos);
}

}  // namespace
}  // namespace anchord::testing
