// The primary's lease (DESIGN.md rule 7; replication/doc/failover.md).
//
// A replica that receives a frame of its primary's current connection
// promises not to help elect another primary for `duration` after it, on its
// own clock (LeasePromise). The primary sends a LEASE frame every quarter of
// the duration; when a replica acknowledges one that was sent at time T, the
// primary may count on that replica's promise until T + duration shrunk by
// the clock drift it allows (PrimaryLease). It serves while a majority
// (itself included) has promised. The replica's promise starts when the
// frame arrives, which is after T, so it outlasts the primary's own count as
// long as the two clocks' rates differ by less than `max_drift`: no successor
// can be elected while this primary still acknowledges.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "replication/util/clock.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

struct LeaseOptions {
  // A replica's promise after each frame of its primary.
  std::chrono::milliseconds duration{2000};
  // How much faster or slower one node's clock may run than another's over
  // one lease: the primary counts on duration * (1 - max_drift).
  double max_drift = 0.2;
};

// The primary's side: heartbeats sent, promises acknowledged.
class PrimaryLease {
 public:
  using TimePoint = Clock::TimePoint;

  // `peers_needed`: promises from other replicas a majority needs (quorum - 1).
  PrimaryLease(LeaseOptions opts, int peers_needed);

  void SetPeersNeeded(int n) ABSL_LOCKS_EXCLUDED(mu_);
  // The LEASE frame `seq` was queued at `at`.
  void Sent(uint64_t seq, TimePoint at) ABSL_LOCKS_EXCLUDED(mu_);
  // `node` acknowledged LEASE frame `seq`: it promises from the frame's time.
  void Acked(const std::string& node, uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  // `node` is no longer a member: its promise counts no more.
  void Forget(const std::string& node) ABSL_LOCKS_EXCLUDED(mu_);
  // Until when a majority has promised; TimePoint::max() when no peer's
  // promise is needed (one replica), TimePoint::min() when none holds yet.
  // Lock-free: read on every request.
  TimePoint ValidUntil() const {
    return TimePoint(TimePoint::duration(valid_until_.load(std::memory_order_acquire)));
  }
  bool Valid(TimePoint now) const { return now < ValidUntil(); }

  std::chrono::milliseconds duration() const { return opts_.duration; }

 private:
  std::chrono::nanoseconds Counted() const;
  void UpdateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const LeaseOptions opts_;
  mutable Mutex mu_;
  int peers_needed_ ABSL_GUARDED_BY(mu_);
  // LEASE frames not yet acknowledged by every peer: seq -> time queued.
  std::map<uint64_t, TimePoint> sent_ ABSL_GUARDED_BY(mu_);
  // Each peer's latest promise: the queue time of the frame it acknowledged.
  std::map<std::string, TimePoint> promised_ ABSL_GUARDED_BY(mu_);
  // ValidUntil() as steady-clock ticks, recomputed on every change.
  std::atomic<TimePoint::rep> valid_until_{TimePoint::min().time_since_epoch().count()};
};

// A replica's side: when it last heard its primary.
class LeasePromise {
 public:
  using TimePoint = Clock::TimePoint;

  explicit LeasePromise(std::chrono::milliseconds duration) : duration_(duration) {}

  // A frame (or hello) of the current primary arrived at `now`. A node that
  // (re)starts calls it too: it may have promised before it stopped.
  void Heard(TimePoint now) ABSL_LOCKS_EXCLUDED(mu_);
  // Time left of the promise; zero once it has run out.
  std::chrono::milliseconds Remaining(TimePoint now) const ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets the promise: its primary stepped down by itself.
  void Release() ABSL_LOCKS_EXCLUDED(mu_);
  // When it last heard its primary.
  TimePoint last_heard() const ABSL_LOCKS_EXCLUDED(mu_);

  std::chrono::milliseconds duration() const { return duration_; }

 private:
  const std::chrono::milliseconds duration_;
  mutable Mutex mu_;
  TimePoint heard_ ABSL_GUARDED_BY(mu_) = TimePoint::min();
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace syncblock::repl
