// One volume's replica on this storage node: its store, its manifest and its
// role. As a secondary it applies the primary's replication frames in order,
// refusing any that carry an older epoch; as the primary it owns the
// PrimaryEngine that sequences and mirrors client IO.
//
// Thread-safe. Lock order: PrimaryEngine::mu_ before Replica::mu_; the replica
// never calls into its engine while holding mu_.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/engine/lease.h"
#include "replication/security/tls_context.h"
#include "replication/store/manifest.h"
#include "replication/store/replica_store.h"
#include "replication/util/clock.h"
#include "replication/util/mutex.h"
#include "replication/wire/hello.h"
#include "replication/wire/wire_format.h"

namespace syncblock::repl {

class PrimaryEngine;
class Dialer;

struct EngineOptions {
  std::string node_id;
  // A write or flush that no majority acknowledges within this fails with EIO.
  std::chrono::milliseconds io_timeout{30000};
  // Resync bandwidth per replica in bytes per second; 0 is unlimited.
  uint64_t resync_rate = 256ull << 20;
  // A peer that reads nothing for this long is dropped.
  std::chrono::milliseconds send_timeout{10000};
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds reconnect_interval{500};
  // A peer with more than this many bytes queued and unacknowledged, or with
  // frames outstanding and no acknowledgement for `peer_stall_timeout`, is
  // dropped to its dirty bitmap instead of holding the volume back.
  uint64_t peer_queue_bytes = 64ull << 20;
  std::chrono::milliseconds peer_stall_timeout{5000};
  // The primary's lease (lease.h, replication/doc/failover.md): a secondary
  // that hears nothing from its primary for this long helps elect another.
  std::chrono::milliseconds lease_duration{2000};
  // The clock-rate difference between nodes the lease allows for.
  double lease_max_drift = 0.2;
  // Dials replication connections; nullptr: plain TCP (DefaultDialer()).
  std::shared_ptr<Dialer> dialer;
  // TLS on the replication connections this node dials (link_security.h);
  // nullptr: plaintext (--insecure).
  std::shared_ptr<security::TlsContext> tls;
  // The replica stores' file IO; nullptr: Env::Posix(). Tests inject faults.
  Env* env = nullptr;
  // Time for deadlines and stall decisions; nullptr: Clock::Real().
  Clock* clock = nullptr;
  // Told when this node gains (true) or loses (false) the primary role of a
  // volume; the NBD server drops the connections of a lost export.
  std::function<void(const std::string& volume_id, bool primary)> on_role_change;
  // The data key of an unlocked encrypted volume (empty: locked, or not
  // encrypted), which its primary hands to its data replicas over TLS links.
  std::function<std::string(const std::string& volume_id)> data_key;
};

// The primary of `epoch` stepped down for a planned move (it accepted the
// new epoch first): replicas that promise that very primary at that epoch
// need not wait for the promise to run out.
struct ReleasedPrimary {
  std::string node_id;
  uint64_t epoch = 0;
};

struct AcceptEpochResult {
  uint64_t previous_epoch = 0;
  uint64_t applied_seq = 0;
  bool consistent = false;
  std::string data_generation;
  // A witness answered: it is no source; `outdated` is its record.
  bool witness = false;
  std::set<std::string> outdated;
  // An asynchronous replica: its lag as its primary last reported it (none
  // since this process started: unset), and when (wall clock).
  std::optional<LagReport> lag;
  int64_t lag_reported_unix_ms = 0;
};

class Replica {
 public:
  static absl::StatusOr<std::shared_ptr<Replica>> Create(const std::string& dir, const Manifest& m,
                                                         const EngineOptions& opts);
  static absl::StatusOr<std::shared_ptr<Replica>> Open(const std::string& dir,
                                                       const EngineOptions& opts);
  ~Replica();

  const std::string& id() const { return id_; }
  // This node is the volume's witness: it votes and keeps the record of
  // outdated replicas, and holds no data (failover.md, "Witness").
  bool witness() const { return witness_; }
  ReplicaStore& store() { return *store_; }
  const EngineOptions& options() const { return opts_; }

  Manifest manifest() const;
  // Applies `change` to the manifest and persists it.
  absl::Status UpdateManifest(const std::function<void(Manifest&)>& change);

  // The engine while this node is the volume's primary and not fenced.
  std::shared_ptr<PrimaryEngine> engine() const;
  bool IsPrimary() const;
  uint64_t applied_seq() const { return applied_seq_.load(); }
  // The primary's engine reports each sequence number it sequences.
  void NoteApplied(uint64_t seq) {
    uint64_t prev = applied_seq_.load();
    while (seq > prev && !applied_seq_.compare_exchange_weak(prev, seq)) {
    }
  }
  bool consistent() const;
  // An asynchronous replica's lag as its primary last reported it (with each
  // lease), and when (wall clock); unset when none came since this process
  // started.
  struct ReportedLag {
    std::optional<LagReport> lag;
    int64_t unix_ms = 0;
  };
  ReportedLag LastReportedLag() const;

