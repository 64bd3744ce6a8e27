// `anchord watch DIR` against a real `anchord serve` over loopback: files
// dropped into a folder, some written slowly, one truncated, one not an
// .sxm; and the real scans with their header times.

#include "support/daemon_harness.h"
#include "support/real_data.h"
#include "support/sxm_writer.h"
#include <doctest/doctest.h>
#include <zmq.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <thread>

namespace anchord::testing {
namespace {

namespace fs = std::filesystem;

// A daemon binding its frame endpoint (for `anchord watch --connect`) and
// a subscriber of its registration results.
struct Setup {
  Setup() : sub(context, zmq::socket_type::sub) {
    frames = LoopbackEndpoint(FreeLoopbackPort());
    config = MakeTestConfig(frames);
    config.endpoints.frames_mode = daemon::FramesMode::kBind;
    process = std::make_unique<DaemonProcess>(config);
    std::string error;
    started = process->Start(&error);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::subscribe, "status");
    sub.set(zmq::sockopt::subscribe, "registration");
    sub.connect(config.endpoints.results);
  }
  // The registration results until `count` arrived or `timeout` passed
  // (status messages: `ready` set).
  std::vector<v1::RegistrationResult> Collect(size_t count, Millis timeout) {
    std::vector<v1::RegistrationResult> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < count && std::chrono::steady_clock::now() < deadline) {
      zmq::pollitem_t item{static_cast<void*>(sub), 0, ZMQ_POLLIN, 0};
      zmq::poll(&item, 1, Millis(50));
      if (!(item.revents & ZMQ_POLLIN)) continue;
      zmq::message_t t, p;
      if (!sub.recv(t) || !t.more() || !sub.recv(p)) continue;
      if (t.to_string() == "status") {
        ready = true;
        continue;
      }
      v1::RegistrationResult r;
      if (r.ParseFromArray(p.data(), static_cast<int>(p.size()))) {
        out.push_back(r);
      }
    }
    return out;
  }
  bool WaitReady() {
    Collect(0, Millis(0));
    for (int i = 0; i < 300 && !ready; ++i) Collect(1, Millis(50));
    return ready;
  }
  pid_t StartWatch(const std::string& dir, const std::string& log) {
    std::string error;
    return SpawnLogged({AnchordBinary(), "watch", dir, "--connect",
                        "--endpoint", frames, "--poll-ms", "50", "--settle-ms",
                        "300", "--give-up-s", "2", "--session", "watched"},
                       log, &error);
  }

  zmq::context_t context{1};
  std::string frames;
  daemon::DaemonConfig config;
  std::unique_ptr<DaemonProcess> process;
  bool started = false;
  bool ready = false;
  zmq::socket_t sub;
};

// File k: a small noise frame (no lattice: a fast no_lattice result)
// recorded at 10:00 + k minutes.
std::string FileBytes(int k) {
  std::mt19937 rng(static_cast<unsigned>(k));
  std::normal_distribution<float> noise(0, 1);
  cv::Mat1f image(32, 32);
  for (float& v : image) v = noise(rng);
  SxmWriteSpec spec;
  spec.channels = {{"Z", "m", image}};
  spec.range_x_nm = spec.range_y_nm = 4;
  char time[16];
  std::snprintf(time, sizeof time, "%02d:%02d:00", 10 + k / 60, k % 60);
  spec.rec_time = time;
  return SxmBytes(spec);
}

