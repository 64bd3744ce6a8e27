#include "daemon/common/bounded_queue.h"

#include <doctest/doctest.h>

#include <atomic>
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

TEST_CASE("close wakes consumers and refuses producers" * doctest::timeout(10)) {
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
