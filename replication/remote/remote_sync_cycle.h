// One cycle of a volume's snapshot-based sync to a remote cluster
// (replication/doc/remote_sync.md): snapshot the source, work out what the
// target lacks since the newest snapshot both hold, ship it, cut the same
// snapshot on the target, keep the newest N there. A transfer that stopped
// half-way is resumed from its last checkpoint by the next cycle; the target's
// newest snapshot is always a complete one, since it is cut only after the
// whole transfer is on the target and flushed.
//
// Thread-compatible: one cycle per volume at a time (the scheduler sees to it).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"
#include "replication/remote/range_shipper.h"
#include "replication/types/remote_sync_policy.h"

namespace syncblock::repl {

struct RemoteSyncEnv {
  StorageCluster* source = nullptr;  // this cluster
  StorageCluster* remote = nullptr;  // the remote's nodes
  absl::Status remote_error;         // why `remote` is null (an unknown remote)
  std::string remote_name;
  std::function<int64_t()> now_unix_ms;
  // The lease on the source volume (kAttrRemoteLease) this process took
  // before the cycle: its owner name, and the value held now (renewed at
  // each checkpoint, released at the end).
  std::string owner;
  std::string* lease = nullptr;
  std::chrono::milliseconds lease_ttl{120000};
  std::function<bool()> stopping = [] { return false; };
  ShipOptions ship;
  // How long a new target volume may take to serve.
  std::chrono::seconds target_ready_timeout{60};
};

// Runs one cycle of `volume_id`, whose declaration is `policy` and whose
// last status is `status`, under the lease `env.lease` holds; saves progress
// and the outcome into the source volume's status attribute as it goes
// (only while it holds the lease), releases the lease, and returns the
// cycle's record (ok or not: a failure is recorded in it, with the error,
// not returned).
RemoteCycle RunRemoteSyncCycle(const RemoteSyncEnv& env, const std::string& volume_id,
                               const RemoteSyncPolicy& policy, RemoteSyncStatus& status);

// The sync snapshots of a volume (name rs-<ms>) held ready, oldest first.
std::vector<ClusterSnapshotView> ReadySyncSnapshots(const std::vector<ClusterSnapshotView>& all);

// Reads a snapshot from the node that holds it, `source`'s primary for
// `volume_id` first: its control address from Nodes().
absl::StatusOr<ChunkReader> SnapshotReader(StorageCluster& cluster, const VolumeView& volume,
                                           const std::string& snapshot);

}  // namespace syncblock::repl
