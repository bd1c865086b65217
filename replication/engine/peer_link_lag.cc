// An asynchronous replica's lag: how far behind the primary's stream it is,
// the bounds its volume declares, and the throttle that keeps them
// (replication/doc/async_replicas.md).
#include <algorithm>

#include "replication/engine/peer_link.h"

namespace syncblock::repl {

void PeerLink::SetAsyncPolicy(const AsyncPolicy& policy) {
  MutexLock l(&mu_);
  async_policy_ = policy;
  changed_.SignalAll();  // writers waiting for the old bounds
}

uint64_t PeerLink::QueueLimitLocked() const {
  if (!async_) return opts_.max_queue_bytes;
  // Pull-ahead: past the byte bound the replica falls back to its bitmap.
  if (async_policy_.policy == LagPolicy::kPullAhead) return async_policy_.max_lag_bytes;
  // Throttle: writers wait at the bound, so the queue never reaches this;
  // room for the writes already past the gate when it closed.
  return std::max(opts_.max_queue_bytes, 2 * async_policy_.max_lag_bytes);
}

PeerLink::Lag PeerLink::LagLocked(Clock::time_point now) const {
  Lag lag;
  lag.throttled_writes = throttled_writes_;
  if (!streaming_ || state_ != PeerState::kInSync) {
    lag.broken = true;
    lag.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - out_of_sync_since_);
    return lag;
  }
  lag.bytes = pipeline_bytes_;
  const Queued* oldest = !unacked_.empty() ? &unacked_.front()
                         : !queue_.empty() ? &queue_.front()
                                           : nullptr;
  if (oldest != nullptr && now > oldest->at) {
    lag.age = std::chrono::duration_cast<std::chrono::milliseconds>(now - oldest->at);
  }
  return lag;
}

std::shared_ptr<OutgoingFrame> PeerLink::WithLagReportLocked(const OutgoingFrame& lease,
                                                             Clock::time_point now) const {
  const Lag lag = LagLocked(now);
  auto frame = std::make_shared<OutgoingFrame>();
  frame->header = lease.header;
  frame->SetPayload(std::make_shared<const std::string>(EncodeLagReport(
      {static_cast<uint64_t>(std::max<int64_t>(0, lag.age.count())), lag.bytes, lag.broken})));
  frame->Encode();
  return frame;
}

bool PeerLink::ThrottledLocked() const {
  return async_ && async_policy_.policy == LagPolicy::kThrottle;
}

bool PeerLink::OverLagLocked(Clock::time_point now) const {
  Lag lag = LagLocked(now);
  return !lag.broken &&
         (lag.bytes > async_policy_.max_lag_bytes || lag.age > async_policy_.max_lag);
}

bool PeerLink::WaitForLagWithin(Clock::time_point deadline) {
  MutexLock l(&mu_);
  ++lag_waiters_;
  bool within = true;
  bool counted = false;
  // Not streaming in sync: the bound is broken already (reported so), and
  // waiting would only stall writers until it resyncs.
  while (ThrottledLocked() && streaming_ && !stopping_ && OverLagLocked(clock_->Now())) {
    if (!counted) {
      ++throttled_writes_;
      counted = true;
    }
    const auto now = clock_->Now();
    if (now >= deadline) {
      within = false;
      break;
    }
    // Acknowledgements wake us; the age grows without any, so look again soon.
    changed_.WaitWithTimeout(&mu_, absl::FromChrono(std::min<Clock::duration>(
                                       deadline - now, std::chrono::milliseconds(20))));
  }
  --lag_waiters_;
  return within;
}

}  // namespace syncblock::repl
