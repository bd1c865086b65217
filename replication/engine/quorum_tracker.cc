#include "replication/engine/quorum_tracker.h"

#include <bit>

namespace syncblock::repl {

void RunCompletions(Completions& done) {
  for (auto& req : done) {
    if (req->done) req->done(*req);
  }
  done.clear();
}

void QuorumTracker::SetMembers(int members) {
  MutexLock l(&mu_);
  members_ = members;
}

int QuorumTracker::quorum() const {
  MutexLock l(&mu_);
  return members_ / 2 + 1;
}

void QuorumTracker::SetPeerSlots(uint32_t data, uint32_t witness) {
  MutexLock l(&mu_);
  data_slots_ = data;
  witness_slot_ = witness;
  outdated_ &= data;
}

void QuorumTracker::SetOutdated(uint32_t slots, Completions* done) {
  MutexLock l(&mu_);
  outdated_ = slots & data_slots_;
  for (auto it = pending_.begin(); it != pending_.end();) it = SettleLocked(it, done);
}

QuorumTracker::Map::iterator QuorumTracker::FinishLocked(Map::iterator it, absl::Status s,
                                                         Completions* done) {
  it->second.req->status = std::move(s);
  done->push_back(std::move(it->second.req));
  return pending_.erase(it);
}

QuorumTracker::Map::iterator QuorumTracker::SettleLocked(Map::iterator it, Completions* done) {
  const Pending& p = it->second;
  int quorum = members_ / 2 + 1;
  const uint32_t data_acked = p.acked & ~witness_slot_;
  int held = std::popcount(data_acked) + (p.local_done ? 1 : 0);
  // The witness stands in for outdated copies only beside this node's own.
  if (witness_slot_ != 0 && p.local_done && (data_slots_ & ~data_acked & ~outdated_) == 0) ++held;
  if (held >= quorum && (p.applied || !p.needs_apply)) {
    return FinishLocked(it, absl::OkStatus(), done);
  }
  int refused = std::popcount(p.refused);
  if (members_ - refused < quorum) return FinishLocked(it, p.refusal, done);
  return std::next(it);
}

void QuorumTracker::Add(uint64_t seq, std::shared_ptr<IoRequest> req, bool needs_apply,
                        Clock::time_point deadline, uint32_t refused, const absl::Status& refusal,
                        Completions* done) {
  MutexLock l(&mu_);
  Pending p;
  p.req = std::move(req);
  p.needs_apply = needs_apply;
  p.deadline = deadline;
  p.refused = refused;
  p.refusal = refusal;
  auto [it, inserted] = pending_.emplace(seq, std::move(p));
  if (inserted) SettleLocked(it, done);
}

void QuorumTracker::Applied(uint64_t seq, Completions* done) {
  MutexLock l(&mu_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  it->second.applied = true;
  SettleLocked(it, done);
}

void QuorumTracker::LocalDone(uint64_t seq, const absl::Status& s, Completions* done) {
  MutexLock l(&mu_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  if (!s.ok()) {
    FinishLocked(it, s, done);
    return;
  }
  it->second.local_done = true;
  SettleLocked(it, done);
}

void QuorumTracker::PeerAcked(uint64_t seq, uint32_t slot, Completions* done) {
  MutexLock l(&mu_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  it->second.acked |= 1u << slot;
  SettleLocked(it, done);
}

void QuorumTracker::PeerCaughtUp(uint32_t slot, uint64_t seq, Completions* done) {
  MutexLock l(&mu_);
  for (auto it = pending_.begin(); it != pending_.end() && it->first <= seq;) {
    it->second.acked |= 1u << slot;
    it = SettleLocked(it, done);
  }
}

void QuorumTracker::PeerRefused(uint64_t seq, uint32_t slot, const absl::Status& why,
                                Completions* done) {
  MutexLock l(&mu_);
  auto it = pending_.find(seq);
  if (it == pending_.end()) return;
  if (it->second.refused == 0) it->second.refusal = why;
  it->second.refused |= 1u << slot;
  SettleLocked(it, done);
}

void QuorumTracker::Expire(Clock::time_point now, const absl::Status& why, Completions* done) {
  MutexLock l(&mu_);
  for (auto it = pending_.begin(); it != pending_.end();) {
    it = it->second.deadline <= now ? FinishLocked(it, why, done) : std::next(it);
  }
}

void QuorumTracker::FailAll(const absl::Status& why, Completions* done) {
  MutexLock l(&mu_);
  for (auto it = pending_.begin(); it != pending_.end();) it = FinishLocked(it, why, done);
}

size_t QuorumTracker::size() const {
  MutexLock l(&mu_);
  return pending_.size();
}

}  // namespace syncblock::repl
