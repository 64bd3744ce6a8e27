#include "daemon/serve/ordered_executor.h"

#include <utility>

namespace anchord::daemon {

OrderedExecutor::OrderedExecutor(std::function<void(Job&)> run)
    : run_(std::move(run)), thread_([this] { Loop(); }) {}

OrderedExecutor::~OrderedExecutor() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool OrderedExecutor::idle() const {
  std::lock_guard lock(mutex_);
  return !running_;
}

std::unique_ptr<Job> OrderedExecutor::Run(
    std::unique_ptr<Job> job, std::chrono::steady_clock::duration deadline) {
  std::unique_lock lock(mutex_);
  if (running_) return nullptr;  // not idle: the caller broke the contract
  job_ = std::move(job);
  running_ = true;
  abandoned_ = false;
  changed_.notify_all();
  const auto finished = [&] { return !running_; };
  if (deadline <= std::chrono::steady_clock::duration::zero()) {
    changed_.wait(lock, finished);
  } else if (!changed_.wait_for(lock, deadline, finished)) {
    abandoned_ = true;
    return nullptr;
  }
  return std::move(job_);
}

void OrderedExecutor::Detach() {
  if (thread_.joinable()) thread_.detach();
}

void OrderedExecutor::Loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stop_ || running_; });
    if (!running_) return;  // stopping and idle
    Job* job = job_.get();
    lock.unlock();
    run_(*job);
    lock.lock();
    running_ = false;
    if (abandoned_) job_.reset();  // nobody will take it back
    changed_.notify_all();
  }
}

}  // namespace anchord::daemon
