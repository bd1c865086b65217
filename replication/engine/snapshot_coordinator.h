// The primary's snapshot coordinator (replication/doc/snapshots.md): the
// snapshot barrier in the write stream, the registry of which members hold
// each snapshot, full copies of missed snapshots to peers that return, and
// deletion.
//
// A cut is a kBarrier of the WriteSequencer: every earlier write has applied
// here and no later one has, while the layer is made; its frame is reserved
// in the stream of every caught-up peer at that point and filled after the
// local cut, so every replica cuts at the same sequence number.
//
// Thread-safe. Its mutex is a leaf for the engine: no IO happens under it
// (registry writes are encoded under it and written outside it).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/engine/peer_link.h"
#include "replication/engine/snapshot_registry.h"
#include "replication/engine/write_sequencer.h"
#include "replication/store/manifest.h"
#include "replication/store/replica_store.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

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
  bool ready = false;                       // a majority of the members hold it
  std::vector<SnapshotMemberView> members;  // every member, this node included
};

using LinkList = std::vector<std::shared_ptr<PeerLink>>;

class SnapshotCoordinator {
 public:
  struct Context {
    std::string volume_id;
    std::string node_id;
    uint64_t epoch = 0;
    ReplicaStore* store = nullptr;
    WriteSequencer* sequencer = nullptr;
    std::chrono::milliseconds io_timeout{30000};
    uint64_t copy_rate = 0;  // bytes per second, 0: unlimited
    std::function<uint64_t()> size;
    std::function<LinkList()> links;  // the peers now
  };

  explicit SnapshotCoordinator(Context ctx) : ctx_(std::move(ctx)) {}

  // Reconciles the persisted registry with the local chain (at start).
  absl::Status Load(const Manifest& m) ABSL_LOCKS_EXCLUDED(mu_);
  void SetMembers(const Manifest& m) ABSL_LOCKS_EXCLUDED(mu_);
  // Wakes waiters for good (the engine stops or is fenced).
  void Stop(const absl::Status& why) ABSL_LOCKS_EXCLUDED(mu_);

  // Cuts `name` at the current point of the stream, here and on every
  // caught-up peer, and waits (up to the IO timeout) for a majority to hold
  // it. The same name again returns that snapshot; ready=false (UNAVAILABLE)
  // when no majority holds it in time: it becomes ready as replicas get it.
  absl::StatusOr<SnapshotView> Create(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  // Deletes it here and on every connected peer; the others drop it at their
  // next hello. OK when unknown.
  absl::Status Delete(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<SnapshotView> List() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<SnapshotView> Get(const std::string& name) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> Names() ABSL_LOCKS_EXCLUDED(mu_);

  // A peer said at hello which snapshots it holds.
  void PeerHolds(const std::string& node_id, const std::vector<std::string>& held)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A peer acknowledged a snapshot frame.
  void Acked(const std::string& node_id, const OutgoingFrame& sent) ABSL_LOCKS_EXCLUDED(mu_);
  // After a peer's resync: copies it each snapshot it lacks. Returns when
  // done or when the connection ends (ABORTED).
  absl::Status CatchUp(PeerLink& link, uint64_t session) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes the registry when it changed (the engine's housekeeping).
  void SaveIfChanged() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  SnapshotView ViewLocked(const SnapshotEntry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int HoldersLocked(const SnapshotEntry& e) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Encodes the registry; the caller writes it with Write() outside mu_.
  std::pair<std::string, uint64_t> EncodeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Write(const std::string& text, uint64_t version);
  absl::Status CutLocally(const std::string& name, uint64_t seq, SnapshotRecord* rec);
  absl::Status Copy(PeerLink& link, uint64_t session, const SnapshotRecord& record);
  // Queues a frame to one peer at the current point of the stream.
  bool SendTo(PeerLink& link, uint64_t session, FrameType type, uint64_t offset, uint32_t length,
              std::string payload, const std::string& snapshot);

  const Context ctx_;
  mutable Mutex mu_;
  CondVar changed_;
  SnapshotRegistry registry_ ABSL_GUARDED_BY(mu_);
  Manifest manifest_ ABSL_GUARDED_BY(mu_);  // members and quorum
  absl::Status stopped_ ABSL_GUARDED_BY(mu_);
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  struct Copying {
    std::string name;
    uint64_t copied = 0;
    uint64_t total = 0;
  };
  std::map<std::string, Copying> copying_ ABSL_GUARDED_BY(mu_);  // by node id
  // Serializes registry file writes; an older version than the one written
  // is dropped.
  Mutex write_mu_ ABSL_ACQUIRED_AFTER(mu_);
  uint64_t written_ ABSL_GUARDED_BY(write_mu_) = 0;
};

}  // namespace syncblock::repl
