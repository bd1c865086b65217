// The primary's engine for one volume: it orders every client write with a
// sequence number, applies it locally, sends it to every connected replica in
// parallel, and completes it once a majority of the replicas (itself included)
// have it (DESIGN.md, replication rules 1 and 3). FLUSH and FUA wait for
// durability on a majority. Replicas that are away get the regions they miss
// recorded in a persistent dirty bitmap and are resynced when they return
// (rule 4); regions with writes in flight are kept in a persistent activity
// log so that a restarted primary resyncs them too. Snapshots are barriers in
// the same stream (replication/doc/snapshots.md); replicas that miss one get
// a full copy after their resync.
//
// Threads: client submissions (any thread), one link thread per peer (connect,
// hello, receive acks), one resync thread per peer while it catches up (then
// copies it the snapshots it missed), and a housekeeping thread (IO timeouts,
// activity-log trimming, snapshot registry writes).
//
// Thread-safe. Lock order: mu_, then Replica's mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "replication/block_device.h"
#include "replication/engine/replica.h"
#include "replication/engine/snapshot_registry.h"
#include "replication/store/dirty_bitmap.h"

namespace syncblock::repl {

enum class PeerState { kOffline, kResyncing, kInSync, kFailed };
const char* PeerStateName(PeerState s);

struct ResyncView {
  uint64_t bytes_copied = 0;
  uint64_t bytes_total = 0;
  double rate_bytes_per_second = 0;
  double eta_seconds = 0;
  bool full = false;
};

struct PeerView {
  std::string node_id;
  PeerState state = PeerState::kOffline;
  uint64_t acked_seq = 0;
  uint64_t unacked = 0;      // frames sent, not yet acknowledged
  uint64_t dirty_bytes = 0;  // marked in its dirty bitmap
  ResyncView resync;
  std::string message;
};

// Hellos list every snapshot of the volume; this keeps them small.
inline constexpr size_t kMaxSnapshotsPerVolume = 1000;

enum class SnapshotCopyState { kReady, kPending, kCopying };

struct SnapshotMemberView {
  std::string node_id;
  SnapshotCopyState state = SnapshotCopyState::kPending;
  uint64_t bytes_copied = 0;  // while copying
  uint64_t bytes_total = 0;
};

struct SnapshotView {
  SnapshotRecord record;
  bool ready = false;  // a majority of the members hold it
  std::vector<SnapshotMemberView> members;  // every member, this node included
};

struct EngineView {
  bool active = false;  // a majority has accepted this primary since it started
  bool fenced = false;
  uint64_t last_seq = 0;
  uint64_t pending = 0;  // client requests waiting for a majority
  std::vector<PeerView> peers;
};

class PrimaryEngine : public BlockDevice, public std::enable_shared_from_this<PrimaryEngine> {
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

  // --- snapshots and growth (primary_engine_snapshots.cc) ---
  // Cuts snapshot `name` at the current point of the write stream, here and
  // on every in-sync replica, and waits (up to the IO timeout) until a
  // majority holds it. The same name again returns that snapshot. A view with
  // ready=false means no majority within the timeout; the snapshot stays and
  // becomes ready as replicas get it.
  absl::StatusOr<SnapshotView> CreateSnapshot(const std::string& name);
  // Deletes it here and on every connected replica; the others drop it at
  // their next hello. OK when unknown.
  absl::Status DeleteSnapshot(const std::string& name);
  std::vector<SnapshotView> Snapshots();
  // NOT_FOUND when unknown.
  absl::StatusOr<SnapshotView> GetSnapshot(const std::string& name);
  // Grows the volume: INVALID_ARGUMENT when smaller, OK when equal. The new
  // size goes down the write stream ahead of any write past the old end.
  absl::Status Expand(uint64_t size_bytes);

 private:
  struct Peer;
  struct Pending;