// Waits until the watcher made its first poll (files written afterwards
// are new to it).
bool WaitWatching(const std::string& log) {
  for (int i = 0; i < 300; ++i) {
    if (ReadWholeFile(log).find("[watch] watching") != std::string::npos) {
      return true;
    }
    std::this_thread::sleep_for(Millis(50));
  }
  return false;
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

TEST_CASE("watch: 50 files, slow, truncated and foreign ones" *
          doctest::timeout(100)) {
  if (AnchordBinary().empty()) {
    MESSAGE("ANCHORD_BIN is not set: skipped");
    return;
  }
  Setup s;
  REQUIRE(s.started);
  REQUIRE_MESSAGE(s.WaitReady(), s.process->Log());
  TempDir dir;
  const std::string log = dir / "watch.log";
  const fs::path folder = dir.path() / "autosave";
  fs::create_directories(folder);
  const pid_t watch = s.StartWatch(folder.string(), log);
  REQUIRE(watch > 0);
  REQUIRE(WaitWatching(log));

  constexpr int kFiles = 50;
  constexpr int kTruncated = 20, kForeign = 30;
  for (int k = 0; k < kFiles; ++k) {
    char name[32];
    std::snprintf(name, sizeof name, "scan_%03d.sxm", k);
    const std::string path = (folder / name).string();
    if (k == kForeign) {
      WriteBytes(path, "this is not an sxm file\n");
      continue;
    }
    const std::string bytes = FileBytes(k);
    if (k == kTruncated) {
      WriteBytes(path, bytes.substr(0, bytes.size() / 2));
      continue;
    }
    if (k % 10 == 5) {
      // Written in pieces; the pause of k = 15 outlasts the settle time.
      const size_t half = bytes.size() / 2;
      WriteBytes(path, bytes.substr(0, half));
      std::this_thread::sleep_for(Millis(k == 15 ? 500 : 100));
      WriteBytes(path, bytes.substr(half));
      continue;
    }
    WriteBytes(path, bytes);
  }
  WriteBytes((folder / "notes.txt").string(), "not matched\n");

  const std::vector<v1::RegistrationResult> got =
      s.Collect(kFiles - 2, Millis(60000));
  // Nothing more arrives (every file once).
  const std::vector<v1::RegistrationResult> more = s.Collect(1, Millis(1500));
  kill(watch, SIGTERM);
  REQUIRE(WaitChild(watch, Millis(10000)));
  const std::string watch_log = ReadWholeFile(log);
  REQUIRE_MESSAGE(got.size() == kFiles - 2, watch_log);
  CHECK_MESSAGE(more.empty(), watch_log);
  // In name order (their recording times increase with the name), frame
  // ids 1..48, each file once.
  std::set<int64_t> times;
  int64_t previous = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].frame_id() == i + 1);
    CHECK(got[i].session() == "watched");
    CHECK(got[i].acquired_unix_ns() > previous);
    previous = got[i].acquired_unix_ns();
    times.insert(got[i].acquired_unix_ns());
  }
  CHECK(times.size() == got.size());
  CHECK(watch_log.find("scan_020.sxm skipped") != std::string::npos);
  CHECK(watch_log.find("scan_030.sxm skipped") != std::string::npos);
  CHECK(watch_log.find("notes.txt") == std::string::npos);
}

TEST_CASE("watch: the real scans carry their header times" *
          doctest::timeout(100)) {
  const std::string real = RealDataDir();
  if (AnchordBinary().empty() || real.empty()) {
    MESSAGE("ANCHORD_BIN or ../shared/data/real missing: skipped");
    return;
  }
  Setup s;
  REQUIRE(s.started);
  REQUIRE_MESSAGE(s.WaitReady(), s.process->Log());
  TempDir dir;
  const std::string log = dir / "watch.log";
  const fs::path folder = dir.path() / "autosave";
  fs::create_directories(folder);
  const pid_t watch = s.StartWatch(folder.string(), log);
  REQUIRE(watch > 0);
  REQUIRE(WaitWatching(log));
  for (const char* name : {"Si_7x7_028.sxm", "Si_7x7_032.sxm"}) {
    fs::copy_file(fs::path(real) / name, folder / name);
  }
  const std::vector<v1::RegistrationResult> got = s.Collect(2, Millis(60000));
  kill(watch, SIGTERM);
  REQUIRE(WaitChild(watch, Millis(10000)));
  REQUIRE_MESSAGE(got.size() == 2, ReadWholeFile(log));
  CHECK(got[0].acquired_unix_ns() == int64_t{1452168604} * 1000000000);
  CHECK(got[1].acquired_unix_ns() - got[0].acquired_unix_ns() ==
        int64_t{526} * 1000000000);  // 8 min 46 s
}

}  // namespace
}  // namespace anchord::testing