  // Starts the engine when the manifest names this node as primary.
  absl::Status StartRole();
  // Stops the engine and background work on the files (node shutdown or
  // replica deletion).
  void Shutdown();

  // --- secondary side, called by the replication server ---
  // Accepts or refuses a primary's hello. On success `session` identifies the
  // connection; frames of any older session are refused.
  HelloReply AcceptHello(const HelloRequest& hello, uint64_t* session);
  // Applies one frame; the answer is the ack's status. A checksum request puts
  // its answer in `reply`.
  WireStatus Apply(uint64_t session, const FrameHeader& h, std::string_view payload,
                   std::string* reply, std::string* error);

  // --- promotion and election ---
  // FAILED_PRECONDITION when this replica already has `epoch` or newer (unless
  // it is the same primary again), or when it still promises its current
  // primary the lease and `released` does not name that very primary, at its
  // epoch, as having stepped down (accepted the new epoch) first. Also
  // FAILED_PRECONDITION for a candidate that is the volume's witness, and, on
  // the witness, for one its record names outdated, and on a replica that
  // was removed itself. ABORTED for a candidate a promotion that accepted
  // data loss removed (removed_members.h): it must not serve, and stops.
  absl::StatusOr<AcceptEpochResult> AcceptEpoch(uint64_t epoch, const std::string& primary,
                                                const std::vector<MemberInfo>& members,
                                                const ReleasedPrimary& released = {});
  // A promotion that accepted data loss removed this replica from the volume:
  // a member's attributes (`record`, removed_members.h) say so, in a newer
  // version than this replica's. It adopts that record and serves, runs and
  // votes no more, until a primary of a newer lineage that adds it again
  // says hello. The engine stops even when saving fails.
  absl::Status MarkRemoved(const std::map<std::string, std::string>& record,
                           const std::string& why);
  // What is left of this replica's promise to its primary (zero: it may help
  // elect another).
  std::chrono::milliseconds PromiseRemaining() const;
  // Takes the primary role at `epoch`, which this replica accepted for
  // itself: FAILED_PRECONDITION when anything came since (a vote for another
  // candidate, a newer primary's hello), so an overtaken promotion never
  // takes the role, nor moves the manifest back to an older epoch.
  absl::Status BecomePrimary(uint64_t epoch, const std::function<void(Manifest&)>& change);
  // A promotion's catch-up write, under the same condition as BecomePrimary:
  // an overtaken promotion writes nothing over what a newer primary wrote.
  absl::Status WriteAsCandidate(uint64_t epoch, uint64_t offset, std::string_view data);

 private:
  Replica(std::unique_ptr<ReplicaStore> store, Manifest m, const EngineOptions& opts);
  // Fences and stops `engine` (taken out of engine_ by the caller, outside
  // mu_) and returns the regions it had writes in flight in.
  static std::vector<uint64_t> Demote(std::shared_ptr<PrimaryEngine> engine);
  absl::Status ApplyData(const FrameHeader& h, std::string_view payload);
  // OK while this replica is the unconfirmed candidate of `epoch`.
  absl::Status CandidateOfLocked(uint64_t epoch) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // kSnapshot, kSnapshotData, kSnapshotDone and kSnapshotDelete frames.
  absl::Status ApplySnapshot(const FrameHeader& h, std::string_view payload);
  // At a hello: drops the snapshots the primary no longer lists and
  // unfinished copies; `held` gets the ones kept.
  absl::Status ReconcileSnapshots(const HelloRequest& hello, std::vector<std::string>* held);

  // The frames a witness takes; it refuses the rest (it has no data).
  WireStatus ApplyAsWitness(const FrameHeader& h, std::string_view payload, std::string* error);

  const std::string id_;
  const EngineOptions opts_;
  const bool witness_;
  std::unique_ptr<ReplicaStore> store_;

  // Held across the check of a frame's epoch and its application, and by
  // AcceptEpoch: once a new epoch is accepted, no frame of an older one is
  // applied any more.
  std::mutex apply_mu_;

  mutable Mutex mu_;
  Manifest manifest_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<PrimaryEngine> engine_ ABSL_GUARDED_BY(mu_);
  uint64_t session_ ABSL_GUARDED_BY(mu_) = 0;
  bool consistent_ ABSL_GUARDED_BY(mu_) = false;
  // Opened on a new boot of its machine, not yet resynced (see Manifest::boot_id).
  bool lost_unsynced_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> applied_seq_{0};
  // Regions a primary stepping down by AcceptEpoch had writes in flight in:
  // the next accepted hello hands them to the new primary (dirty_hint), which
  // resyncs them here.
  std::vector<uint64_t> demoted_regions_ ABSL_GUARDED_BY(mu_);
  // The lag the primary last reported (asynchronous replicas only).
  std::optional<LagReport> last_lag_ ABSL_GUARDED_BY(mu_);
  int64_t last_lag_unix_ms_ ABSL_GUARDED_BY(mu_) = 0;
  Clock* const clock_;
  LeasePromise promise_;
};

}  // namespace syncblock::repl
