#include "replication/engine/lease.h"

#include <algorithm>
#include <functional>
#include <vector>

namespace syncblock::repl {

PrimaryLease::PrimaryLease(LeaseOptions opts, int peers_needed)
    : opts_(opts), peers_needed_(peers_needed) {
  MutexLock l(&mu_);
  UpdateLocked();
}

void PrimaryLease::SetPeersNeeded(int n) {
  MutexLock l(&mu_);
  peers_needed_ = n;
  UpdateLocked();
}

void PrimaryLease::Sent(uint64_t seq, TimePoint at) {
  MutexLock l(&mu_);
  sent_[seq] = at;
  // A frame that some peer never acknowledges (it went away) is forgotten
  // once it could no longer renew anything.
  while (sent_.size() > 1 && sent_.begin()->second + opts_.duration < at) {
    sent_.erase(sent_.begin());
  }
}

void PrimaryLease::Acked(const std::string& node, uint64_t seq) {
  MutexLock l(&mu_);
  auto it = sent_.find(seq);
  if (it == sent_.end()) return;
  TimePoint& p = promised_[node];
  p = std::max(p, it->second);
  UpdateLocked();
}

void PrimaryLease::Forget(const std::string& node) {
  MutexLock l(&mu_);
  promised_.erase(node);
  UpdateLocked();
}

std::chrono::nanoseconds PrimaryLease::Counted() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(opts_.duration *
                                                              (1.0 - opts_.max_drift));
}

void PrimaryLease::UpdateLocked() {
  TimePoint until;
  if (peers_needed_ <= 0) {
    until = TimePoint::max();
  } else if (static_cast<int>(promised_.size()) < peers_needed_) {
    until = TimePoint::min();
  } else {
    std::vector<TimePoint> times;
    times.reserve(promised_.size());
    for (const auto& [node, at] : promised_) times.push_back(at);
    // The peers_needed-th most recent promise: that many peers promised at
    // least from then.
    std::nth_element(times.begin(), times.begin() + (peers_needed_ - 1), times.end(),
                     std::greater<>());
    until = times[peers_needed_ - 1] + Counted();
  }
  valid_until_.store(until.time_since_epoch().count(), std::memory_order_release);
}

void LeasePromise::Heard(TimePoint now) {
  MutexLock l(&mu_);
  heard_ = std::max(heard_, now);
  released_ = false;
}

std::chrono::milliseconds LeasePromise::Remaining(TimePoint now) const {
  MutexLock l(&mu_);
  if (released_ || heard_ == TimePoint::min()) return std::chrono::milliseconds(0);
  auto end = heard_ + duration_;
  if (now >= end) return std::chrono::milliseconds(0);
  // Rounded up: a promise with a microsecond left still holds.
  return std::chrono::ceil<std::chrono::milliseconds>(end - now);
}

void LeasePromise::Release() {
  MutexLock l(&mu_);
  released_ = true;
}

LeasePromise::TimePoint LeasePromise::last_heard() const {
  MutexLock l(&mu_);
  return heard_;
}

}  // namespace syncblock::repl
