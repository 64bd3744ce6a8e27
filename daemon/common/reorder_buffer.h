#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace anchord::daemon {

// Restores sequence order behind parallel workers (ADCore's SORT_MODE):
// items carry consecutive sequence numbers and are released in that
// order. A missing sequence number is given up on — skipped and counted —
// when the oldest waiting item has waited `timeout`, or when more than
// `max_pending` items wait, so one lost item never stalls the output.
// Released sequence numbers always increase: an item whose slot was
// skipped and that turns up later is refused (counted in late()), never
// released out of order. Not thread-safe: the owner serialises calls.
template <typename T>
class ReorderBuffer {
 public:
  using Clock = std::chrono::steady_clock;

  ReorderBuffer(size_t max_pending,
                Clock::duration timeout,
                uint64_t first_sequence = 0)
      : max_pending_(max_pending == 0 ? 1 : max_pending),
        timeout_(timeout),
        next_(first_sequence) {}

  // Adds the item with sequence number `seq` and returns nullopt. An item
  // older than the release point (its slot was already skipped) is
  // refused: counted in late() and handed back for the caller to report.
  std::optional<T> Insert(uint64_t seq, T item, Clock::time_point now) {
    if (seq < next_) {
      ++late_;
      return std::optional<T>(std::move(item));
    }
    pending_.emplace(seq, Entry{std::move(item), now});
    return std::nullopt;
  }

  // Items ready for release, in sequence order; at most `max_items`.
  std::vector<T> TakeReady(
      Clock::time_point now,
      size_t max_items = std::numeric_limits<size_t>::max()) {
    std::vector<T> out;
    while (out.size() < max_items) {
      auto it = pending_.begin();
      if (it == pending_.end()) break;
      if (it->first != next_) {
        if (!MustSkip(now)) break;
        skipped_ += it->first - next_;
        next_ = it->first;
      }
      out.push_back(std::move(it->second.item));
      pending_.erase(it);
      ++next_;
    }
    return out;
  }

  // Releases everything still waiting, in order, skipping gaps (shutdown).
  std::vector<T> Flush() {
    std::vector<T> out;
    for (auto& [seq, entry] : pending_) {
      skipped_ += seq - next_;
      next_ = seq + 1;
      out.push_back(std::move(entry.item));
    }
    pending_.clear();
    return out;
  }

  size_t pending() const { return pending_.size(); }
  size_t max_pending() const { return max_pending_; }
  uint64_t skipped() const { return skipped_; }
  uint64_t late() const { return late_; }
  uint64_t next_sequence() const { return next_; }

 private:
  struct Entry {
    T item;
    Clock::time_point inserted;
  };

  bool MustSkip(Clock::time_point now) const {
    if (pending_.size() > max_pending_) return true;
    Clock::time_point oldest = pending_.begin()->second.inserted;
    for (const auto& [seq, entry] : pending_) {
      oldest = std::min(oldest, entry.inserted);
    }
    return now - oldest >= timeout_;
  }

  const size_t max_pending_;
  const Clock::duration timeout_;
  uint64_t next_;
  std::map<uint64_t, Entry> pending_;
  uint64_t skipped_ = 0;
  uint64_t late_ = 0;
};

}  // namespace anchord::daemon
