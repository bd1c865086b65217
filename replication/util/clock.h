// The seam between the engine and time for its decisions (IO deadlines, a
// peer declared stalled), so that tests can move time forward instead of
// waiting. Waiting itself (rate limits, reconnect intervals) uses real time.
// Thread-safe.
#pragma once

#include <chrono>

namespace syncblock {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual TimePoint Now() = 0;
  // std::chrono::steady_clock, shared.
  static Clock* Real();
};

class RealClock : public Clock {
 public:
  TimePoint Now() override { return std::chrono::steady_clock::now(); }
};

inline Clock* Clock::Real() {
  static RealClock clock;
  return &clock;
}

}  // namespace syncblock
