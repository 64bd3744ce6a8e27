#include "daemon/common/reorder_buffer.h"

#include <doctest/doctest.h>

#include <optional>
#include <vector>

namespace anchord::daemon {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

TEST_CASE("items are released in sequence order") {
  ReorderBuffer<int> r(8, milliseconds(1000));
  const auto t = Clock::now();
  r.Insert(2, 20, t);
  r.Insert(1, 10, t);
  CHECK(r.TakeReady(t).empty());  // 0 is missing
  r.Insert(0, 0, t);
  CHECK(r.TakeReady(t) == std::vector<int>{0, 10, 20});
  CHECK(r.skipped() == 0);
  CHECK(r.next_sequence() == 3);
}

TEST_CASE("a lost item is skipped after the timeout, and counted") {
  ReorderBuffer<int> r(8, milliseconds(100));
  const auto t = Clock::now();
  r.Insert(1, 10, t);
  r.Insert(2, 20, t);
  CHECK(r.TakeReady(t + milliseconds(50)).empty());
  CHECK(r.TakeReady(t + milliseconds(100)) == std::vector<int>{10, 20});
  CHECK(r.skipped() == 1);
  // The lost item turning up late is refused and handed back: released
  // sequence numbers only ever increase.
  CHECK(r.Insert(0, 7, t + milliseconds(200)) == std::optional<int>(7));
  CHECK(r.TakeReady(t + milliseconds(200)).empty());
  CHECK(r.late() == 1);
  CHECK(r.Insert(3, 30, t + milliseconds(200)) == std::nullopt);
  CHECK(r.TakeReady(t + milliseconds(200)) == std::vector<int>{30});
}

TEST_CASE("more than max_pending waiting items force the skip") {
  ReorderBuffer<int> r(2, std::chrono::hours(1));
  const auto t = Clock::now();
  r.Insert(1, 1, t);
  r.Insert(2, 2, t);
  CHECK(r.TakeReady(t).empty());
  r.Insert(3, 3, t);
  CHECK(r.TakeReady(t) == std::vector<int>{1, 2, 3});
  CHECK(r.skipped() == 1);
}

TEST_CASE("flush releases everything in order") {
  ReorderBuffer<int> r(8, std::chrono::hours(1));
  const auto t = Clock::now();
  r.Insert(5, 5, t);
  r.Insert(3, 3, t);
  CHECK(r.Flush() == std::vector<int>{3, 5});
  CHECK(r.skipped() == 4);  // 0, 1, 2 and 4 never came
  CHECK(r.pending() == 0);
}

}  // namespace
}  // namespace anchord::daemon
