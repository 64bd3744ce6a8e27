#include "daemon/instrument/frame_publisher.h"
#include "daemon/instrument/header_time.h"
#include "daemon/instrument/replay_command.h"
#include <doctest/doctest.h>

#include <chrono>
#include <thread>
#include <vector>

namespace anchord::daemon {
namespace {

TEST_CASE("header time: REC_DATE/REC_TIME as ns since the epoch (as UTC)") {
  CHECK(IsoLocalTimeToUnixNs("1970-01-01T00:00:01") == int64_t{1000000000});
  const auto t28 = IsoLocalTimeToUnixNs("2016-01-07T12:10:04");
  const auto t32 = IsoLocalTimeToUnixNs("2016-01-07T12:18:50");
  REQUIRE(t28);
  REQUIRE(t32);
  CHECK(*t32 - *t28 == int64_t{526} * 1000000000);  // 8 min 46 s
  CHECK(*t28 == int64_t{1452168604} * 1000000000);
  CHECK(!IsoLocalTimeToUnixNs(""));
  CHECK(!IsoLocalTimeToUnixNs("2016-02-31T00:00:00"));
  CHECK(!IsoLocalTimeToUnixNs("2016-01-07 12:10:04"));
  CHECK(!IsoLocalTimeToUnixNs("2016-13-07T12:10:04"));
  Frame f;
  f.acquired_at = "2016-01-07T12:54:04";
  CHECK(HeaderAcquiredUnixNs(f) == IsoLocalTimeToUnixNs(f.acquired_at));
}

TEST_CASE("pacing: the first interval is a full period" *
          doctest::timeout(20)) {
  FramePublisher publisher;
  PublisherOptions po;
  po.endpoint = "tcp://127.0.0.1:*";
  po.join_delay = std::chrono::milliseconds(0);
  std::atomic<bool> stop{false};
  REQUIRE(publisher.Open(po, stop).ok());
  using Clock = std::chrono::steady_clock;
  std::vector<Clock::time_point> sent;
  std::vector<int64_t> stamped;
  // Each frame takes 120 ms to produce; 4 frames/s.
  const PublishOutcome out = PublishPaced(
      publisher, 4.0,
      [](int64_t k, InboundFrame* f) {
        if (k >= 4) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(120));
        f->frame_id = static_cast<uint64_t>(k) + 1;
        if (k == 3) f->acquired_unix_ns = 42;  // a producer's own time
        return true;
      },
      stop,
      [&](int64_t, const InboundFrame& f) {
        sent.push_back(Clock::now());
        stamped.push_back(f.acquired_unix_ns);
      });
  REQUIRE(out.status.ok());
  REQUIRE(sent.size() == 4);
  for (size_t k = 1; k < sent.size(); ++k) {
    const double interval_s =
        std::chrono::duration<double>(sent[k] - sent[k - 1]).count();
    CHECK(interval_s == doctest::Approx(0.25).epsilon(0.05));
  }
  // Frames without a time are stamped when sent, 250 ms apart.
  CHECK(static_cast<double>(stamped[1] - stamped[0]) * 1e-9 ==
        doctest::Approx(0.25).epsilon(0.05));
  CHECK(stamped[3] == 42);
}

TEST_CASE("replay: --time and --session") {
  ReplayArgs a;
  REQUIRE(ParseReplayArgs(
              {"a.sxm", "b.sxm", "--time", "send", "--session", "run-7"}, a)
              .ok());
  CHECK(a.time == ReplayTime::kSend);
  CHECK(a.session == "run-7");
  ReplayArgs b;
  CHECK(ParseReplayArgs({"a.sxm"}, b).ok());
  CHECK(b.time == ReplayTime::kAuto);
  ReplayArgs c;
  CHECK(!ParseReplayArgs(
             {"a.npy", "--pixel-size-nm", "0.1", "--time", "header"}, c)
             .ok());
  ReplayArgs d;
  CHECK(!ParseReplayArgs({"--synthetic", "3", "--time", "header"}, d).ok());
  ReplayArgs e;
  CHECK(!ParseReplayArgs({"a.sxm", "--session", "bad name"}, e).ok());
  ReplayArgs f;
  REQUIRE(ParseReplayArgs({"--synthetic", "3", "--session", "s1"}, f).ok());
  CHECK(f.session == "s1");
}

}  // namespace
}  // namespace anchord::daemon
