#include "replication/client/placement.h"

#include <algorithm>
#include <map>
#include <set>

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

std::optional<std::string> PlaceWitness(const std::vector<StorageNodeView>& nodes,
                                        const std::vector<std::string>& data_nodes) {
  auto holds_data = [&](const std::string& id) {
    return std::find(data_nodes.begin(), data_nodes.end(), id) != data_nodes.end();
  };
  std::set<std::string> data_zones;
  for (const auto& n : nodes) {
    if (holds_data(n.id)) data_zones.insert(n.zone);
  }
  const StorageNodeView* best = nullptr;
  auto better = [&](const StorageNodeView& a, const StorageNodeView& b) {
    bool a_apart = !data_zones.count(a.zone), b_apart = !data_zones.count(b.zone);
    if (a_apart != b_apart) return a_apart;
    if (a.replica_count != b.replica_count) return a.replica_count < b.replica_count;
    return a.id < b.id;
  };
  for (const auto& n : nodes) {
    if (!n.reachable || n.id.empty() || holds_data(n.id)) continue;
    if (!best || better(n, *best)) best = &n;
  }
  if (!best) return std::nullopt;
  return best->id;
}

}  // namespace syncblock::repl
