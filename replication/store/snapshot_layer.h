// One snapshot's files under the replica's snapshots/ directory: `data`, a
// sparse file of the snapshot's size, and, for a copy-on-write layer,
// `preserved.bitmap` (DirtyBitmap format): the regions whose pre-overwrite
// contents this layer holds. A materialized snapshot (a full copy) has no
// bitmap. Format in replication/doc/replica_format.md ("Snapshots").
//
// Thread-safe: the bitmap is guarded by an internal mutex; data IO is
// positional. `record` and `deleting` belong to the owning chain, which
// guards them with its own mutex.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/store/dirty_bitmap.h"
#include "replication/store/snapshot_chain.h"

namespace syncblock::repl {

class SnapshotLayer {
 public:
  // Makes the directory, an empty sparse data file and (unless materialized)
  // an all-clear bitmap, all durable. A leftover directory is replaced.
  static absl::StatusOr<std::shared_ptr<SnapshotLayer>> Create(const std::string& dir,
                                                               const SnapshotRecord& record,
                                                               uint64_t region_size);
  // Opens the files of a layer listed in the index; DATA_LOSS when missing.
  static absl::StatusOr<std::shared_ptr<SnapshotLayer>> Open(const std::string& dir,
                                                             const SnapshotRecord& record,
                                                             uint64_t region_size);
  ~SnapshotLayer();
  SnapshotLayer(const SnapshotLayer&) = delete;
  SnapshotLayer& operator=(const SnapshotLayer&) = delete;

  const std::string& dir() const { return dir_; }
  int data_fd() const { return data_fd_; }
  // Regions covered by the snapshot's size (the last one may be partial).
  uint64_t regions() const { return regions_; }

  bool Preserved(uint64_t region) const;
  std::optional<uint64_t> NextPreserved(uint64_t from) const;
  uint64_t PreservedCount() const;
  // Sets [first, last] in the bitmap (page cache; SyncBitmap makes it durable).
  absl::Status MarkPreserved(uint64_t first, uint64_t last);
  absl::Status SyncBitmap();
  absl::Status SyncData();

  // Guarded by the owning chain's mutex.
  SnapshotRecord record;
  bool deleting = false;

 private:
  SnapshotLayer(std::string dir, int data_fd, uint64_t regions,
                std::unique_ptr<DirtyBitmap> bitmap);

  const std::string dir_;
  const int data_fd_;
  const uint64_t regions_;
  mutable std::mutex mu_;
  std::unique_ptr<DirtyBitmap> bitmap_;  // null when materialized
};

}  // namespace syncblock::repl
