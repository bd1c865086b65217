// The client API of a set of storage nodes: what `syncblock ctl` and the CSI
// controller use to manage volumes. It keeps no state of its own; every answer
// comes from the storage nodes (each replica stores the volume's manifest).
//
// Thread-safe: calls may come from several threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace syncblock::repl {

struct StorageNodeView {
  std::string id;
  std::string zone;
  std::string control_address;
  std::string replication_address;
  std::string nbd_address;
  std::string metrics_address;
  uint64_t capacity_bytes = 0;
  uint64_t available_bytes = 0;
  uint32_t replica_count = 0;
  bool reachable = false;
  std::string error;  // why it is not reachable
};

struct VolumeSpec {
  std::string id;
  uint64_t size_bytes = 0;
  int replicas = 3;
  // Nodes to place the replicas on, first one primary. Empty: the cluster picks
  // by free capacity, spreading across zones.
  std::vector<std::string> node_ids;
  // Zones allowed (empty: any). Used for CSI accessibility requirements.
  std::vector<std::string> allowed_zones;
  std::map<std::string, std::string> attributes;
  // A clone: the new volume starts as a copy of this snapshot ("VOLUME@NAME")
  // or of this volume as it is now (through a temporary snapshot). At most one.
  // size_bytes must be at least the source's (OUT_OF_RANGE otherwise).
  std::string source_snapshot_id;
  std::string source_volume_id;
  // An even replica count (2, 4) gets a witness on another node, when one
  // answers (replication/doc/failover.md, "Witness"): `witness_node`, or one
  // placement picks.
  bool witness = true;
  std::string witness_node;
  // Of `replicas`, how many are asynchronous (replication/doc/async_replicas.md):
  // the last ones placed. Their lag bounds are the attributes kAttrMaxLagMs,
  // kAttrMaxLagBytes and kAttrLagPolicy. The primary is always synchronous.
  int async_replicas = 0;
};

// An asynchronous replica's lag as its primary reports it (ReplicaLag).
struct LagView {
  // The primary answered, or (`reported_unix_ms` set) the replica told what
  // its primary last reported to it, at that time.
  bool known = false;
  int64_t reported_unix_ms = 0;
  uint64_t bytes = 0;
  int64_t ms = 0;
  bool broken = false;
  int64_t broken_since_unix_ms = 0;
  uint64_t throttled_writes = 0;
};

struct ReplicaView {
  std::string node;
  // "in_sync" | "offline" | "resyncing" | "failed"
  std::string state;
  // An asynchronous replica (no quorum counts it) and its lag.
  bool async = false;
  LagView lag;
  uint64_t bytes_copied = 0;
  uint64_t bytes_total = 0;
  double rate_bytes_per_second = 0;
  double eta_seconds = 0;
  bool full_copy = false;
  std::string message;
};

struct VolumeView {
  std::string id;
  uint64_t size_bytes = 0;
  uint64_t epoch = 0;
  std::string primary;  // node id
  std::string nbd_uri;  // nbd://host:port/ID
  // The primary answered and a majority has accepted it: it takes IO,
  // snapshots and expansion now. False right after creation or a promotion.
  bool serving = false;
  // From the primary's answer (0 / empty when unknown): the time left of its
  // lease, since when it holds the role, and the last move of the role.
  int64_t lease_remaining_ms = 0;
  int64_t primary_since_unix_ms = 0;
  int64_t last_failover_unix_ms = 0;
  std::string last_failover_from;
  std::string last_failover_reason;
  // The copies of the data, primary first.
  std::vector<ReplicaView> replicas;
  // The volume's witness (no data; replication/doc/failover.md), and the
  // replicas it records as having missed acknowledged writes.
  std::optional<ReplicaView> witness;
  std::vector<std::string> witness_outdated;
  std::map<std::string, std::string> attributes;
  // Encrypted at rest (replication/doc/encryption.md), and the data replicas
  // that answered without holding its data key (to unlock).
  bool encrypted = false;
  std::vector<std::string> locked_on;
};

// What UnlockVolume did on each data replica.
struct UnlockReport {
  std::vector<std::string> unlocked;          // hold the data key now
  std::map<std::string, std::string> missed;  // node -> why it could not be asked
};

struct VerifyReport {
  bool identical = true;
  uint64_t region_size = 0;
  // Region indexes whose checksum differs between at least two replicas.
  std::vector<uint64_t> differing_regions;
  // Replicas that could not be read, with why.
  std::map<std::string, std::string> unreachable;
};

struct SnapshotReplicaView {
  std::string node;
  std::string state;  // "ready" | "pending" | "copying"
  uint64_t bytes_copied = 0;
  uint64_t bytes_total = 0;
};

