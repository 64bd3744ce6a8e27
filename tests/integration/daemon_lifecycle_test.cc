// End-to-end tests of `anchord serve` under signals and overload: the real
// binary (ANCHORD_BIN) as a child process on fresh loopback ports
// (tests/support/daemon_harness.h). SIGTERM drains, SIGHUP reloads through
// validation, a full ingest queue drops the oldest frames.

#include "daemon/config/config.h"
#include "daemon/wire/wire.h"
#include "support/daemon_harness.h"
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace anchord::testing {
namespace {

using Clock = std::chrono::steady_clock;

#define REQUIRE_DAEMON(d) REQUIRE_MESSAGE((d).ok, (d).error)

// `count` encoded 512 × 512 frames (slow enough to keep workers busy),
// cycling through `distinct` synthetic scans, ids first_id, first_id + 1, …
std::vector<std::string> LargeFrames(int count,
                                     int distinct,
                                     uint64_t first_id) {
  std::vector<Frame> scans;
  for (int k = 0; k < distinct; ++k) {
    scans.push_back(MakeTruthScan(300 + static_cast<uint64_t>(k), 512).frame);
  }
  std::vector<std::string> out;
  for (int k = 0; k < count; ++k) {
    out.push_back(Encode(scans[static_cast<size_t>(k % distinct)],
                         first_id + static_cast<uint64_t>(k)));
  }
  return out;
}

// Polls Health until `done` holds (true) or `timeout` passes (false).
template <typename Predicate>
bool WaitForHealth(DaemonClient& client, Millis timeout, Predicate done) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    const std::optional<v1::Status> h = client.Health();
    if (h && done(*h)) return true;
    std::this_thread::sleep_for(Millis(10));
  }
  return false;
}

// Occurrences of `what` in `text`.
size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE(
    "SIGTERM with frames in flight: all are published, exit 0 within "
    "the deadline" *
    doctest::timeout(60)) {
  constexpr int kFrames = 12;
  constexpr int kDrainMs = 10000;
  const std::vector<std::string> frames = LargeFrames(kFrames, 4, 700);
  RunningDaemon d([](daemon::DaemonConfig& c) {
    c.pipeline.workers = 2;
    c.pipeline.ingest_queue = 32;
    c.pipeline.drain_timeout_ms = kDrainMs;
  });
  REQUIRE_DAEMON(d);

  for (const std::string& f : frames) REQUIRE(d.client.Send(f));
  // Every frame must have been read off the socket (the frame socket is
  // closed at SIGTERM; unread messages are not "in flight").
  REQUIRE(WaitForHealth(d.client, Millis(10000), [](const v1::Status& h) {
    return h.frames_received() == kFrames;
  }));
  const std::optional<v1::Status> before = d.client.Health();
  REQUIRE(before);
  MESSAGE("published before SIGTERM: ", before->frames_published(), " of ",
          kFrames);
  const auto signalled = Clock::now();
  REQUIRE(d.process->Signal(SIGTERM));

  // Collect until the daemon exited and its socket went quiet.
  std::vector<v1::RegistrationResult> results;
  std::optional<ExitInfo> exit;
  while (!(exit = d.process->WaitExit(Millis(0)))) {
    REQUIRE(Clock::now() - signalled < Millis(kDrainMs + 5000));
    for (auto& r : d.client.CollectRegistrations(kFrames, Millis(50))) {
      results.push_back(std::move(r));
    }
  }
  const double exit_s =
      std::chrono::duration<double>(Clock::now() - signalled).count();
  for (auto& r : d.client.DrainRegistrations(Millis(500))) {
    results.push_back(std::move(r));
  }
  MESSAGE("exit ", exit_s, " s after SIGTERM");
  INFO(d.process->Log());
  CHECK(exit->exited);
  CHECK(exit->code == 0);
  CHECK(exit_s < kDrainMs / 1000.0);
  REQUIRE(results.size() == kFrames);
  for (int k = 0; k < kFrames; ++k) {
    CHECK(results[static_cast<size_t>(k)].frame_id() ==
          700 + static_cast<uint64_t>(k));
    CHECK(results[static_cast<size_t>(k)].status() == v1::RESULT_STATUS_OK);
  }
  // The final status, published after the drain, counts them all.
  REQUIRE(!d.client.statuses().empty());
  const v1::Status& final_status = d.client.statuses().back();
  CHECK(final_status.frames_published() == kFrames);
  CHECK(final_status.frames_dropped() == 0);
}

