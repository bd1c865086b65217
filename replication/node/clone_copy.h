// Fills a clone's new replica from a snapshot on the same node: the first step
// of a volume made from a snapshot. Only data travels: ranges the snapshot
// holds as holes are skipped without reading, and blocks that read as zeros
// are not written, so the new replica stays sparse and the copy's time grows
// with the data the snapshot holds, not with the volume's size.
//
// Thread-compatible: the destination must not be in use by anyone else (it is
// a replica being made); the source chain is thread-safe.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "replication/store/replica_store.h"
#include "replication/store/snapshot_chain.h"

namespace syncblock::repl {

struct CloneCopyStats {
  uint64_t bytes_read = 0;     // read from the snapshot (not holes)
  uint64_t bytes_written = 0;  // written to the clone (not zeros)
};

// Copies [0, size_bytes) of snapshot `name` into `dest` at the same offsets.
absl::StatusOr<CloneCopyStats> CopySnapshotInto(SnapshotChain& source, const std::string& name,
                                                uint64_t size_bytes, ReplicaStore& dest);

}  // namespace syncblock::repl
