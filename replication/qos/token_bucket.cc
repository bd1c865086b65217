#include "replication/qos/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace syncblock::repl {

void TokenBucket::Configure(double rate, double capacity, TimePoint now) {
  if (configured_) Refill(now);
  const bool was_limited = configured_ && rate_ > 0;
  rate_ = rate > 0 ? rate : 0;
  capacity_ = std::max(capacity, 0.0);
  level_ = was_limited ? std::min(level_, capacity_) : capacity_;
  last_ = now;
  configured_ = true;
}

void TokenBucket::Refill(TimePoint now) {
  if (now <= last_) return;
  double seconds = std::chrono::duration<double>(now - last_).count();
  level_ = std::min(capacity_, level_ + seconds * rate_);
  last_ = now;
}

double TokenBucket::Level(TimePoint now) {
  Refill(now);
  return level_;
}

bool TokenBucket::TryTake(double cost, TimePoint now) {
  if (unlimited() || cost <= 0) return true;
  Refill(now);
  // A millionth of a token of slack: a waiter woken after TimeUntil() must go.
  if (level_ < Needed(cost) - 1e-6) return false;
  level_ -= cost;
  return true;
}

std::chrono::nanoseconds TokenBucket::TimeUntil(double cost, TimePoint now) {
  if (unlimited() || cost <= 0) return std::chrono::nanoseconds(0);
  Refill(now);
  double missing = Needed(cost) - 1e-6 - level_;
  if (missing <= 0) return std::chrono::nanoseconds(0);
  // Rounded up, so that waiting this long is always enough.
  return std::chrono::nanoseconds(static_cast<int64_t>(std::ceil(missing / rate_ * 1e9)));
}

}  // namespace syncblock::repl
