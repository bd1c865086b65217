#include "replication/engine/write_sequencer.h"

namespace syncblock::repl {

bool WriteSequencer::MustFollow(const Entry& before, const Entry& after) {
  if (before.kind == Kind::kControl || after.kind == Kind::kControl) return false;
  if (before.kind == Kind::kBarrier || after.kind == Kind::kBarrier) return true;
  if (before.kind == Kind::kFlush) return false;
  if (after.kind == Kind::kFlush) return true;
  return before.begin < after.end && after.begin < before.end;
}

uint64_t WriteSequencer::Sequence(Kind kind, uint64_t offset, uint64_t length,
                                  absl::FunctionRef<void(uint64_t)> in_order) {
  MutexLock l(&mu_);
  uint64_t seq = ++last_seq_;
  if (kind != Kind::kControl) in_flight_.emplace(seq, Entry{kind, offset, offset + length});
  in_order(seq);
  return seq;
}

void WriteSequencer::Exclusive(absl::FunctionRef<void(uint64_t)> fn) {
  MutexLock l(&mu_);
  fn(last_seq_);
}

bool WriteSequencer::MayApplyLocked(uint64_t seq) const {
  auto me = in_flight_.find(seq);
  if (me == in_flight_.end()) return true;
  for (auto it = in_flight_.begin(); it != me; ++it) {
    if (MustFollow(it->second, me->second)) return false;
  }
  return true;
}

void WriteSequencer::WaitTurn(uint64_t seq) {
  MutexLock l(&mu_);
  ++waiters_;
  while (!MayApplyLocked(seq)) applied_.Wait(&mu_);
  --waiters_;
}

void WriteSequencer::Applied(uint64_t seq) {
  MutexLock l(&mu_);
  in_flight_.erase(seq);
  if (waiters_ > 0) applied_.SignalAll();
}

uint64_t WriteSequencer::last_seq() const {
  MutexLock l(&mu_);
  return last_seq_;
}

size_t WriteSequencer::in_flight() const {
  MutexLock l(&mu_);
  return in_flight_.size();
}

}  // namespace syncblock::repl