// A snapshot as the storage cluster reports it (gathered from every replica).
// Not the engine's SnapshotView (engine/primary_engine.h), which is one
// primary's record: two types of one name in one namespace break the ODR
// (scripts/check_odr.py guards against that).
struct ClusterSnapshotView {
  std::string id;  // VOLUME@NAME
  std::string volume_id;
  std::string name;
  uint64_t size_bytes = 0;
  int64_t creation_time_unix_ms = 0;
  bool ready_to_use = false;  // held by a majority of the volume's replicas
  std::vector<SnapshotReplicaView> replicas;
};

// What a volume's primary said when a write hold ended (HoldWrites).
struct HoldReleaseView {
  bool found = false;  // the hold was still in place
  uint64_t held_us = 0;
  uint64_t writes_held = 0;
};

struct SnapshotDiffView {
  uint64_t region_size = 0;
  std::vector<uint64_t> changed_regions;  // ascending
  bool exact = true;                      // see SnapshotDiffResponse in control.proto
};

// Snapshot ids are "VOLUME@NAME": a snapshot is named within its volume, and
// its id alone finds it (CSI DeleteSnapshot carries nothing else).
std::string SnapshotId(const std::string& volume_id, const std::string& name);
// INVALID_ARGUMENT unless `id` is VOLUME@NAME with both parts non-empty.
absl::StatusOr<std::pair<std::string, std::string>> ParseSnapshotId(const std::string& id);

// Another syncblock cluster that volumes sync to (replication/doc/remote_sync.md).
struct RemoteView {
  std::string name;
  std::vector<std::string> storage_nodes;  // its control host:port
  std::string volume_prefix;               // target volumes: prefix + source id
  int64_t updated_unix_ms = 0;
  // Nodes of this cluster that did not take the record or do not hold it
  // (address -> why), so that the person knows the list is not everywhere.
  std::map<std::string, std::string> missing_on;
};

// Whether a promotion may lose acknowledged writes (`--accept-data-loss`).
enum class PromoteLoss { kRefuse, kAccept };

class StorageCluster {
 public:
  // `control_addresses`: host:port of each storage node's control service.
  // `credentials` null means the process's own (security::
  // ProcessChannelCredentials). Nodes are dialled in parallel where a call asks several; one that
  // does not connect within `connect_timeout` counts as unreachable (and costs that, not
  // `rpc_timeout`).
  static std::unique_ptr<StorageCluster> Connect(
      std::vector<std::string> control_addresses,
      std::chrono::milliseconds rpc_timeout = std::chrono::seconds(10),
      std::chrono::milliseconds connect_timeout = std::chrono::seconds(1),
      std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);
  virtual ~StorageCluster() = default;

  virtual absl::StatusOr<std::vector<StorageNodeView>> Nodes() = 0;