  // --- IO path (primary_engine.cc) ---
  // Sequences, replicates and applies a write, trim, zero or flush. Returns the
  // sequence number when the request still needs a local fdatasync, else 0.
  uint64_t SubmitLocked(std::shared_ptr<IoRequest> req,
                        std::vector<std::shared_ptr<IoRequest>>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Read(std::shared_ptr<IoRequest> req);
  void ReplicateLocked(uint64_t seq, const IoRequest& req, uint64_t first_region,
                       uint64_t last_region) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FinishLocalSync(uint64_t seq, absl::Status s);
  void CompleteReadyLocked(std::vector<std::shared_ptr<IoRequest>>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Completes `seq` if it has its majority (the common case: one ack arrived).
  void CompleteIfReadyLocked(uint64_t seq, std::vector<std::shared_ptr<IoRequest>>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int AcksLocked(const Pending& p) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeActivateLocked(std::vector<std::shared_ptr<IoRequest>>* resubmit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FenceLocked(absl::Status reason, std::vector<std::shared_ptr<IoRequest>>* done)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void HousekeepingLoop();
  void TrimActivityLogLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Finish(std::vector<std::shared_ptr<IoRequest>>& done);

  // --- peers (primary_engine_peers.cc) ---
  void SyncPeersWithManifestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LinkLoop(Peer* peer);
  absl::StatusOr<int> Handshake(Peer* peer, HelloReply* reply);
  void ReceiveLoop(Peer* peer, int fd, uint64_t link_id);
  void ResyncLoop(Peer* peer, uint64_t link_id);
  absl::Status MarkByChecksumsLocked(Peer* peer, uint64_t link_id,
                                     std::unique_lock<std::mutex>& lock);
  void OnAck(Peer* peer, uint64_t link_id, const FrameHeader& h, std::string payload);
  absl::Status SendLocked(Peer& peer, FrameHeader h, const char* payload, size_t len)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // For a header whose payload length and checksum are already set: the
  // checksum of a write is computed once for all peers.
  absl::Status SendPreparedLocked(Peer& peer, const FrameHeader& h, const char* payload,
                                  size_t len) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PeerFailedLocked(Peer& peer, const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string HelloPayloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A control frame (at last_seq_) to every connected peer, in the stream
  // after what was sent before; a peer it fails on is marked failed.
  void SendToPeersLocked(FrameType type, const std::string& payload)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WaitOrStop(std::unique_lock<std::mutex>& lock, std::chrono::milliseconds d);

  // --- snapshots (primary_engine_snapshots.cc) ---
  // Reconciles the persisted registry with the local chain at start.
  absl::Status LoadSnapshotsLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the registry now (fdatasync under mu_), or, with `later`, leaves it
  // to the housekeeping thread, outside mu_, so that client IO does not wait
  // for it. Only what a crash may not lose (deletions) is written now: a lost
  // holder bit is corrected by the peer's next hello, a lost cut is adopted
  // from the chain at start.
  void SaveSnapshotsLocked(bool later = false) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteSnapshotRegistry(const std::string& text, uint64_t version);
  // A peer said at hello which snapshots it holds.
  void PeerSnapshotsLocked(Peer& peer, const std::vector<std::string>& held)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Handles the ack of a snapshot frame; false when `h` is none.
  bool OnSnapshotAckLocked(Peer& peer, const FrameHeader& h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After a peer's resync: sends it a full copy of each snapshot it lacks.
  void CopySnapshotsLocked(Peer* peer, uint64_t link_id, std::unique_lock<std::mutex>& lock);
  absl::Status CopySnapshotLocked(Peer* peer, uint64_t link_id, const SnapshotRecord& record,
                                  std::unique_lock<std::mutex>& lock);
  SnapshotView SnapshotViewLocked(const SnapshotEntry& e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int SnapshotHoldersLocked(const SnapshotEntry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Replica* const replica_;
  const EngineOptions opts_;
  ReplicaStore& store_;

  mutable std::mutex mu_;
  std::condition_variable cv_;  // wakes link, resync and housekeeping threads
  bool stopping_ = false;
  bool fenced_ = false;
  bool active_ = false;
  absl::Status fence_reason_;
  Manifest manifest_;  // the engine's copy; the replica's is persisted
  std::atomic<uint64_t> size_{0};
  uint64_t last_seq_ = 0;
  std::map<uint64_t, Pending> pending_;
  // Submitted before active_, with their deadlines.
  std::deque<std::pair<std::shared_ptr<IoRequest>, std::chrono::steady_clock::time_point>> held_;
  std::map<std::string, std::unique_ptr<Peer>> peers_;
  std::vector<std::unique_ptr<Peer>> retired_peers_;  // removed members, threads to join
  std::unique_ptr<DirtyBitmap> activity_;
  SnapshotRegistry snapshots_;
  uint64_t registry_version_ = 0;  // bumped per encoded registry
  bool registry_dirty_ = false;    // a change waits for the housekeeping thread
  // Serializes registry writes; a version older than the last written one is
  // dropped. Taken after mu_, or without it.
  std::mutex registry_write_mu_;
  uint64_t registry_written_ = 0;
  uint32_t next_slot_ = 0;
  std::thread housekeeping_;
};

}  // namespace syncblock::repl
