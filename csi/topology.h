// CSI topology for syncblock: the segment keys topology.csi.syncblock.dev/zone
// (a storage node's --zone) and kubernetes.io/hostname (what a node plugin
// reports besides its zone), the zones a CreateVolume request allows and
// prefers, and where the replicas of a new volume go under the zoneSpread and
// dataLocality parameters. Every key NodeGetInfo reports is accepted back.
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
  std::vector<std::string> allowed;          // requisite zones; empty: any
  std::vector<std::string> preferred;        // in the CO's order
  std::vector<std::string> preferred_hosts;  // hostnames of preferred segments, in order
};

// A segment may hold the zone key, the hostname key or both. A hostname alone
// restricts nothing (every node reaches every volume of its zone over the
// network), so a requisite segment without a zone allows any zone.
// INVALID_ARGUMENT for any other key or an empty value: we would not be able
// to honour it.
absl::StatusOr<ZoneRequirement> ZonesOf(const ::csi::v1::TopologyRequirement& req);

// Node ids for the replicas, primary first: repl::PlaceReplicas over the
// allowed zones; then with dataLocality the primary moves to the first
// preferred host that holds a replica, else to the first preferred zone that
// does; with zoneSpread every replica must be
// in a different zone (RESOURCE_EXHAUSTED otherwise).
absl::StatusOr<std::vector<std::string>> PlaceVolume(
    const std::vector<repl::StorageNodeView>& nodes, const VolumeParameters& params,
    uint64_t size_bytes, const ZoneRequirement& zones);

// The distinct non-empty zones of `node_ids`, in order.
std::vector<std::string> ZonesOfNodes(const std::vector<repl::StorageNodeView>& nodes,
                                      const std::vector<std::string>& node_ids);

}  // namespace syncblock::csi
