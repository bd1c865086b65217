// The quorum tracker of a primary: the client requests of the write stream
// that wait for a majority, by sequence number (DESIGN.md, rule 1).
//
// A request completes when a majority of the members hold it: this node once
// its local part is done, and each peer that acknowledged it while in sync
// (or that later caught up past it). What "done" means locally is the
// caller's: applied for a plain write, applied and synced for FUA, synced for
// a flush. A write also never completes before it is applied here, so that
// a read from this node after the acknowledgement sees it.
//
// A witness (failover.md, "Witness") holds no data. It counts for a request
// when every data peer that has not acknowledged it is in the witness's
// record of outdated replicas: an election then never picks one of those,
// so the data peers that do hold the request decide.
//
// A request fails at once when so many members refused it (a peer's error,
// such as no space, or this node's own) that no majority can hold it any
// more, with the error they gave; otherwise it waits for its deadline.
//
// Thread-safe. Completed requests are handed back to the caller, which runs
// their callbacks outside every lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "replication/block_device.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

using Completions = std::vector<std::shared_ptr<IoRequest>>;

// Runs every request's callback and empties `done`.
void RunCompletions(Completions& done);

class QuorumTracker {
 public:
  using Clock = std::chrono::steady_clock;

  // `members` counts this node; the quorum is a majority of them.
  void SetMembers(int members) ABSL_LOCKS_EXCLUDED(mu_);
  int quorum() const ABSL_LOCKS_EXCLUDED(mu_);
  // The peer slots that hold data and the witness's (0: none).
  void SetPeerSlots(uint32_t data, uint32_t witness) ABSL_LOCKS_EXCLUDED(mu_);
  // The data peer slots the witness has recorded as outdated (a subset of
  // what it holds now): requests they lack may count the witness.
  void SetOutdated(uint32_t slots, Completions* done) ABSL_LOCKS_EXCLUDED(mu_);

  // `needs_apply`: the request changes data (it may not complete before it is
  // applied here). `refused` are peers known to refuse it already (slots),
  // with `refusal` their error.
  void Add(uint64_t seq, std::shared_ptr<IoRequest> req, bool needs_apply,
           Clock::time_point deadline, uint32_t refused, const absl::Status& refusal,
           Completions* done) ABSL_LOCKS_EXCLUDED(mu_);
  // The local data changed (the write is readable here).
  void Applied(uint64_t seq, Completions* done) ABSL_LOCKS_EXCLUDED(mu_);
  // The local part is done (OK), or failed here: the request fails with `s`.
  void LocalDone(uint64_t seq, const absl::Status& s, Completions* done) ABSL_LOCKS_EXCLUDED(mu_);
  // An in-sync peer acknowledged `seq`.
  void PeerAcked(uint64_t seq, uint32_t slot, Completions* done) ABSL_LOCKS_EXCLUDED(mu_);
  // A peer holds everything up to `seq` (its resync ended there).
  void PeerCaughtUp(uint32_t slot, uint64_t seq, Completions* done) ABSL_LOCKS_EXCLUDED(mu_);
  // A peer refused `seq` with `why`.
  void PeerRefused(uint64_t seq, uint32_t slot, const absl::Status& why, Completions* done)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Fails the requests whose deadline passed with `why`.
  void Expire(Clock::time_point now, const absl::Status& why, Completions* done)
      ABSL_LOCKS_EXCLUDED(mu_);
  void FailAll(const absl::Status& why, Completions* done) ABSL_LOCKS_EXCLUDED(mu_);

  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Pending {
    std::shared_ptr<IoRequest> req;
    bool needs_apply = false;
    bool applied = false;
    bool local_done = false;
    uint32_t acked = 0;    // peer slots
    uint32_t refused = 0;  // peer slots
    absl::Status refusal;
    Clock::time_point deadline;
  };
  using Map = std::map<uint64_t, Pending>;

  // Completes or fails `it` when it is decided; returns the next entry.
  Map::iterator SettleLocked(Map::iterator it, Completions* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Map::iterator FinishLocked(Map::iterator it, absl::Status s, Completions* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  int members_ ABSL_GUARDED_BY(mu_) = 1;
  uint32_t data_slots_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t witness_slot_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t outdated_ ABSL_GUARDED_BY(mu_) = 0;
  Map pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::repl
