// A replica's manifest: what each storage node stores next to a replica's data
// so that the storage nodes, not the controller, are the source of truth.
// JSON on disk (replication/doc/replica_format.md), written atomically.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/types/volume_types.h"  // MemberInfo, ValidVolumeId

namespace syncblock::repl {

// 2: snapshots (replication/doc/replica_format.md). A v1 replica loads as v2
// with no snapshots; its manifest is rewritten as v2 on the next save.
inline constexpr int kManifestFormatVersion = 2;
inline constexpr uint64_t kDefaultRegionSize = 64 * 1024;

struct Manifest {
  int format_version = kManifestFormatVersion;
  std::string volume_id;
  uint64_t size_bytes = 0;
  uint64_t region_size = kDefaultRegionSize;
  uint64_t epoch = 1;
  std::string primary_node_id;
  std::vector<MemberInfo> members;
  // Identity of this replica's data: equal generations mean the replicas were
  // made identical (created together, or a full copy finished).
  std::string data_generation;
  // On the primary: the generation each peer had when last known in sync.
  std::map<std::string, std::string> member_generations;
  // On the primary: peers whose content is unknown (after a promotion) and
  // must be compared by checksums before they count as in sync.
  std::set<std::string> checksum_resync;
  // False while this replica may be missing writes (until a resync finishes).
  bool consistent = true;
  // False while `primary_node_id` is only a candidate this replica voted for
  // (AcceptEpoch); true once that primary took the role (its hello, or this
  // node's own promotion completed). A node starts a primary engine only for
  // a confirmed role: a candidate whose promotion failed never serves.
  bool primary_confirmed = true;
  std::map<std::string, std::string> attributes;
  // The boot of the machine this replica last opened on. Another one at open
  // means the machine went down since: writes it acknowledged but never
  // synced may be gone, and its primary must compare it by checksums.
  std::string boot_id;
  // On the primary: when it took the role, and the last time the role moved
  // (wall clock, for people: `ctl volume show`), from which node and why.
  int64_t primary_since_unix_ms = 0;
  int64_t last_failover_unix_ms = 0;
  std::string last_failover_from;
  std::string last_failover_reason;
  // On a witness: the data replicas its volume's primary acknowledged writes
  // without, as that primary last recorded here. Such a replica is no
  // candidate, nor a promotion's source, until a primary resynced it
  // (failover.md, "Witness").
  std::set<std::string> outdated;

  uint64_t regions() const { return (size_bytes + region_size - 1) / region_size; }
  const MemberInfo* FindMember(const std::string& node_id) const;
  // `node_id` is a member that holds no data.
  bool IsWitness(const std::string& node_id) const;
  // `node_id` is an asynchronous member (counts in no quorum).
  bool IsAsync(const std::string& node_id) const;
  // The members that vote and acknowledge writes: all but the asynchronous.
  int VotingMembers() const;
  // Majority of the voting members: 1 of 1, 2 of 2, 2 of 3, 3 of 4, 3 of 5.
  int Quorum() const { return VotingMembers() / 2 + 1; }
};

std::string ManifestToJson(const Manifest& m);
// DATA_LOSS for unparsable JSON; FAILED_PRECONDITION for a newer format.
// An older format is upgraded (format_version becomes the current one).
absl::StatusOr<Manifest> ManifestFromJson(const std::string& json);

}  // namespace syncblock::repl
