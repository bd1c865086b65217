// Group snapshots: one crash-consistent point across several volumes (a VM's
// disks, a database's data and log volumes). Used by the CSI GroupController
// and by `syncblock ctl snapshot group`.
//
// Consistency (replication/doc/snapshots.md, "Group snapshots"): new writes
// are held on every member's primary before any member is cut, then each
// member cuts an ordinary snapshot (the SNAPSHOT barrier), then the holds are
// released, also on any failure. A write acknowledged on A before a write is
// issued on B is therefore in A's snapshot whenever that B write is in B's.
// Every hold ends at its deadline on the storage node if this client dies;
// a hold that ended before the cuts were done fails the group (its members
// are deleted), since the point would not be common any more.
//
// Identity: no record of its own. A group BASE of N volumes is the N
// ordinary snapshots named "grp.N.BASE", one per volume; that name is the
// group id, and each member's id is VOLUME@grp.N.BASE. Fewer than N members
// is an interrupted create: Get does not report it, Create cuts it anew,
// Delete removes what there is.
//
// It logs nothing (ctl prints its answers on stdout); callers report.
//
// Thread-safe as the StorageCluster is; concurrent calls for one group must
// be serialized by the caller (the CSI controller's InFlight does).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::repl {

struct GroupSnapshotView {
  std::string id;                            // grp.N.BASE
  std::vector<ClusterSnapshotView> members;  // sorted by volume id
  int64_t creation_time_unix_ms = 0;         // the earliest member's
  bool ready_to_use = false;                 // every member is
  // Set when Create cut the group now (not when it found it): how long new
  // writes waited on the member that waited longest, and how many did.
  bool created = false;
  uint64_t hold_us = 0;
  uint64_t writes_held = 0;
};

// "grp.N.BASE"; ParseGroupSnapshotId gives N and BASE back, INVALID_ARGUMENT
// for anything else.
std::string GroupSnapshotId(const std::string& base, size_t members);
absl::StatusOr<std::pair<size_t, std::string>> ParseGroupSnapshotId(const std::string& id);
// The group a snapshot (by its name within the volume) belongs to; empty
// for an ordinary snapshot.
std::string GroupOfSnapshot(const std::string& snapshot_name);

class GroupSnapshots {
 public:
  // `max_hold`: how long writes may be held before the storage nodes end the
  // hold themselves.
  explicit GroupSnapshots(std::shared_ptr<StorageCluster> cluster,
                          std::chrono::milliseconds max_hold = std::chrono::seconds(10));

  // Idempotent by `base`: the existing group when it has the same volumes,
  // ALREADY_EXISTS when it has others. INVALID_ARGUMENT for a bad base, an
  // empty list or a volume named twice; NOT_FOUND for an unknown volume;
  // ABORTED when a hold ended before the cuts were done (retry).
  absl::StatusOr<GroupSnapshotView> Create(const std::string& base,
                                           std::vector<std::string> volume_ids);
  // NOT_FOUND unless every member of group `id` exists.
  absl::StatusOr<GroupSnapshotView> Get(const std::string& id);
  // Deletes every member; OK when there is none.
  absl::Status Delete(const std::string& id);

 private:
  // Every snapshot whose name is a group id with this base (any N).
  absl::StatusOr<std::vector<ClusterSnapshotView>> MembersOfBase(const std::string& base);
  absl::Status DeleteMembers(const std::vector<ClusterSnapshotView>& members);
  // Ends the holds; the answers in volume order.
  std::vector<absl::StatusOr<HoldReleaseView>> Release(const std::string& id,
                                                       const std::vector<std::string>& volumes);

  const std::shared_ptr<StorageCluster> cluster_;
  const std::chrono::milliseconds max_hold_;
};

}  // namespace syncblock::repl
