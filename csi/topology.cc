#include "csi/topology.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "replication/client/placement.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

// One topology segment as the zone it names ("" when it names none). The keys
// are the ones NodeGetInfo reports: the zone and the node's hostname. A
// hostname constrains nothing: volumes are reached over the network from
// every node (of their zone, when the segment also names one).
absl::StatusOr<std::string> ZoneOf(const ::csi::v1::Topology& t) {
  for (const auto& [key, value] : t.segments()) {
    if (key != kTopologyZoneKey && key != kTopologyHostnameKey) {
      return absl::InvalidArgumentError(absl::StrCat("topology key '", key, "' is not known; use ",
                                                     kTopologyZoneKey, " or ",
                                                     kTopologyHostnameKey));
    }
    if (value.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("topology key ", key, " has an empty value"));
    }
  }
  auto it = t.segments().find(kTopologyZoneKey);
  return it == t.segments().end() ? std::string() : it->second;
}

std::string HostnameOf(const ::csi::v1::Topology& t) {
  auto it = t.segments().find(kTopologyHostnameKey);
  return it == t.segments().end() ? std::string() : it->second;
}

void AddUnique(std::vector<std::string>* v, const std::string& s) {
  if (std::find(v->begin(), v->end(), s) == v->end()) v->push_back(s);
}

}  // namespace

absl::StatusOr<ZoneRequirement> ZonesOf(const ::csi::v1::TopologyRequirement& req) {
  ZoneRequirement z;
  bool any_zone = false;  // a requisite segment without a zone allows every zone
  for (const auto& t : req.requisite()) {
    ASSIGN_OR_RETURN(std::string zone, ZoneOf(t));
    if (zone.empty()) {
      any_zone = true;
    } else {
      AddUnique(&z.allowed, zone);
    }
  }
  if (any_zone) z.allowed.clear();
  for (const auto& t : req.preferred()) {
    ASSIGN_OR_RETURN(std::string zone, ZoneOf(t));
    if (!zone.empty()) AddUnique(&z.preferred, zone);
    std::string host = HostnameOf(t);
    if (!host.empty()) AddUnique(&z.preferred_hosts, host);
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
    // The consuming node itself first (storage nodes are named after their
    // host), then its zone.
    for (const auto& host : zones.preferred_hosts) {
      auto it = std::find(placed->begin(), placed->end(), host);
      if (it != placed->end()) {
        std::iter_swap(placed->begin(), it);
        return placed;
      }
    }
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
