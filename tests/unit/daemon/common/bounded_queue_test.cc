#include "daemon/common/bounded_queue.h"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <thread>

namespace anchord::daemon {
namespace {

TEST_CASE("drop_oldest keeps the newest items and counts the evicted") {
  BoundedQueue<int> q(3, OverflowPolicy::kDropOldest);
  for (int k = 0; k < 5; ++k) CHECK(q.Push(k));
  CHECK(q.size() == 3);
  CHECK(q.dropped() == 2);
  CHECK(*q.Pop() == 2);
  CHECK(*q.Pop() == 3);
  CHECK(*q.Pop() == 4);
}

TEST_CASE("drop_newest refuses the new item and counts it") {
  BoundedQueue<int> q(2, OverflowPolicy::kDropNewest);
  CHECK(q.Push(1));
  CHECK(q.Push(2));
  CHECK_FALSE(q.Push(3));
  CHECK(q.dropped() == 1);
  CHECK(*q.Pop() == 1);
  CHECK(*q.Pop() == 2);
}

TEST_CASE("block makes the producer wait for room" * doctest::timeout(10)) {
  BoundedQueue<int> q(1, OverflowPolicy::kBlock);
  CHECK(q.Push(1));
  std::atomic<bool> pushed{false};
  std::thread producer([&] {
    q.Push(2);
    pushed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(pushed.load());
  CHECK(*q.Pop() == 1);
  producer.join();
  CHECK(pushed.load());
  CHECK(q.dropped() == 0);
  CHECK(*q.Pop() == 2);
}

TEST_CASE("close wakes consumers and refuses producers" *
          doctest::timeout(10)) {
  BoundedQueue<int> q(4, OverflowPolicy::kDropOldest);
  q.Push(7);
  std::thread consumer([&] {
    CHECK(*q.Pop() == 7);
    CHECK_FALSE(q.Pop().has_value());  // returns once closed
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  q.Close();
  consumer.join();
  CHECK_FALSE(q.Push(8));
}

TEST_CASE("the byte budget bounds the queue as well as the item count") {
  SUBCASE("drop_oldest evicts until the new item fits") {
    BoundedQueue<int> q(100, OverflowPolicy::kDropOldest, 10);
    CHECK(q.Push(1, 4));
    CHECK(q.Push(2, 4));
    CHECK(q.Push(3, 4));  // 12 > 10: item 1 goes
    CHECK(q.bytes() == 8);
    CHECK(q.dropped() == 1);
    CHECK(*q.Pop() == 2);
    CHECK(q.bytes() == 4);
  }
  SUBCASE("drop_newest refuses what does not fit") {
    BoundedQueue<int> q(100, OverflowPolicy::kDropNewest, 10);
    CHECK(q.Push(1, 6));
    CHECK_FALSE(q.Push(2, 6));
    CHECK(q.Push(3, 4));
    CHECK(q.bytes() == 10);
    CHECK(q.dropped() == 1);
  }
  SUBCASE("an item larger than the whole budget is refused at once") {
    for (OverflowPolicy p :
         {OverflowPolicy::kBlock, OverflowPolicy::kDropOldest,
          OverflowPolicy::kDropNewest}) {
      BoundedQueue<int> q(4, p, 10);
      CHECK(q.Push(1, 3));
      CHECK_FALSE(q.Push(2, 11));  // kBlock does not wait for it
      CHECK(q.size() == 1);
      CHECK(q.dropped() == 1);
      int big = 3;
      CHECK(q.TryPush(big, 11) == PushOutcome::kDropped);
    }
  }
}

TEST_CASE("TryPush under block never waits and keeps the refused item") {
  BoundedQueue<std::unique_ptr<int>> q(1, OverflowPolicy::kBlock, 100);
  auto first = std::make_unique<int>(1);
  CHECK(q.TryPush(first, 10) == PushOutcome::kQueued);
  auto second = std::make_unique<int>(2);
  CHECK(q.TryPush(second, 10) == PushOutcome::kFull);
  REQUIRE(second != nullptr);  // still the caller's
  CHECK(*second == 2);
  CHECK(q.dropped() == 0);
  CHECK(**q.TryPop() == 1);
  CHECK_FALSE(q.TryPop().has_value());
  CHECK(q.TryPush(second, 10) == PushOutcome::kQueued);
  q.Close();
  auto third = std::make_unique<int>(3);
  CHECK(q.TryPush(third, 1) == PushOutcome::kClosed);
  CHECK(third != nullptr);
}

TEST_CASE("overflow policy names round trip") {
  for (OverflowPolicy p : {OverflowPolicy::kBlock, OverflowPolicy::kDropOldest,
                           OverflowPolicy::kDropNewest}) {
    OverflowPolicy parsed = OverflowPolicy::kBlock;
    CHECK(ParseOverflowPolicy(OverflowPolicyName(p), parsed));
    CHECK(parsed == p);
  }
  OverflowPolicy unused;
  CHECK_FALSE(ParseOverflowPolicy("drop_all", unused));
}

}  // namespace
}  // namespace anchord::daemon
