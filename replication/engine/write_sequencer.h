// The write sequencer of a primary: it gives every operation of the write
// stream its sequence number, and orders the local application of
// operations that must not overtake each other (a range lock in sequence
// order). It is the only place where the stream's order is decided: what
// Sequence()'s callback queues to the peers is queued in sequence order, so
// every replica applies overlapping writes in the order the primary did.
//
// The kinds of operation and what each waits for before it applies locally:
//   kWrite    earlier kWrite over an overlapping range, and earlier kBarrier;
//   kFlush    every earlier kWrite and kBarrier (its fsync must cover them);
//             nothing waits for a flush;
//   kBarrier  everything earlier; everything later waits for it (snapshot
//             cuts, growth);
//   kControl  nothing, and nothing waits for it (frames that only need their
//             place in the stream).
//
// Thread-safe. Sequence()'s callback runs under the sequencer's mutex: it may
// only queue (never block); the lock order is sequencer, then peer link.
#pragma once

#include <cstdint>
#include <map>

#include "absl/functional/function_ref.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

class WriteSequencer {
 public:
  enum class Kind { kWrite, kFlush, kBarrier, kControl };

  // Sequence numbers continue after `last_seq`.
  explicit WriteSequencer(uint64_t last_seq) : last_seq_(last_seq) {}
  WriteSequencer(const WriteSequencer&) = delete;
  WriteSequencer& operator=(const WriteSequencer&) = delete;

  // Gives the next sequence number to an operation over [offset,
  // offset+length) and calls `in_order(seq)` while no other operation can be
  // sequenced. Every operation but kControl must later call Applied(seq).
  uint64_t Sequence(Kind kind, uint64_t offset, uint64_t length,
                    absl::FunctionRef<void(uint64_t)> in_order) ABSL_LOCKS_EXCLUDED(mu_);
  // Runs `fn` between two sequence numbers (a peer joining the stream).
  void Exclusive(absl::FunctionRef<void(uint64_t last_seq)> fn) ABSL_LOCKS_EXCLUDED(mu_);
  // Blocks until every earlier operation that `seq` must follow has applied.
  void WaitTurn(uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  // `seq` has applied locally (or failed): later operations may go.
  void Applied(uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t last_seq() const ABSL_LOCKS_EXCLUDED(mu_);
  // Operations sequenced and not yet applied.
  size_t in_flight() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    Kind kind;
    uint64_t begin;
    uint64_t end;
  };
  // True when an earlier `before` must apply before `after`.
  static bool MustFollow(const Entry& before, const Entry& after);
  bool MayApplyLocked(uint64_t seq) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  uint64_t last_seq_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, Entry> in_flight_ ABSL_GUARDED_BY(mu_);
  int waiters_ ABSL_GUARDED_BY(mu_) = 0;
  CondVar applied_;
};

}  // namespace syncblock::repl
