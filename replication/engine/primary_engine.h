// The primary's engine for one volume (DESIGN.md, replication rules 1, 3, 4
// and 5). It wires the engine's parts together and owns the volume's state:
//
//   WriteSequencer       orders the write stream, range-locks local applies
//   QuorumTracker        completes a request once a majority holds it
//   PeerLink (per peer)  connection, bounded send queue, acknowledgements
//   Resyncer             catches a returning peer up from its dirty bitmap
//   SnapshotCoordinator  snapshot barriers, registry, catch-up copies
//   ActivityLog          regions with writes in flight, for a restart
//   PrimaryLease         the majority's promise that no other primary is
//                        elected (lease.h): requests are taken only under it
//
// The write path (Submit): hold the regions in the activity log; sequence the
// write, which queues it to every streaming peer (or marks their dirty
// bitmaps) and registers it with the quorum tracker; wait for the turn of
// earlier overlapping writes; apply it locally; report to the quorum
// tracker. Acknowledgements arrive on the peer links' threads and complete
// requests there. No lock is held across disk or socket IO.
//
// Thread-safe. Lock order: PrimaryEngine::mu_, then WriteSequencer, then
// PeerLink; QuorumTracker, ActivityLog, SnapshotCoordinator and WriteHold
// locks are leaves. Replica's mutex is never held while calling in here.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "replication/block_device.h"
#include "replication/engine/activity_log.h"
#include "replication/engine/lease.h"
#include "replication/engine/peer_link.h"
#include "replication/engine/quorum_tracker.h"
#include "replication/engine/replica.h"
#include "replication/engine/snapshot_coordinator.h"
#include "replication/engine/witness_record.h"
#include "replication/engine/write_hold.h"
#include "replication/engine/write_sequencer.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

struct ResyncView {
  uint64_t bytes_copied = 0;
  uint64_t bytes_total = 0;
  double rate_bytes_per_second = 0;
  double eta_seconds = 0;
  bool full = false;
};

// An asynchronous replica's distance behind the stream (PeerLink::Lag).
struct PeerLagView {
  uint64_t bytes = 0;
  int64_t ms = 0;
  // Not streaming in sync (pulled ahead, offline, resyncing): the declared
  // bound does not hold, since `broken_since_unix_ms` (wall clock).
  bool broken = false;
  int64_t broken_since_unix_ms = 0;
  // Writes slowed to keep the bound (lagPolicy throttle), since the primary started.
  uint64_t throttled_writes = 0;
};

struct PeerView {
  std::string node_id;
  bool witness = false;
  bool async = false;
  PeerLagView lag;  // for an asynchronous replica
  PeerState state = PeerState::kOffline;
  uint64_t acked_seq = 0;
  uint64_t unacked = 0;       // frames queued or sent, not yet acknowledged
  uint64_t queued_bytes = 0;  // their bytes
  uint64_t dirty_bytes = 0;   // marked in its dirty bitmap
  ResyncView resync;
  std::string message;
};

struct EngineView {
  bool active = false;  // a majority has accepted this primary since it started
  // Time left of the lease a majority granted; zero when it has run out (IO
  // waits for a renewal); -1 when it needs nobody (one replica).
  int64_t lease_remaining_ms = 0;
  bool fenced = false;
  uint64_t last_seq = 0;
  uint64_t pending = 0;  // client requests waiting for a majority
  // Why this node's own copy failed a write (a full or failing disk), empty
  // when it did not.
  std::string local_error;
  std::vector<PeerView> peers;
};

class PrimaryEngine : public BlockDevice, private PeerLink::Delegate {
 public:
  // `replica` outlives the engine (it stops the engine before it goes).
  PrimaryEngine(Replica* replica, const EngineOptions& opts);
  ~PrimaryEngine() override;

  // Loads the bitmaps, folds the activity log of a previous run into every
  // peer's bitmap, and starts the threads.
  absl::Status Start();
  // Fails everything outstanding with `reason` and stops the threads.
  // Idempotent; must not be called from the engine's own threads.
  void Stop(absl::Status reason);
  bool fenced() const;