TEST_CASE(
    "SIGTERM past the drain deadline: queued frames are dropped and "
    "counted, exit 0 on time" *
    doctest::timeout(60)) {
  // About 0.6 s of work for one worker against a 0.1 s deadline.
  constexpr int kFrames = 48;
  constexpr int kDrainMs = 100;
  const std::vector<std::string> frames = LargeFrames(kFrames, 4, 800);
  RunningDaemon d([](daemon::DaemonConfig& c) {
    c.pipeline.workers = 1;
    c.pipeline.ingest_queue = 64;
    c.pipeline.drain_timeout_ms = kDrainMs;
  });
  REQUIRE_DAEMON(d);
  for (const std::string& f : frames) REQUIRE(d.client.Send(f));
  REQUIRE(WaitForHealth(d.client, Millis(10000), [](const v1::Status& h) {
    return h.frames_received() == kFrames;
  }));
  const auto signalled = Clock::now();
  REQUIRE(d.process->Signal(SIGTERM));
  const std::optional<ExitInfo> exit = d.process->WaitExit(Millis(10000));
  const double exit_s =
      std::chrono::duration<double>(Clock::now() - signalled).count();
  const std::vector<v1::RegistrationResult> results =
      d.client.DrainRegistrations(Millis(500));
  MESSAGE(results.size(), " of ", kFrames, " published, exit ", exit_s,
          " s after SIGTERM");
  INFO(d.process->Log());
  REQUIRE(exit.has_value());
  CHECK(exit->exited);
  CHECK(exit->code == 0);
  // The deadline, plus the frame in progress, plus publishing and exit.
  CHECK(exit_s < 2.0);
  CHECK(results.size() < kFrames);
  for (size_t k = 0; k < results.size(); ++k) {
    CHECK(results[k].frame_id() == 800 + k);  // a prefix, in order
  }
  REQUIRE(!d.client.statuses().empty());
  const v1::Status& final_status = d.client.statuses().back();
  CHECK(final_status.frames_published() == results.size());
  CHECK(final_status.frames_published() + final_status.frames_dropped() ==
        kFrames);
}