  // ALREADY_EXISTS when a volume with that id exists with another size or
  // replica count; the existing volume when it matches. RESOURCE_EXHAUSTED when
  // too few nodes have the space; INVALID_ARGUMENT for replicas outside 1..5.
  virtual absl::StatusOr<VolumeView> CreateVolume(const VolumeSpec& spec) = 0;
  // OK when the volume does not exist. FAILED_PRECONDITION while it has
  // snapshots: they are not independent of it (CSI's documented choice).
  virtual absl::Status DeleteVolume(const std::string& id) = 0;
  // NOT_FOUND when no node has it.
  virtual absl::StatusOr<VolumeView> GetVolume(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<VolumeView>> ListVolumes() = 0;

  virtual absl::StatusOr<VolumeView> SetAttributes(const std::string& id,
                                                   const std::map<std::string, std::string>& set,
                                                   const std::vector<std::string>& remove) = 0;
  // The same, made only if each key of `expect` has that value now ("":
  // absent): ABORTED otherwise, with nothing changed.
  virtual absl::StatusOr<VolumeView> SetAttributesIf(
      const std::string& id, const std::map<std::string, std::string>& expect,
      const std::map<std::string, std::string>& set, const std::vector<std::string>& remove) {
    (void)expect, (void)set, (void)remove;
    return absl::UnimplementedError(absl::StrCat("SetAttributesIf of ", id));
  }

  // `async`: an asynchronous replica (replication/doc/async_replicas.md).
  virtual absl::StatusOr<VolumeView> AddReplica(const std::string& id, const std::string& node_id,
                                                bool async) = 0;
  virtual absl::StatusOr<VolumeView> RemoveReplica(const std::string& id,
                                                   const std::string& node_id) = 0;
  // Makes `node_id` the volume's witness in place of the current one (or
  // the first one): the new witness starts with the primary's record of the
  // replicas not in sync, then the member list changes, then the old
  // witness's replica is deleted (a failure there is only reported in
  // `note`: a lost node's leftover is harmless and removed with the volume).
  // INVALID_ARGUMENT when the node holds the volume's data.
  virtual absl::StatusOr<VolumeView> MoveWitness(const std::string& id, const std::string& node_id,
                                                 std::string* note) = 0;
  // A planned move of the primary to `node_id`; `reason` is kept for
  // `volume show` ("ctl promote", "dataLocality: ..."). With
  // PromoteLoss::kAccept, for when no majority of the synchronous replicas is
  // left: the node takes the role with the data that answers, and the
  // members that did not answer leave the volume (async_replicas.md).
  virtual absl::StatusOr<VolumeView> Promote(const std::string& id, const std::string& node_id,
                                             const std::string& reason, PromoteLoss loss) = 0;
  virtual absl::StatusOr<VolumeView> Resync(const std::string& id, const std::string& node_id,
                                            bool full) = 0;
  virtual absl::StatusOr<VerifyReport> Verify(const std::string& id) = 0;

  // Online growth. INVALID_ARGUMENT when smaller than the volume; the same
  // size is OK.
  virtual absl::StatusOr<VolumeView> ExpandVolume(const std::string& id, uint64_t size_bytes) = 0;

  // NOT_FOUND for an unknown volume; idempotent by name (the existing snapshot).
  virtual absl::StatusOr<ClusterSnapshotView> CreateSnapshot(const std::string& volume_id,
                                                             const std::string& name) = 0;
  // OK when the snapshot or its volume does not exist.
  virtual absl::Status DeleteSnapshot(const std::string& snapshot_id) = 0;
  // NOT_FOUND when unknown.
  virtual absl::StatusOr<ClusterSnapshotView> GetSnapshot(const std::string& snapshot_id) = 0;
  // Every snapshot of `volume_id`, or of every volume when it is empty; sorted by id.
  virtual absl::StatusOr<std::vector<ClusterSnapshotView>> ListSnapshots(
      const std::string& volume_id) = 0;
  // Regions changed between two snapshots of one volume, or (`to_snapshot_id`
  // empty) between a snapshot and the live volume.
  virtual absl::StatusOr<SnapshotDiffView> DiffSnapshots(const std::string& from_snapshot_id,
                                                         const std::string& to_snapshot_id) = 0;
  // Compares the snapshot on every replica that holds it, region by region.
  virtual absl::StatusOr<VerifyReport> VerifySnapshot(const std::string& snapshot_id) = 0;
  // The regions of a snapshot that hold anything but zeros, found from the
  // per-region checksums of one replica that holds it ready (the primary's
  // first): every region left out reads as zeros. `exact` is false (found by
  // content, as a full copy's diff is). NOT_FOUND when unknown.
  virtual absl::StatusOr<SnapshotDiffView> AllocatedRegions(const std::string& snapshot_id) = 0;

  // Group snapshots (group_snapshots.h): new writes to the volume wait on its
  // primary, under hold `hold_id`, until ReleaseWrites or `max_hold`.
  virtual absl::Status HoldWrites(const std::string& volume_id, const std::string& hold_id,
                                  std::chrono::milliseconds max_hold) = 0;
  virtual absl::StatusOr<HoldReleaseView> ReleaseWrites(const std::string& volume_id,
                                                        const std::string& hold_id) = 0;

  // Encryption at rest: gives every data replica of volume `id` its secret
  // `key`, which each uses to unwrap the data key and keeps in memory only.
  // PERMISSION_DENIED (wrong key), INVALID_ARGUMENT (empty) or
  // FAILED_PRECONDITION (not encrypted) from the first replica that says so;
  // UNAVAILABLE when no replica could be asked. The key is never logged.
  virtual absl::StatusOr<UnlockReport> UnlockVolume(const std::string& id, const std::string& key) {
    (void)key;
    return absl::UnimplementedError(absl::StrCat("UnlockVolume of ", id));
  }

  // Remotes: every node keeps the list. PutRemote writes the record to every
  // node (with the time now, so it replaces older ones) and lists in
  // `missing_on` the nodes that did not take it; UNAVAILABLE when none did.
  // `deleted`: the remote is removed (OK when it was unknown).
  virtual absl::StatusOr<RemoteView> PutRemote(const RemoteView& remote, bool deleted) {
    (void)deleted;
    return absl::UnimplementedError(absl::StrCat("PutRemote of ", remote.name));
  }
  // The newest record of each name over the nodes that answer, deleted ones
  // left out; sorted by name. UNAVAILABLE when no node answers.
  virtual absl::StatusOr<std::vector<RemoteView>> ListRemotes() {
    return absl::UnimplementedError("ListRemotes");
  }
};

}  // namespace syncblock::repl