  uint64_t Size() const override;
  void Submit(std::shared_ptr<IoRequest> request) override;

  // The replica's manifest changed members or attributes: update the peers and
  // send the new manifest down the stream.
  void ManifestChanged();
  // Starts a new resync of `node_id` (every peer when empty): with `full`, a
  // full copy; otherwise a comparison by checksums, copying what differs.
  absl::Status RequestResync(const std::string& node_id, bool full);

  std::vector<uint64_t> ActivityRegions();
  EngineView View();

  // --- snapshots and growth ---
  // Cuts snapshot `name` at the current point of the write stream
  // (SnapshotCoordinator::Create). Waits, within the IO timeout, for a
  // majority to accept this primary first.
  absl::StatusOr<SnapshotView> CreateSnapshot(const std::string& name);
  absl::Status DeleteSnapshot(const std::string& name);
  std::vector<SnapshotView> Snapshots();
  // NOT_FOUND when unknown.
  absl::StatusOr<SnapshotView> GetSnapshot(const std::string& name);
  // Grows the volume: INVALID_ARGUMENT when smaller, OK when equal. The new
  // size goes down the write stream ahead of any write past the old end.
  absl::Status Expand(uint64_t size_bytes);

  // --- group snapshots (WriteHold) ---
  // Holds new writes (hold `id`, at most `max`) so that a group snapshot can
  // cut every member's snapshot at one instant; a fenced primary refuses.
  absl::Status HoldWrites(const std::string& id, std::chrono::milliseconds max);
  HoldRelease ReleaseWrites(const std::string& id);

 private:
  using Clock = std::chrono::steady_clock;