TEST_CASE(
    "SIGHUP: a bad configuration is rejected and the old one kept; a "
    "good one is applied" *
    doctest::timeout(60)) {
  RunningDaemon d;
  REQUIRE_DAEMON(d);
  const SyntheticScan scan = MakeTruthScan(41);
  const double old_sigma = d.config.registration.detect.min_response_sigma;
  const std::optional<v1::Status> start = d.client.Health();
  REQUIRE(start);
  const uint64_t version = start->config_version();
  CHECK(version == 1);
  uint64_t next_id = 1;
  const auto registers_ok = [&] {
    REQUIRE(d.client.Send(Encode(scan.frame, next_id)));
    const auto rs = d.client.CollectRegistrations(1, Millis(15000));
    REQUIRE(rs.size() == 1);
    CHECK(rs[0].frame_id() == next_id++);
    CHECK_MESSAGE(rs[0].status() == v1::RESULT_STATUS_OK, rs[0].message());
  };
  registers_ok();

  // Bad files: a violated constraint, then an unknown key.
  daemon::DaemonConfig bad = d.config;
  bad.registration.detect.min_response_sigma = -2.0;
  const std::vector<std::string> bad_files = {
      daemon::ToToml(bad),
      daemon::ToToml(d.config) + "\n[pipeline.extra]\nno_such_key = 1\n"};
  for (size_t k = 0; k < bad_files.size(); ++k) {
    CAPTURE(k);
    REQUIRE(d.process->RewriteConfig(bad_files[k]));
    REQUIRE(d.process->Signal(SIGHUP));
    // A rejected reload changes nothing observable on the sockets; its
    // only trace is the daemon's log line "reload rejected, old
    // configuration kept: <violations>".
    const auto rejected = [&] {
      return Count(d.process->Log(), "reload rejected") == k + 1;
    };
    const auto deadline = Clock::now() + Millis(5000);
    while (!rejected() && Clock::now() < deadline) {
      std::this_thread::sleep_for(Millis(20));
    }
    INFO(d.process->Log());
    REQUIRE(rejected());
    CHECK(d.process->Running());
    const auto current = d.client.CurrentConfig();
    REQUIRE(current);
    CHECK(current->registration.detect.min_response_sigma == old_sigma);
    CHECK(*current == d.config);
    const std::optional<v1::Status> h = d.client.Health();
    REQUIRE(h);
    CHECK(h->config_version() == version);
    registers_ok();
  }
  CHECK(d.process->Log().find("min_response_sigma") != std::string::npos);

  // A good change is applied at a frame boundary.
  daemon::DaemonConfig good = d.config;
  good.registration.detect.min_response_sigma = 2.25;
  REQUIRE(d.process->RewriteConfig(daemon::ToToml(good)));
  REQUIRE(d.process->Signal(SIGHUP));
  REQUIRE(WaitForHealth(d.client, Millis(5000), [&](const v1::Status& h) {
    return h.config_version() == version + 1;
  }));
  const auto current = d.client.CurrentConfig();
  REQUIRE(current);
  CHECK(current->registration.detect.min_response_sigma == 2.25);
  CHECK(*current == good);
  registers_ok();
  CHECK(d.process->Running());
}

TEST_CASE(
    "ingest overflow drops the oldest frames, counts them and keeps "
    "the rest in order" *
    doctest::timeout(60)) {
  // Declared ingest overflow policy (daemon/serve/frame_pipeline.h):
  // drop_oldest. A dropped frame gets no result at all; only
  // Status.frames_dropped (and the ingest stage's `dropped`) records it.
  constexpr int kFrames = 16;
  const std::vector<std::string> frames = LargeFrames(kFrames, 4, 900);
  RunningDaemon d([](daemon::DaemonConfig& c) {
    c.pipeline.workers = 1;
    c.pipeline.ingest_queue = 1;
    c.pipeline.reorder_max = 1;
  });
  REQUIRE_DAEMON(d);
  for (const std::string& f : frames) REQUIRE(d.client.Send(f));

  REQUIRE(WaitForHealth(d.client, Millis(30000), [](const v1::Status& h) {
    return h.frames_received() == kFrames &&
           h.frames_published() + h.frames_dropped() == kFrames;
  }));
  const std::optional<v1::Status> health = d.client.Health();
  REQUIRE(health);
  const std::vector<v1::RegistrationResult> results =
      d.client.DrainRegistrations(Millis(300));
  MESSAGE(kFrames, " sent, ", results.size(), " published, ",
          health->frames_dropped(), " dropped");
  CHECK(health->frames_dropped() > 0);
  CHECK(results.size() == kFrames - health->frames_dropped());
  CHECK(health->frames_published() == results.size());
  for (size_t k = 1; k < results.size(); ++k) {
    CHECK(results[k].frame_id() > results[k - 1].frame_id());
    // Sequence numbers are assigned when a frame leaves the queue, so
    // dropped frames leave no gap.
    CHECK(results[k].sequence() == results[k - 1].sequence() + 1);
  }
  // Drop-oldest keeps the newest frame.
  REQUIRE(!results.empty());
  CHECK(results.back().frame_id() == 900 + kFrames - 1);
  for (const v1::RegistrationResult& r : results) {
    CHECK(r.status() == v1::RESULT_STATUS_OK);
  }
  bool found = false;
  for (const v1::StageStats& s : health->stages()) {
    if (s.name() != "ingest") continue;
    found = true;
    CHECK(s.dropped() == health->frames_dropped());
    CHECK(s.queue_capacity() == 1);
  }
  CHECK(found);
  CHECK(d.process->Running());
}

}  // namespace anchord::testing
