#include "csi/primary_placer.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "csi/publications.h"
#include "replication/util/logging.h"

namespace syncblock::csi {

std::optional<std::string> PrimaryHome(const repl::VolumeView& v) {
  auto locality = v.attributes.find(absl::StrCat(kAttrParamPrefix, kParamDataLocality));
  if (locality == v.attributes.end() || locality->second != "true" || !v.serving) {
    return std::nullopt;
  }
  for (const auto& r : v.replicas) {
    if (r.state != "in_sync") return std::nullopt;
  }
  auto holds_data = [&](const std::string& node) {
    return std::any_of(v.replicas.begin(), v.replicas.end(),
                       [&](const auto& r) { return r.node == node; });
  };
  std::optional<std::string> home;
  for (const Publication& p : PublicationsFromAttributes(v.attributes)) {
    if (!holds_data(p.node_id)) continue;
    if (!p.readonly) {
      home = p.node_id;
      break;
    }
    if (!home) home = p.node_id;
  }
  if (!home || *home == v.primary) return std::nullopt;
  return home;
}

PrimaryPlacer::PrimaryPlacer(ClusterFn cluster) : cluster_(std::move(cluster)) {}

int PrimaryPlacer::RunOnce() {
  auto cluster = cluster_();
  if (!cluster.ok()) return 0;
  auto volumes = (*cluster)->ListVolumes();
  if (!volumes.ok()) return 0;
  std::map<std::string, std::string> next;
  int moved = 0;
  for (const auto& v : *volumes) {
    auto home = PrimaryHome(v);
    if (!home) continue;
    auto seen = pending_.find(v.id);
    if (seen == pending_.end() || seen->second != *home) {
      next[v.id] = *home;
      continue;
    }
    const std::string reason =
        absl::StrCat("dataLocality: back to its consumer ", *home, ", all replicas in sync");
    auto done = (*cluster)->Promote(v.id, *home, reason, repl::PromoteLoss::kRefuse);
    if (!done.ok()) {
      spdlog::warn("volume {}: moving its primary from {} to {}: {}", v.id, v.primary, *home,
                   done.status().message());
      next[v.id] = *home;  // tried again next pass
      continue;
    }
    spdlog::info("volume {}: primary moved from {} to {} ({})", v.id, v.primary, *home, reason);
    ++moved;
  }
  pending_ = std::move(next);
  return moved;
}

}  // namespace syncblock::csi
