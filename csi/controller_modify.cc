// ControllerService: ControllerModifyVolume (MODIFY_VOLUME), the live change
// of a volume's mutable parameters (mutable_parameters.h) while it is in use.
//
// Everything is checked before anything changes: the parameters, the volume,
// its remote sync declaration and the new replica set (replica_plan.h). Then
// the QoS and remote sync attributes are set through the primary, which
// stores them in every replica's manifest and applies the QoS to its NBD
// export at once; then replicas are added (each gets
// a full copy) or removed, and an even count gets a witness, an odd one
// loses it. Each step is skipped when the volume already has
// what it asks, so a retried call finishes what an interrupted one started
// and a repeated one changes nothing.
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "csi/controller_service.h"
#include "csi/csi_constants.h"
#include "csi/mutable_parameters.h"
#include "csi/remote_parameters.h"
#include "csi/replica_plan.h"
#include "csi/status_mapping.h"
#include "replication/client/placement.h"
#include "replication/types/remote_sync_policy.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

// After the replica count changed: an even count gets a witness, an odd one
// drops it (replication/doc/failover.md, "Witness"). Skipped when already so.
absl::Status FitWitness(repl::StorageCluster& cluster, const std::string& id, int replicas) {
  ASSIGN_OR_RETURN(repl::VolumeView view, cluster.GetVolume(id));
  if (repl::WantsWitness(replicas) && !view.witness) {
    ASSIGN_OR_RETURN(auto nodes, cluster.Nodes());
    std::vector<std::string> data;
    for (const auto& r : view.replicas) data.push_back(r.node);
    auto node = repl::PlaceWitness(nodes, data);
    if (!node) return absl::OkStatus();  // as at creation: none free, IO needs every copy
    std::string note;
    return cluster.MoveWitness(id, *node, &note).status();
  }
  if (!repl::WantsWitness(replicas) && view.witness) {
    absl::Status s = cluster.RemoveReplica(id, view.witness->node).status();
    return absl::IsNotFound(s) ? absl::OkStatus() : s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ControllerService::DoModify(const ::csi::v1::ControllerModifyVolumeRequest& req) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.mutable_parameters().empty()) {
    return absl::InvalidArgumentError("mutable_parameters is required");
  }
  std::map<std::string, std::string> raw(req.mutable_parameters().begin(),
                                         req.mutable_parameters().end());
  ASSIGN_OR_RETURN(MutableParameters params, ParseMutableParameters(raw));

  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(req.volume_id()));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto view = cluster->GetVolume(req.volume_id());
  if (!view.ok()) return FromStorage(view.status());

  std::map<std::string, std::string> changed;
  if (!params.remote.empty()) {
    if (view->encrypted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "mutable parameter ", kParamRemote, ": an encrypted volume cannot sync to a remote"));
    }
    std::string prefix = repl::kDefaultRemotePrefix;
    if (params.remote.remote) {
      auto found = RemotePrefix(*cluster, "mutable parameter", *params.remote.remote);
      if (!found.ok()) {
        return found.status().code() == absl::StatusCode::kInvalidArgument
                   ? found.status()
                   : FromStorage(found.status());
      }
      prefix = *found;
    }
    ASSIGN_OR_RETURN(auto wanted,
                     RemoteSyncAttributesFor("mutable parameter", params.remote, req.volume_id(),
                                             view->attributes, prefix));
    for (const auto& [key, value] : wanted) {
      auto it = view->attributes.find(key);
      if (it == view->attributes.end() || it->second != value) changed[key] = value;
    }
  }

  ReplicaPlan plan;
  if (params.replicas) {
    auto nodes = cluster->Nodes();
    if (!nodes.ok()) return FromStorage(nodes.status());
    auto spread = view->attributes.find(absl::StrCat(kAttrParamPrefix, kParamZoneSpread));
    bool zone_spread = spread != view->attributes.end() && spread->second == "true";
    ASSIGN_OR_RETURN(plan, PlanReplicaChange(*view, *nodes, *params.replicas, zone_spread));
  }

  for (const auto& [key, value] : params.QosAttributes()) {
    auto it = view->attributes.find(key);
    if (it == view->attributes.end() || it->second != value) changed[key] = value;
  }
  if (!changed.empty()) {
    auto set = cluster->SetAttributes(req.volume_id(), changed, {});
    if (!set.ok()) return FromStorage(set.status());
  }
  for (const auto& node : plan.add) {
    auto added = cluster->AddReplica(req.volume_id(), node, /*async=*/false);
    if (!added.ok()) {
      return FromStorage(absl::Status(
          added.status().code(), absl::StrCat("adding a replica of volume ", req.volume_id(),
                                              " on node ", node, ": ", added.status().message())));
    }
  }
  for (const auto& node : plan.remove) {
    auto removed = cluster->RemoveReplica(req.volume_id(), node);
    // NOT_FOUND: gone already (a retry after a partial removal).
    if (!removed.ok() && removed.status().code() != absl::StatusCode::kNotFound) {
      return FromStorage(
          absl::Status(removed.status().code(),
                       absl::StrCat("removing the replica of volume ", req.volume_id(), " on node ",
                                    node, ": ", removed.status().message())));
    }
  }
  if (params.replicas) return FromStorage(FitWitness(*cluster, req.volume_id(), *params.replicas));
  return absl::OkStatus();
}

}  // namespace syncblock::csi
