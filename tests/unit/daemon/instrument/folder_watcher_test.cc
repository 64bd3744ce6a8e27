#include "daemon/instrument/folder_watcher.h"

#include "support/temp_dir.h"
#include <doctest/doctest.h>

#include <fstream>

namespace anchord::daemon {
namespace {

using Clock = FolderWatcher::Clock;
using std::chrono::milliseconds;

void Write(const std::string& path, const std::string& text, bool append) {
  std::ofstream f(path, append ? std::ios::app : std::ios::trunc);
  f << text;
}

// A file "reads" once it ends with END.
Status Reader(const std::string& path, std::vector<std::string>* read) {
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), {});
  if (text.size() < 3 || text.substr(text.size() - 3) != "END") {
    return Status::InvalidInput("incomplete");
  }
  read->push_back(std::filesystem::path(path).filename().string());
  return Status::Ok();
}

WatchOptions Options(const testing::TempDir& dir) {
  WatchOptions o;
  o.dir = dir.path().string();
  o.pattern = "*.sxm";
  o.settle_ms = 100;
  o.give_up_ms = 1000;
  return o;
}

TEST_CASE("watcher: new complete files once, in name order; old ones left") {
  testing::TempDir dir;
  Write(dir / "old_000.sxm", "END", false);
  FolderWatcher w(Options(dir));
  std::vector<std::string> read;
  const auto reader = [&read](const std::string& p) {
    return Reader(p, &read);
  };
  Clock::time_point t = Clock::now();
  CHECK(w.Poll(t, reader).empty());  // old_000 is ignored
  Write(dir / "img_002.sxm", "END", false);
  Write(dir / "img_001.sxm", "END", false);
  Write(dir / "notes.txt", "END", false);                // not matched
  CHECK(w.Poll(t += milliseconds(10), reader).empty());  // not settled
  const std::vector<WatchEvent> e = w.Poll(t += milliseconds(150), reader);
  REQUIRE(e.size() == 2);
  CHECK(read == std::vector<std::string>{"img_001.sxm", "img_002.sxm"});
  CHECK(w.Poll(t += milliseconds(500), reader).empty());  // exactly once
  CHECK(w.published() == 2);
}

TEST_CASE("watcher: a file written in pieces waits; later files wait for it") {
  testing::TempDir dir;
  FolderWatcher w(Options(dir));
  std::vector<std::string> read;
  const auto reader = [&read](const std::string& p) {
    return Reader(p, &read);
  };
  Clock::time_point t = Clock::now();
  w.Poll(t, reader);
  Write(dir / "a.sxm", "part", false);
  Write(dir / "b.sxm", "END", false);
  w.Poll(t += milliseconds(10), reader);
  // a.sxm is settled but does not read: b.sxm waits behind it.
  CHECK(w.Poll(t += milliseconds(200), reader).empty());
  Write(dir / "a.sxm", " more END", true);
  w.Poll(t += milliseconds(10), reader);  // changed: settles again
  const std::vector<WatchEvent> e = w.Poll(t += milliseconds(200), reader);
  REQUIRE(e.size() == 2);
  CHECK(read == std::vector<std::string>{"a.sxm", "b.sxm"});
}

TEST_CASE("watcher: a file that never reads is skipped and reported") {
  testing::TempDir dir;
  FolderWatcher w(Options(dir));
  std::vector<std::string> read;
  const auto reader = [&read](const std::string& p) {
    return Reader(p, &read);
  };
  Clock::time_point t = Clock::now();
  w.Poll(t, reader);
  Write(dir / "a.sxm", "truncated", false);
  Write(dir / "b.sxm", "END", false);
  w.Poll(t += milliseconds(10), reader);
  CHECK(w.Poll(t += milliseconds(500), reader).empty());
  const std::vector<WatchEvent> e = w.Poll(t += milliseconds(700), reader);
  REQUIRE(e.size() == 2);
  CHECK(e[0].kind == WatchEvent::Kind::kSkipped);
  CHECK(e[0].message == "incomplete");
  CHECK(e[1].kind == WatchEvent::Kind::kPublished);
  CHECK(w.skipped() == 1);
  CHECK(read == std::vector<std::string>{"b.sxm"});
}

TEST_CASE("watcher: a missing folder is an event, not a crash") {
  WatchOptions o;
  o.dir = "/nonexistent/anchord/watch";
  FolderWatcher w(o);
  const std::vector<WatchEvent> e =
      w.Poll(Clock::now(), [](const std::string&) { return Status::Ok(); });
  REQUIRE(e.size() == 1);
  CHECK(e[0].kind == WatchEvent::Kind::kError);
  WatchOptions bad;
  bad.settle_ms = 10;
  bad.give_up_ms = 5;
  CHECK(!bad.Validate().ok());
}

}  // namespace
}  // namespace anchord::daemon
