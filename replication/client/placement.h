// Chooses the storage nodes of a new volume's replicas: a pure function of the
// nodes' views, so it is tested without a cluster.
//
// Rules: only reachable nodes, in the allowed zones (if any), with at least
// `size_bytes` available qualify. Replicas spread across zones first
// (round-robin over zones), and within a zone the node with the most available
// bytes goes first. The first node returned, the primary, is the one with the
// most available bytes overall.
//
// Thread-safe: no state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::repl {

// Node ids, primary first. RESOURCE_EXHAUSTED naming how many nodes qualify
// when fewer than `replicas` do.
absl::StatusOr<std::vector<std::string>> PlaceReplicas(
    const std::vector<StorageNodeView>& nodes, int replicas, uint64_t size_bytes,
    const std::vector<std::string>& allowed_zones);

// The witness of a volume whose data is on `data_nodes` (replicas: 2 or 4;
// replication/doc/failover.md): a reachable node that holds none of its data,
// in a zone none of them is in when there is one, then the node with the
// fewest replicas. Nullopt when no node qualifies. It needs no space.
std::optional<std::string> PlaceWitness(const std::vector<StorageNodeView>& nodes,
                                        const std::vector<std::string>& data_nodes);

// Whether a volume of `replicas` data copies gets a witness: an even count
// (2 or 4), whose majority would otherwise need more than half the copies.
inline bool WantsWitness(int replicas) { return replicas % 2 == 0; }

}  // namespace syncblock::repl
