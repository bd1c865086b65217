#include "csi/replica_plan.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace syncblock::csi {
namespace {

// Lower goes first when shrinking.
int RemovalRank(const std::string& state) {
  if (state == "failed") return 0;
  if (state == "offline") return 1;
  if (state == "resyncing") return 2;
  return 3;  // in_sync
}

std::string ZoneOf(const std::vector<repl::StorageNodeView>& nodes, const std::string& id) {
  for (const auto& n : nodes) {
    if (n.id == id) return n.zone;
  }
  return "";
}

absl::StatusOr<ReplicaPlan> PlanGrowth(const repl::VolumeView& volume,
                                       const std::vector<repl::StorageNodeView>& nodes, int count,
                                       bool zone_spread) {
  std::map<std::string, int> zone_use;
  std::set<std::string> members;
  for (const auto& r : volume.replicas) {
    members.insert(r.node);
    zone_use[ZoneOf(nodes, r.node)]++;
  }
  // The witness's node holds no data, but it is taken: a copy there would
  // leave the volume with one node fewer to survive.
  if (volume.witness) members.insert(volume.witness->node);
  std::vector<const repl::StorageNodeView*> candidates;
  for (const auto& n : nodes) {
    if (!n.reachable || n.id.empty() || members.count(n.id)) continue;
    if (n.available_bytes < volume.size_bytes) continue;
    candidates.push_back(&n);
  }
  ReplicaPlan plan;
  while (static_cast<int>(plan.add.size()) < count) {
    const repl::StorageNodeView* best = nullptr;
    for (const auto* c : candidates) {
      if (std::find(plan.add.begin(), plan.add.end(), c->id) != plan.add.end()) continue;
      if (zone_spread && zone_use[c->zone] > 0) continue;
      if (best == nullptr) {
        best = c;
        continue;
      }
      int cu = zone_use[c->zone], bu = zone_use[best->zone];
      if (cu != bu ? cu < bu
                   : (c->available_bytes != best->available_bytes
                          ? c->available_bytes > best->available_bytes
                          : c->id < best->id)) {
        best = c;
      }
    }
    if (best == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("volume ", volume.id, " has ", volume.replicas.size(),
                       " replica(s); growing to ", volume.replicas.size() + count, " needs ", count,
                       " more storage node(s) with ", volume.size_bytes, " bytes available",
                       zone_spread ? " in zones the volume does not use (zoneSpread)" : "",
                       ", but only ", plan.add.size(), " qualify"));
    }
    plan.add.push_back(best->id);
    zone_use[best->zone]++;
  }
  return plan;
}

absl::StatusOr<ReplicaPlan> PlanShrink(const repl::VolumeView& volume, int target) {
  std::vector<const repl::ReplicaView*> removable;
  for (const auto& r : volume.replicas) {
    if (r.node != volume.primary) removable.push_back(&r);
  }
  // Worst state first; among equals the last in the member list.
  std::stable_sort(removable.begin(), removable.end(), [](const auto* a, const auto* b) {
    return RemovalRank(a->state) < RemovalRank(b->state);
  });
  const size_t count = volume.replicas.size() - static_cast<size_t>(target);
  if (removable.size() < count) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", volume.id, " cannot shrink to ",
                                                      target, " replica(s) without its primary"));
  }
  ReplicaPlan plan;
  std::set<std::string> going;
  for (size_t i = 0; i < count; ++i) {
    plan.remove.push_back(removable[i]->node);
    going.insert(removable[i]->node);
  }
  int in_sync_left = 0;
  std::vector<std::string> lagging;
  for (const auto& r : volume.replicas) {
    if (going.count(r.node)) continue;
    if (r.state == "in_sync") {
      in_sync_left++;
    } else {
      lagging.push_back(absl::StrCat(r.node, " (", r.state, ")"));
    }
  }
  const int majority = target / 2 + 1;
  if (in_sync_left < majority) {
    return absl::UnavailableError(absl::StrCat(
        "volume ", volume.id, ": shrinking to ", target, " replica(s) would leave ", in_sync_left,
        " in-sync copy(ies), fewer than the majority of ", majority,
        "; retry once the other replicas are in sync (not yet: ", absl::StrJoin(lagging, ", "),
        ")"));
  }
  return plan;
}

}  // namespace

absl::StatusOr<ReplicaPlan> PlanReplicaChange(const repl::VolumeView& volume,
                                              const std::vector<repl::StorageNodeView>& nodes,
                                              int target, bool zone_spread) {
  const int current = static_cast<int>(volume.replicas.size());
  if (target == current) return ReplicaPlan{};
  if (target > current) return PlanGrowth(volume, nodes, target - current, zone_spread);
  return PlanShrink(volume, target);
}

}  // namespace syncblock::csi
