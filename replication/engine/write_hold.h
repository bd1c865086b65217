// Holds the new writes of one volume while a group snapshot is cut
// (replication/doc/snapshots.md, "Group snapshots"). A hold is named; while
// any hold is in place, Admit() keeps every write request that arrives and
// lets reads and flushes through; writes already past Admit() go on as
// usual. When the last hold ends, by Release(), by its deadline or by
// ReleaseAll(), the kept requests go to `resubmit` in arrival order, outside
// the lock.
//
// The deadline is what keeps a dead controller from stopping a volume's
// writes: the engine calls ReleaseExpired() from its housekeeping loop.
//
// Thread-safe; `resubmit` is never called under the lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "replication/block_device.h"
#include "replication/util/clock.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

struct HoldRelease {
  bool found = false;                 // the hold was still in place
  std::chrono::microseconds held{0};  // from Hold() to this release
  uint64_t writes_held = 0;           // requests kept while it was in place
};

class WriteHold {
 public:
  using Resubmit = std::function<void(std::shared_ptr<IoRequest>)>;

  // `clock` outlives this object.
  WriteHold(syncblock::Clock* clock, Resubmit resubmit);
  WriteHold(const WriteHold&) = delete;
  WriteHold& operator=(const WriteHold&) = delete;

  // Places hold `id` for at most `max` (at least 1 ms). Holding an id again
  // keeps its start and moves its deadline: a retried request is harmless.
  // INVALID_ARGUMENT for an empty id.
  absl::Status Hold(const std::string& id, std::chrono::milliseconds max);
  // Ends hold `id`. An unknown id (never held, expired, released) answers
  // found=false: the caller learns that its hold did not last to the end.
  HoldRelease Release(const std::string& id);
  // Ends every hold past its deadline; returns how many ended.
  int ReleaseExpired();
  // Ends every hold (the engine stops).
  void ReleaseAll();

  // True when `req` is a write and a hold is in place: it is kept and
  // resubmitted later. False: the caller goes on with it now.
  bool Admit(std::shared_ptr<IoRequest>& req);

  bool holding() const;
  size_t waiting() const;

 private:
  struct Entry {
    syncblock::Clock::TimePoint start;
    syncblock::Clock::TimePoint deadline;
    uint64_t writes_held = 0;
  };

  // Takes the kept requests when no hold is left; resubmits them unlocked.
  void ResubmitIfFree(std::deque<std::shared_ptr<IoRequest>>* go)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run(std::deque<std::shared_ptr<IoRequest>>& go);

  syncblock::Clock* const clock_;
  const Resubmit resubmit_;
  mutable Mutex mu_;
  std::map<std::string, Entry> holds_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<IoRequest>> kept_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::repl
