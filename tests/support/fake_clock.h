// A Clock for tests that only moves when told to. Thread-safe.
#pragma once

#include <mutex>

#include "replication/util/clock.h"

namespace syncblock::testing {

class FakeClock : public Clock {
 public:
  TimePoint Now() override {
    std::lock_guard<std::mutex> l(mu_);
    return now_;
  }
  void Advance(std::chrono::nanoseconds d) {
    std::lock_guard<std::mutex> l(mu_);
    now_ += d;
  }

 private:
  std::mutex mu_;
  TimePoint now_ = std::chrono::steady_clock::now();
};

}  // namespace syncblock::testing
