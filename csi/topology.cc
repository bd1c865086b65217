#include "csi/topology.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "replication/client/placement.h"

namespace syncblock::csi {
namespace {

absl::StatusOr<std::string> ZoneOf(const ::csi::v1::Topology& t) {
  for (const auto& [key, value] : t.segments()) {
    if (key != kTopologyZoneKey) {
      return absl::InvalidArgumentError(
          absl::StrCat("topology key '", key, "' is not known; use ", kTopologyZoneKey));
    }
  }
  auto it = t.segments().find(kTopologyZoneKey);
  if (it == t.segments().end() || it->second.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("topology lacks ", kTopologyZoneKey));
  }
  return it->second;
}

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

}  // namespace

absl::StatusOr<ZoneRequirement> ZonesOf(const ::csi::v1::TopologyRequirement& req) {
  ZoneRequirement z;
  for (const auto& t : req.requisite()) {
    auto zone = ZoneOf(t);
    if (!zone.ok()) return zone.status();
    AddUnique(&z.allowed, *zone);
  }
  for (const auto& t : req.preferred()) {
    auto zone = ZoneOf(t);
    if (!zone.ok()) return zone.status();
    AddUnique(&z.preferred, *zone);
  }
  return z;
}

absl::StatusOr<std::vector<std::string>> PlaceVolume(
    const std::vector<repl::StorageNodeView>& nodes, const VolumeParameters& params,
    uint64_t size_bytes, const ZoneRequirement& zones) {
  auto placed = repl::PlaceReplicas(nodes, params.replicas, size_bytes, zones.allowed);
  if (!placed.ok()) return placed.status();
  std::map<std::string, std::string> zone_of;
  for (const auto& n : nodes) zone_of[n.id] = n.zone;
  if (params.zone_spread) {
    std::set<std::string> distinct;
    for (const auto& id : *placed) distinct.insert(zone_of[id]);
    if (distinct.size() < placed->size()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("zoneSpread=true needs ", params.replicas,
                       " zones with room for the volume; the replicas would share zones (",
                       distinct.size(), " distinct)"));
    }
  }
  if (params.data_locality) {
    for (const auto& zone : zones.preferred) {
      auto it = std::find_if(placed->begin(), placed->end(),
                             [&](const std::string& id) { return zone_of[id] == zone; });
      if (it != placed->end()) {
        std::iter_swap(placed->begin(), it);
        break;
      }
    }
  }
  return placed;
}

std::vector<std::string> ZonesOfNodes(const std::vector<repl::StorageNodeView>& nodes,
                                      const std::vector<std::string>& node_ids) {
  std::vector<std::string> out;
  for (const auto& id : node_ids) {
    for (const auto& n : nodes) {
      if (n.id == id && !n.zone.empty()) AddUnique(&out, n.zone);
    }
  }
  return out;
}

}  // namespace syncblock::csi
