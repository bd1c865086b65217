// A token bucket: tokens accrue at `rate` per second up to `capacity`. A
// request costing `cost` may go once the bucket holds min(cost, capacity)
// tokens, and takes all of `cost`: the level may go below zero, so a request
// larger than the bucket (a 32 MiB write under a 1 MiB/s limit) still goes,
// and the ones after it wait until the debt is repaid. A request that costs
// nothing always goes. Over any long period
// the tokens taken stay within rate * time + capacity.
//
// Time comes from the caller (a Clock), so tests drive it.
// Not thread-safe: its owner (IoLimiter) locks.
#pragma once

#include <chrono>

#include "replication/util/clock.h"

namespace syncblock::repl {

class TokenBucket {
 public:
  using TimePoint = Clock::TimePoint;

  // `rate` tokens per second, 0: unlimited (every request goes at once).
  // The level keeps what it had, clamped to the new capacity; a new bucket,
  // or one that was unlimited, starts full.
  void Configure(double rate, double capacity, TimePoint now);

  bool unlimited() const { return rate_ <= 0; }
  double rate() const { return rate_; }
  double capacity() const { return capacity_; }
  // Tokens held at `now` (negative while in debt).
  double Level(TimePoint now);

  // Takes `cost` and returns true when a request of that cost may go now.
  bool TryTake(double cost, TimePoint now);
  // How long until TryTake(cost) would succeed (zero when it would now).
  std::chrono::nanoseconds TimeUntil(double cost, TimePoint now);

 private:
  void Refill(TimePoint now);
  double Needed(double cost) const { return cost < capacity_ ? cost : capacity_; }

  double rate_ = 0;
  double capacity_ = 0;
  double level_ = 0;
  bool configured_ = false;
  TimePoint last_{};
};

}  // namespace syncblock::repl
