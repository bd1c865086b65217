// How ControllerModifyVolume changes the size of a volume's replica set:
// which nodes get a new replica (a full copy from the primary, at the
// storage nodes' resync rate) and which replicas go, decided before anything
// changes so that an impossible request changes nothing.
//
// Growing picks reachable non-member nodes with room, spreading over zones
// (zones the volume does not use yet first, then the roomiest node); with
// zoneSpread each new replica must be in a zone of its own. Shrinking never
// removes the primary, removes the replicas in the worst state first (failed,
// offline, resyncing, then in sync), and is refused while the replicas left
// would not hold a majority of in-sync copies.
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::csi {

struct ReplicaPlan {
  std::vector<std::string> add;     // node ids
  std::vector<std::string> remove;  // node ids
};

// `target` in 1..5. RESOURCE_EXHAUSTED when too few nodes qualify to grow;
// UNAVAILABLE (retry once resync has caught up) when a shrink would leave no
// majority of in-sync copies.
absl::StatusOr<ReplicaPlan> PlanReplicaChange(const repl::VolumeView& volume,
                                              const std::vector<repl::StorageNodeView>& nodes,
                                              int target, bool zone_spread);

}  // namespace syncblock::csi
