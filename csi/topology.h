// CSI topology for syncblock: the one segment key topology.csi.syncblock.dev/zone
// (a storage node's --zone), the zones a CreateVolume request allows and
// prefers, and where the replicas of a new volume go under the zoneSpread and
// dataLocality parameters.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "csi/proto/csi.pb.h"
#include "csi/volume_parameters.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::csi {

struct ZoneRequirement {
  std::vector<std::string> allowed;    // requisite zones; empty: any
  std::vector<std::string> preferred;  // in the CO's order
};

// INVALID_ARGUMENT when a requisite or preferred topology lacks the zone key
// or names another key: we would not be able to honour it.
absl::StatusOr<ZoneRequirement> ZonesOf(const ::csi::v1::TopologyRequirement& req);

// Node ids for the replicas, primary first: repl::PlaceReplicas over the
// allowed zones; then with dataLocality the primary moves to the first
// preferred zone that holds a replica; with zoneSpread every replica must be
// in a different zone (RESOURCE_EXHAUSTED otherwise).
absl::StatusOr<std::vector<std::string>> PlaceVolume(
    const std::vector<repl::StorageNodeView>& nodes, const VolumeParameters& params,
    uint64_t size_bytes, const ZoneRequirement& zones);

// The distinct non-empty zones of `node_ids`, in order.
std::vector<std::string> ZonesOfNodes(const std::vector<repl::StorageNodeView>& nodes,
                                      const std::vector<std::string>& node_ids);

}  // namespace syncblock::csi