  // --- the write path (primary_engine.cc) ---
  void Read(std::shared_ptr<IoRequest> req);
  void Write(std::shared_ptr<IoRequest> req);
  void Flush(std::shared_ptr<IoRequest> req);
  // Waits, until `deadline`, for the asynchronous replicas under the throttle
  // policy to be within their lag bounds; one that is not by then is pulled
  // ahead (writers never wait longer than the IO timeout for it).
  void ThrottleForAsyncReplicas(const LinkList& links, Clock::time_point deadline);
  absl::Status ApplyLocally(const FrameHeader& h, const std::string* payload);
  // After a local write failed: sends this copy's content of the range to
  // every peer, in the stream, so that the replicas hold the same bytes.
  void RepairPeers(const OutgoingFrame& failed);
  // Peers that refused writes and are not back: their slots and error.
  uint32_t RefusedSlots(const LinkList& links, absl::Status* refusal);
  std::shared_ptr<const LinkList> Links() const ABSL_LOCKS_EXCLUDED(links_mu_);
  absl::Status WaitActive(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  void Fence(absl::Status reason) ABSL_LOCKS_EXCLUDED(mu_);
  void HousekeepingLoop();

  // --- peers (primary_engine_peers.cc) ---
  // Creates links for new members and retires removed ones; the caller
  // starts and stops them outside mu_.
  void SyncPeersLocked(std::vector<std::shared_ptr<PeerLink>>* started,
                       std::vector<std::shared_ptr<PeerLink>>* retired)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The hello of every connection, and the kManifest update, which is one.
  HelloRequest HelloLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues a control frame to every streaming peer at this point of the
  // stream.
  void SendToPeers(FrameType type, const std::string& payload);
  // Renews the lease: a LEASE frame to every streaming peer.
  void SendLease();
  // Requests held while this primary was not accepted or its lease had run
  // out go on once it is both.
  void ReleaseHeld() ABSL_LOCKS_EXCLUDED(mu_);
  bool ServingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeActivateLocked(std::vector<std::shared_ptr<IoRequest>>* resubmit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RunResync(std::shared_ptr<PeerLink> link, uint64_t session, bool full, bool checksum);
  void PeerInSync(PeerLink& link);

  // --- the witness (primary_engine_witness.cc) ---
  // Tells the quorum tracker which peer slots hold data and which is the
  // witness; a new witness knows no record yet.
  void SetPeerSlotsLocked(Completions* done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends the witness the data replicas not in sync, when that changed (or
  // always with `resend`).
  void UpdateWitness(bool resend) ABSL_LOCKS_EXCLUDED(mu_);
  // A witness accepted the hello: it streams at once, with no resync.
  void WitnessConnected(PeerLink& link, int fd) ABSL_LOCKS_EXCLUDED(mu_);
  // The witness acknowledged its record `seq`.
  void WitnessRecorded(uint64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  // The slots of the data peers the quorum may count the witness for: in its
  // confirmed record and not in sync.
  uint32_t CountableOutdatedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What the witness should record: every data peer not in sync, and every
  // one back in sync that has not yet acknowledged the writes the witness
  // stood in for. Stops counting the witness for peers in sync first.
  std::set<std::string> WitnessRecordLocked(Completions* done) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // PeerLink::Delegate
  std::string HelloPayload(const PeerLink& link) override;
  void Connected(PeerLink& link, const HelloReply& reply, int fd) override;
  void Refused(PeerLink& link, const HelloReply& reply) override;
  void Acked(PeerLink& link, uint64_t session, const OutgoingFrame& sent,
             const Frame& ack) override;
  void Disconnected(PeerLink& link, uint64_t session) override;

  Replica* const replica_;
  const EngineOptions opts_;
  ReplicaStore& store_;
  syncblock::Clock* const clock_;
  std::atomic<uint64_t> size_{0};
  uint64_t epoch_ = 0;        // set by Start, constant after
  uint64_t region_size_ = 0;  // likewise (a volume's region size never changes)

  std::unique_ptr<WriteSequencer> sequencer_;
  QuorumTracker quorum_;
  PrimaryLease lease_;
  std::shared_ptr<ActivityLog> activity_;
  std::unique_ptr<SnapshotCoordinator> snapshots_;
  // Writes kept while a group snapshot is cut; resubmitted to Submit.
  WriteHold write_hold_;

  mutable Mutex mu_;
  CondVar changed_;  // stopping, activation
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool fenced_ ABSL_GUARDED_BY(mu_) = false;
  bool active_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status fence_reason_ ABSL_GUARDED_BY(mu_);
  std::string local_error_ ABSL_GUARDED_BY(mu_);
  Manifest manifest_ ABSL_GUARDED_BY(mu_);  // the engine's copy; the replica's is persisted
  std::map<std::string, std::shared_ptr<PeerLink>> peers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> accepted_ ABSL_GUARDED_BY(mu_);  // accepted this primary
  std::string witness_id_ ABSL_GUARDED_BY(mu_);             // empty: none
  WitnessRecord witness_record_ ABSL_GUARDED_BY(mu_);
  // Data peers seen in sync by UpdateWitness, each with the last sequence
  // number of the stream when the witness stopped standing in for it (0 once
  // it acknowledged that far): until then it may lack writes acknowledged
  // with the witness's record of it, so it stays in the record.
  std::map<std::string, uint64_t> in_sync_hold_ ABSL_GUARDED_BY(mu_);
  // Submitted before a majority accepted this primary, with their deadlines.
  std::deque<std::pair<std::shared_ptr<IoRequest>, Clock::time_point>> held_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::thread> resync_threads_ ABSL_GUARDED_BY(mu_);  // by node id
  // Each peer's data generation as its last hello gave it.
  std::map<std::string, std::string> generations_ ABSL_GUARDED_BY(mu_);
  std::thread housekeeping_;
  // Writes past the gate in Submit and not yet applied locally: Stop waits
  // for them, so that a primary that stepped down writes nothing after
  // (counted under mu_ with the gate, released without it).
  std::atomic<int> writing_{0};

  // Some member is asynchronous: writes check their lag bounds.
  std::atomic<bool> has_async_{false};
  // The peers the write path sends to, replaced whole when members change.
  mutable Mutex links_mu_;
  std::shared_ptr<const LinkList> links_ ABSL_GUARDED_BY(links_mu_);
};

}  // namespace syncblock::repl
