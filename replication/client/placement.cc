#include "replication/client/placement.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace syncblock::repl {

absl::StatusOr<std::vector<std::string>> PlaceReplicas(
    const std::vector<StorageNodeView>& nodes, int replicas, uint64_t size_bytes,
    const std::vector<std::string>& allowed_zones) {
  if (replicas < 1) return absl::InvalidArgumentError("replicas must be at least 1");
  std::vector<const StorageNodeView*> fit;
  for (const auto& n : nodes) {
    if (!n.reachable || n.id.empty() || n.available_bytes < size_bytes) continue;
    if (!allowed_zones.empty() &&
        std::find(allowed_zones.begin(), allowed_zones.end(), n.zone) == allowed_zones.end()) {
      continue;
    }
    fit.push_back(&n);
  }
  if (fit.size() < static_cast<size_t>(replicas)) {
    std::string where =
        allowed_zones.empty() ? "" : absl::StrCat(" in zones ", absl::StrJoin(allowed_zones, ","));
    return absl::ResourceExhaustedError(
        absl::StrCat("need ", replicas, " storage nodes with ", size_bytes, " bytes available",
                     where, ", but only ", fit.size(), " of ", nodes.size(), " qualify"));
  }
  auto more_space = [](const StorageNodeView* a, const StorageNodeView* b) {
    if (a->available_bytes != b->available_bytes) return a->available_bytes > b->available_bytes;
    return a->id < b->id;
  };
  std::map<std::string, std::vector<const StorageNodeView*>> by_zone;
  for (const auto* n : fit) by_zone[n->zone].push_back(n);
  std::vector<std::vector<const StorageNodeView*>*> zones;
  for (auto& [zone, members] : by_zone) {
    std::sort(members.begin(), members.end(), more_space);
    zones.push_back(&members);
  }
  // The zone holding the roomiest node leads each round, so the primary is the
  // roomiest node overall.
  std::sort(zones.begin(), zones.end(),
            [&](const auto* a, const auto* b) { return more_space(a->front(), b->front()); });
  std::vector<std::string> chosen;
  for (size_t round = 0; chosen.size() < static_cast<size_t>(replicas); ++round) {
    for (const auto* zone : zones) {
      if (round < zone->size() && chosen.size() < static_cast<size_t>(replicas)) {
        chosen.push_back((*zone)[round]->id);
      }
    }
  }
  return chosen;
}

}  // namespace syncblock::repl
