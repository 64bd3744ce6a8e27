#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <string>

namespace anchord::daemon {

// What a full queue does with one more item (in spirit spdlog's
// async_overflow_policy).
enum class OverflowPolicy {
  kBlock,       // the producer waits for room
  kDropOldest,  // the oldest queued item is evicted (a live instrument
                // wants the newest frame, not a backlog)
  kDropNewest,  // the new item is refused
};
const char* OverflowPolicyName(OverflowPolicy p);  // "block", "drop_oldest", …
// Parses the names above; false for anything else.
bool ParseOverflowPolicy(const std::string& name, OverflowPolicy& out);

// What TryPush did with an item.
enum class PushOutcome {
  kQueued,   // the item is in the queue
  kFull,     // no room now; the item is left with the caller
  kDropped,  // refused under kDropNewest, or larger than the byte budget
  kClosed,   // the queue is closed; the item is left with the caller
};

// A bounded multi-producer multi-consumer FIFO with an explicit overflow
// policy and a drop counter, bounded both in items (`capacity`) and in
// bytes (`max_bytes`, the sum of the sizes given to Push). Thread-safe.
//
// An item larger than `max_bytes` never fits: it is refused and counted
// in dropped() whatever the policy (a producer never waits for it).
//
// States: open (Push and Pop work) → closed (Push refuses; Pop returns the
// remaining items, then nullopt). Close() wakes every waiter.
template <typename T>
class BoundedQueue {
 public:
  BoundedQueue(size_t capacity,
               OverflowPolicy policy,
               size_t max_bytes = std::numeric_limits<size_t>::max())
      : capacity_(capacity == 0 ? 1 : capacity),
        max_bytes_(max_bytes == 0 ? 1 : max_bytes),
        policy_(policy) {}

  // Adds an item of `bytes` bytes. False when the item was not queued
  // (queue closed, larger than the byte budget, or refused under
  // kDropNewest); under kBlock it waits for room; items evicted under
  // kDropOldest are counted in dropped() and destroyed.
  bool Push(T item, size_t bytes = 0) {
    std::unique_lock lock(mutex_);
    if (policy_ == OverflowPolicy::kBlock && bytes <= max_bytes_) {
      not_full_.wait(lock, [&] { return closed_ || Fits(bytes); });
    }
    return PushLocked(item, bytes) == PushOutcome::kQueued;
  }

  // Adds an item without ever waiting. Under kBlock a full queue gives
  // kFull and leaves `item` with the caller (to offer again later); the
  // other policies act as in Push.
  PushOutcome TryPush(T& item, size_t bytes = 0) {
    std::lock_guard lock(mutex_);
    if (policy_ == OverflowPolicy::kBlock && !closed_ && bytes <= max_bytes_ &&
        !Fits(bytes)) {
      return PushOutcome::kFull;
    }
    return PushLocked(item, bytes);
  }

  // Removes the oldest item, waiting while the queue is open and empty;
  // nullopt once the queue is closed and empty.
  std::optional<T> Pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    return PopLocked();
  }

  // Removes the oldest item if there is one; never waits.
  std::optional<T> TryPop() {
    std::lock_guard lock(mutex_);
    return PopLocked();
  }

  // Removes and returns every queued item (for a shutdown past its
  // deadline); they are not counted as dropped here.
  std::deque<T> TakeAll() {
    std::lock_guard lock(mutex_);
    std::deque<T> all;
    for (Entry& e : items_) all.push_back(std::move(e.item));
    items_.clear();
    bytes_ = 0;
    not_full_.notify_all();
    return all;
  }

  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

  size_t size() const {
    std::lock_guard lock(mutex_);
    return items_.size();
  }
  // Sum of the sizes of the queued items, bytes.
  size_t bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }
  size_t capacity() const { return capacity_; }
  size_t max_bytes() const { return max_bytes_; }
  uint64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }
  OverflowPolicy policy() const { return policy_; }

 private:
  struct Entry {
    T item;
    size_t bytes;
  };

  bool Fits(size_t bytes) const {
    return items_.size() < capacity_ && bytes <= max_bytes_ - bytes_;
  }

  // Queues `item` (moved from only when queued), evicting under
  // kDropOldest; mutex held.
  PushOutcome PushLocked(T& item, size_t bytes) {
    if (closed_) return PushOutcome::kClosed;
    if (bytes > max_bytes_) {
      ++dropped_;
      return PushOutcome::kDropped;
    }
    if (!Fits(bytes) && policy_ != OverflowPolicy::kDropOldest) {
      ++dropped_;
      return PushOutcome::kDropped;
    }
    while (!Fits(bytes)) {
      ++dropped_;
      bytes_ -= items_.front().bytes;
      items_.pop_front();
    }
    bytes_ += bytes;
    items_.push_back(Entry{std::move(item), bytes});
    not_empty_.notify_one();
    return PushOutcome::kQueued;
  }

  std::optional<T> PopLocked() {
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front().item);
    bytes_ -= items_.front().bytes;
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  const size_t capacity_;
  const size_t max_bytes_;
  const OverflowPolicy policy_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<Entry> items_;
  size_t bytes_ = 0;
  uint64_t dropped_ = 0;
  bool closed_ = false;
};

}  // namespace anchord::daemon
