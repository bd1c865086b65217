// Plain value types shared by the on-disk store (store/) and the replication
// wire format (wire/): a volume's members, a snapshot's record, and the rules
// for volume and snapshot names. Neither of those layers depends on the other;
// both depend on this header.
//
// Thread-compatible values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::repl {

// One replica's node, as the manifest and the replication hello carry it.
struct MemberInfo {
  std::string node_id;
  std::string control_address;
  std::string replication_address;
  std::string nbd_address;
  std::string zone;
  // A witness holds no data: it votes (epochs, the lease) and keeps the
  // record of which data replicas missed acknowledged writes
  // (replication/doc/failover.md, "Witness").
  bool witness = false;
  // An asynchronous replica: it takes the write stream in order but counts in
  // no quorum (replication/doc/async_replicas.md).
  bool async = false;
  bool operator==(const MemberInfo&) const = default;
};

// Member lists travel in replication hellos and manifest frames as JSON text:
// an array of {"node_id", "control", "replication", "nbd", "zone"} objects,
// with "witness": true on a witness (replication/doc/replica_format.md).
std::string MembersToJson(const std::vector<MemberInfo>& members);
// INVALID_ARGUMENT for malformed JSON or a member without a node_id.
absl::StatusOr<std::vector<MemberInfo>> MembersFromJson(const std::string& text);

// One snapshot of a replica (store/snapshot_chain.h keeps them; the kSnapshot
// frame carries them, wire/snapshot_record.h).
struct SnapshotRecord {
  std::string name;
  uint64_t size_bytes = 0;  // the live volume's size when cut
  uint64_t seq = 0;         // write-stream position it was cut at
  int64_t created_unix_ms = 0;
  bool materialized = false;  // a full copy, outside the chain
  bool complete = true;       // false while a materialized copy is being filled
};

// Volume IDs become directory names and NBD export names: 1-128 of
// [A-Za-z0-9._-], not starting with '.'.
bool ValidVolumeId(const std::string& id);
// Snapshot names become directory names: the same rule.
bool ValidSnapshotName(const std::string& name);

}  // namespace syncblock::repl
