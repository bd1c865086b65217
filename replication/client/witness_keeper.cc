#include "replication/client/witness_keeper.h"

#include <algorithm>
#include <set>
#include <vector>

#include "replication/client/placement.h"
#include "replication/util/logging.h"

namespace syncblock::repl {

WitnessKeeper::WitnessKeeper(ClusterFn cluster, WitnessKeeperOptions opts)
    : cluster_(std::move(cluster)), opts_(opts) {}

int WitnessKeeper::RunOnce(std::chrono::steady_clock::time_point now) {
  auto cluster = cluster_();
  if (!cluster.ok()) return 0;
  auto volumes = (*cluster)->ListVolumes();
  if (!volumes.ok()) {
    spdlog::warn("witness keeper: listing volumes: {}", volumes.status().message());
    return 0;
  }
  std::set<std::string> seen;
  std::vector<const VolumeView*> due;
  for (const auto& v : *volumes) {
    if (!v.witness || v.witness->state != "offline") continue;
    seen.insert(v.id);
    auto [it, fresh] = offline_since_.try_emplace(v.id, now);
    if (now - it->second >= opts_.replace_after) due.push_back(&v);
  }
  std::erase_if(offline_since_, [&](const auto& e) { return !seen.count(e.first); });
  if (due.empty()) return 0;
  auto nodes = (*cluster)->Nodes();
  if (!nodes.ok()) return 0;
  int moved = 0;
  for (const VolumeView* v : due) {
    std::vector<std::string> taken{v->witness->node};
    for (const auto& r : v->replicas) taken.push_back(r.node);
    auto target = PlaceWitness(*nodes, taken);
    if (!target) {
      spdlog::warn("volume {}: its witness {} is offline and no other node is free to take over",
                   v->id, v->witness->node);
      continue;
    }
    std::string note;
    auto done = (*cluster)->MoveWitness(v->id, *target, &note);
    if (!done.ok()) {
      spdlog::warn("volume {}: moving its witness from {} to {}: {}", v->id, v->witness->node,
                   *target, done.status().message());
      continue;
    }
    spdlog::warn("volume {}: its witness {} was offline for {} s: moved to {}{}{}", v->id,
                 v->witness->node,
                 std::chrono::duration_cast<std::chrono::seconds>(opts_.replace_after).count(),
                 *target, note.empty() ? "" : "; ", note);
    offline_since_.erase(v->id);
    ++moved;
  }
  return moved;
}

}  // namespace syncblock::repl
