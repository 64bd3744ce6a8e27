// `anchord replay` against a real `anchord serve` over loopback: the time
// base of replayed files (--time header) and the first drift estimate of
// a paced synthetic run.

#include "support/daemon_harness.h"
#include "support/real_data.h"
#include <doctest/doctest.h>
#include <zmq.hpp>

#include <cmath>
#include <filesystem>
#include <thread>

namespace anchord::testing {
namespace {

// A daemon that binds its frame endpoint, for `anchord replay --connect`.
struct BoundDaemon {
  BoundDaemon() {
    frames = LoopbackEndpoint(FreeLoopbackPort());
    config = MakeTestConfig(frames);
    config.endpoints.frames_mode = daemon::FramesMode::kBind;
    process = std::make_unique<DaemonProcess>(config);
  }
  std::string frames;
  daemon::DaemonConfig config;
  std::unique_ptr<DaemonProcess> process;
};

// Subscribes to `topic` and waits for the daemon's first status message.
zmq::socket_t Subscribe(zmq::context_t& context,
                        const daemon::DaemonConfig& c,
                        const std::string& topic) {
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::linger, 0);
  sub.set(zmq::sockopt::subscribe, "status");
  sub.set(zmq::sockopt::subscribe, topic);
  sub.connect(c.endpoints.results);
  return sub;
}

// Receives [topic, payload] messages of `topic` until `count` arrived or
// `timeout` passed.
std::vector<std::string> Collect(zmq::socket_t& sub,
                                 const std::string& topic,
                                 size_t count,
                                 Millis timeout) {
  std::vector<std::string> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
    zmq::pollitem_t item{static_cast<void*>(sub), 0, ZMQ_POLLIN, 0};
    zmq::poll(&item, 1, Millis(50));
    if (!(item.revents & ZMQ_POLLIN)) continue;
    zmq::message_t t, p;
    if (!sub.recv(t) || !t.more() || !sub.recv(p)) continue;
    if (t.to_string() == topic) out.push_back(p.to_string());
  }
  return out;
}

bool WaitStatus(zmq::socket_t& sub, Millis timeout) {
  return !Collect(sub, "status", 1, timeout).empty();
}

TEST_CASE("replayed .sxm frames carry their header times" *
          doctest::timeout(100)) {
  const std::string real = RealDataDir();
  if (AnchordBinary().empty() || real.empty()) {
    MESSAGE("ANCHORD_BIN or ../shared/data/real missing: skipped");
    return;
  }
  BoundDaemon d;
  std::string error;
  REQUIRE_MESSAGE(d.process->Start(&error), error);
  zmq::context_t context(1);
  zmq::socket_t sub = Subscribe(context, d.config, "registration");
  REQUIRE_MESSAGE(WaitStatus(sub, Millis(15000)), d.process->Log());
  TempDir dir;
  const pid_t replay =
      SpawnLogged({AnchordBinary(), "replay", real + "/Si_7x7_028.sxm",
                   real + "/Si_7x7_032.sxm", "--connect", "--endpoint",
                   d.frames, "--rate", "0", "--session", "real-028-032"},
                  dir.path() / "replay.log", &error);
  REQUIRE(replay > 0);
  const std::vector<std::string> got =
      Collect(sub, "registration", 2, Millis(60000));
  REQUIRE(WaitChild(replay, Millis(10000)));
  REQUIRE_MESSAGE(got.size() == 2, ReadWholeFile(dir.path() / "replay.log"));
  v1::RegistrationResult a, b;
  REQUIRE(a.ParseFromString(got[0]));
  REQUIRE(b.ParseFromString(got[1]));
  CHECK(a.session() == "real-028-032");
  // 12:10:04 and 12:18:50 on 07.01.2016 (read as UTC).
  CHECK(a.acquired_unix_ns() == int64_t{1452168604} * 1000000000);
  CHECK(b.acquired_unix_ns() - a.acquired_unix_ns() ==
        int64_t{526} * 1000000000);
}

TEST_CASE("synthetic replay: the first drift estimate is within its sigma" *
          doctest::timeout(100)) {
  if (AnchordBinary().empty()) {
    MESSAGE("ANCHORD_BIN is not set: skipped");
    return;
  }
  BoundDaemon d;
  std::string error;
  REQUIRE_MESSAGE(d.process->Start(&error), error);
  zmq::context_t context(1);
  zmq::socket_t sub = Subscribe(context, d.config, "drift");
  REQUIRE_MESSAGE(WaitStatus(sub, Millis(15000)), d.process->Log());
  TempDir dir;
  constexpr int kFrames = 8;
  const pid_t replay =
      SpawnLogged({AnchordBinary(), "replay", "--synthetic",
                   std::to_string(kFrames), "--size", "256", "--fov-nm", "15",
                   "--rate", "2", "--connect", "--endpoint", d.frames},
                  dir.path() / "replay.log", &error);
  REQUIRE(replay > 0);
  const std::vector<std::string> got =
      Collect(sub, "drift", kFrames, Millis(60000));
  REQUIRE(WaitChild(replay, Millis(10000)));
  REQUIRE_MESSAGE(got.size() == kFrames,
                  ReadWholeFile(dir.path() / "replay.log"));
  std::vector<v1::DriftEstimate> valid;
  for (const std::string& bytes : got) {
    v1::DriftEstimate e;
    REQUIRE(e.ParseFromString(bytes));
    if (e.valid()) valid.push_back(e);
  }
  REQUIRE(valid.size() >= 4);
  const v1::DriftEstimate& first = valid.front();
  const v1::DriftEstimate& steady = valid.back();
  const double dx = first.velocity_x_nm_per_s() - steady.velocity_x_nm_per_s();
  const double dy = first.velocity_y_nm_per_s() - steady.velocity_y_nm_per_s();
  MESSAGE("first valid estimate (frame "
          << first.frame_id() << ") " << first.velocity_x_nm_per_s() << ", "
          << first.velocity_y_nm_per_s() << " nm/s +- "
          << first.velocity_x_sigma_nm_per_s() << ", "
          << first.velocity_y_sigma_nm_per_s() << "; steady (frame "
          << steady.frame_id() << ") " << steady.velocity_x_nm_per_s() << ", "
          << steady.velocity_y_nm_per_s());
  CHECK(std::abs(dx) <= first.velocity_x_sigma_nm_per_s());
  CHECK(std::abs(dy) <= first.velocity_y_sigma_nm_per_s());
}

}  // namespace
}  // namespace anchord::testing
