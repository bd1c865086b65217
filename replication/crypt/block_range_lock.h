// Exclusive locks over ranges of an encrypted volume's blocks, taken without
// blocking: a read-modify-write of a partial block must not interleave with
// another write of that block (replication/doc/encryption.md, "Writes").
// Acquire runs its callback at once when the range is free, otherwise later
// on the thread of the Release that frees it. Waiters are granted in order:
// a waiter never overtakes an earlier one it overlaps.
//
// Thread-safe. Callbacks run with no lock held.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "replication/util/mutex.h"

namespace syncblock::repl {

class BlockRangeLock {
 public:
  // Locks blocks [first, end).
  void Acquire(uint64_t first, uint64_t end, std::function<void()> granted);
  // Unlocks a range that was granted.
  void Release(uint64_t first, uint64_t end);
  // Held and waiting ranges (tests).
  size_t held() const;
  size_t waiting() const;

 private:
  struct Range {
    uint64_t first;
    uint64_t end;
    bool Overlaps(const Range& o) const { return first < o.end && o.first < end; }
  };
  struct Waiter {
    Range range;
    std::function<void()> granted;
  };
  bool FreeLocked(const Range& r, size_t waiters_before) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::vector<Range> held_ ABSL_GUARDED_BY(mu_);
  std::deque<Waiter> waiting_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::repl
