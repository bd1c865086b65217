// What a primary has told its volume's witness about outdated replicas
// (replication/doc/failover.md, "Witness").
//
// The witness stands in for the data replicas its record names: once it has
// recorded a replica as outdated, no election picks that replica, so a write
// the replica lacks is safe with the primary's copy and the other data
// replicas. The primary may therefore count the witness only for replicas
// the witness is known to have recorded. Records travel in the stream in
// order; `confirmed` is always a subset of every record the witness may
// hold from now on: a record that drops a replica shrinks it at once (the
// witness may not hold it yet), one that adds a replica grows it only when
// the witness acknowledges it, and only if no newer record was sent since.
//
// Thread-compatible: the engine keeps it under its mutex.
#pragma once

#include <cstdint>
#include <set>
#include <string>

namespace syncblock::repl {

class WitnessRecord {
 public:
  // True when the witness should get `desired` now: it differs from the last
  // record sent, or `resend` (the witness reconnected, or is new).
  bool ShouldSend(const std::set<std::string>& desired, bool resend) const;
  // Record `record` went down the stream as sequence number `seq`.
  void Sent(uint64_t seq, std::set<std::string> record);
  // The witness acknowledged `seq`; true when that changed `confirmed`.
  bool Acked(uint64_t seq);
  // Another witness (or none): nothing is known to be recorded any more.
  void Reset();

  const std::set<std::string>& confirmed() const { return confirmed_; }
  const std::set<std::string>& last_sent() const { return last_sent_; }

 private:
  bool sent_any_ = false;
  uint64_t last_seq_ = 0;
  std::set<std::string> last_sent_;
  std::set<std::string> confirmed_;
};

}  // namespace syncblock::repl
