#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
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

// A bounded multi-producer multi-consumer FIFO with an explicit overflow
// policy and a drop counter. Thread-safe.
//
// States: open (Push and Pop work) → closed (Push refuses; Pop returns the
// remaining items, then nullopt). Close() wakes every waiter.
template <typename T>
class BoundedQueue {
 public:
  BoundedQueue(size_t capacity, OverflowPolicy policy)
      : capacity_(capacity == 0 ? 1 : capacity), policy_(policy) {}

  // Adds an item. False when the item was not queued (queue closed, or
  // refused under kDropNewest); an item evicted under kDropOldest is
  // counted in dropped() and destroyed.
  bool Push(T item) {
    std::unique_lock lock(mutex_);
    if (policy_ == OverflowPolicy::kBlock) {
      not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    }
    if (closed_) return false;
    if (items_.size() >= capacity_) {
      ++dropped_;
      if (policy_ == OverflowPolicy::kDropNewest) return false;
      items_.pop_front();
    }
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  // Removes the oldest item, waiting while the queue is open and empty;
  // nullopt once the queue is closed and empty.
  std::optional<T> Pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  // Removes and returns every queued item (for a shutdown past its
  // deadline); they are not counted as dropped here.
  std::deque<T> TakeAll() {
    std::lock_guard lock(mutex_);
    std::deque<T> all;
    all.swap(items_);
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
  size_t capacity() const { return capacity_; }
  uint64_t dropped() const {
    std::lock_guard lock(mutex_);
    return dropped_;
  }
  OverflowPolicy policy() const { return policy_; }

 private:
  const size_t capacity_;
  const OverflowPolicy policy_;
  mutable std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  uint64_t dropped_ = 0;
  bool closed_ = false;
};

}  // namespace anchord::daemon
