// snapshots/index.json: the list of a replica's snapshots, oldest first, with
// a `deleting` flag on layers being merged away. Format in
// replication/doc/replica_format.md ("Snapshots").
//
// Stateless functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/store/snapshot_chain.h"

namespace syncblock::repl {

inline constexpr int kSnapshotIndexVersion = 1;

struct SnapshotIndexEntry {
  SnapshotRecord record;
  bool deleting = false;
};

std::string SnapshotIndexToJson(const std::vector<SnapshotIndexEntry>& entries);
// DATA_LOSS for unparsable JSON; FAILED_PRECONDITION for a newer version.
absl::StatusOr<std::vector<SnapshotIndexEntry>> SnapshotIndexFromJson(const std::string& text);

}  // namespace syncblock::repl
