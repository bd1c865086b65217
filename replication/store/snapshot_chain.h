// A replica's snapshots: copy-on-write layers beside the live data file.
// Format and rules in replication/doc/replica_format.md ("Snapshots").
//
// The live data stays where it is (ReplicaStore's `data`). A snapshot is a
// layer: a sparse file plus a bitmap of the regions preserved in it. Before a
// region of the live data is first overwritten (write, trim, zero, resync)
// after the newest snapshot was cut, its old contents are copied into that
// newest layer. Reading snapshot S at region r takes the first layer, from S
// towards the newest, that preserved r, else the live data. So cutting a
// snapshot costs an empty file and a bitmap, whatever the volume's size.
//
// A replica that was away when a snapshot was cut holds it instead as a full
// copy ("materialized"), filled from the primary; it is outside the chain.
//
// Thread-safe. Preserve-then-overwrite of a region and reads of a snapshot at
// that region exclude each other (striped region locks), so a reader never
// sees a half-preserved region. Deleting a layer merges what older snapshots
// still need into the next older layer, in the background.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/types/volume_types.h"  // SnapshotRecord

namespace syncblock::repl {

class ReplicaStore;

struct ChangedRegions {
  uint64_t region_size = 0;
  std::vector<uint64_t> regions;  // ascending
  bool exact = true;              // false: found by comparing contents
};

class SnapshotChain {
 public:
  virtual ~SnapshotChain() = default;

  // Cuts a snapshot of the live data as it is now. ALREADY_EXISTS for a name
  // in use (callers that want idempotence check List first).
  virtual absl::Status Create(const SnapshotRecord& record) = 0;

  // A snapshot this replica missed: an empty full copy (record.materialized
  // and !record.complete), filled with WriteMaterialized, then Complete.
  virtual absl::Status CreateMaterialized(const SnapshotRecord& record) = 0;
  virtual absl::Status WriteMaterialized(const std::string& name, uint64_t offset, const char* data,
                                         size_t len) = 0;
  virtual absl::Status CompleteMaterialized(const std::string& name) = 0;

  // Removes it now from List and reads; the space is freed in the background.
  // OK when unknown.
  virtual absl::Status Delete(const std::string& name) = 0;

  virtual std::vector<SnapshotRecord> List() const = 0;
  // NOT_FOUND when unknown or being deleted.
  virtual absl::StatusOr<SnapshotRecord> Get(const std::string& name) const = 0;

  // NOT_FOUND, OUT_OF_RANGE past the snapshot's size, FAILED_PRECONDITION for
  // an incomplete copy.
  virtual absl::Status Read(const std::string& name, uint64_t offset, char* data, size_t len) = 0;
  virtual absl::StatusOr<uint32_t> Checksum(const std::string& name, uint64_t offset,
                                            uint64_t len) = 0;
  // True when [offset, offset+len) of the snapshot reads as unallocated zeros
  // without reading it (sparse copies skip such ranges).
  virtual bool IsHole(const std::string& name, uint64_t offset, uint64_t len) = 0;

  // Regions that may differ between snapshot `from` and snapshot `to` (empty:
  // the live volume); `from` must be the older one (INVALID_ARGUMENT otherwise).
  virtual absl::StatusOr<ChangedRegions> Changed(const std::string& from,
                                                 const std::string& to) = 0;
};

}  // namespace syncblock::repl
