// A thread that runs a task every `interval` until the object goes (the
// controller's background chores: witness_keeper.h, csi/primary_placer.h).
//
// Thread-safe; the destructor waits for a running task to end.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"

namespace syncblock {

class PeriodicThread {
 public:
  PeriodicThread(std::chrono::milliseconds interval, std::function<void()> task)
      : interval_(interval), task_(std::move(task)), thread_([this] { Loop(); }) {}
  ~PeriodicThread() {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

 private:
  void Loop() {
    while (true) {
      {
        absl::MutexLock l(&mu_);
        auto stop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return stopping_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stop), absl::FromChrono(interval_))) return;
      }
      task_();
    }
  }

  const std::chrono::milliseconds interval_;
  const std::function<void()> task_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: it starts once the rest is set
};

}  // namespace syncblock
