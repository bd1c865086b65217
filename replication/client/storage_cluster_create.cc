// GrpcStorageCluster: creating and deleting volumes.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "replication/client/create_replicas.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/client/parallel.h"
#include "replication/client/placement.h"
#include "replication/client/volume_view.h"
#include "replication/types/async_policy.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

namespace {

constexpr uint64_t kSizeGranule = 4096;
constexpr int kMaxReplicas = 5;

absl::Status ValidateSpec(const VolumeSpec& spec) {
  if (spec.id.empty()) return absl::InvalidArgumentError("volume id is empty");
  if (spec.replicas < 1 || spec.replicas > kMaxReplicas) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", spec.id, ": replicas must be 1..",
                                                   kMaxReplicas, ", got ", spec.replicas));
  }
  if (spec.async_replicas < 0 || spec.async_replicas >= spec.replicas) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume ", spec.id, ": asynchronous replicas must be 0..", spec.replicas - 1,
                     " (the primary is synchronous), got ", spec.async_replicas));
  }
  if (auto policy = AsyncPolicyFromAttributes(spec.attributes); !policy.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume ", spec.id, ": ", policy.status().message()));
  }
  if (spec.size_bytes == 0) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", spec.id, ": size is 0"));
  }
  if (spec.size_bytes % kSizeGranule != 0) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", spec.id, ": size ", spec.size_bytes,
                                                   " is not a multiple of ", kSizeGranule));
  }
  if (!spec.node_ids.empty()) {
    if (spec.node_ids.size() != static_cast<size_t>(spec.replicas)) {
      return absl::InvalidArgumentError(absl::StrCat("volume ", spec.id, ": ", spec.node_ids.size(),
                                                     " nodes given for ", spec.replicas,
                                                     " replicas"));
    }
    std::set<std::string> unique(spec.node_ids.begin(), spec.node_ids.end());
    if (unique.size() != spec.node_ids.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("volume ", spec.id, ": a node is named twice"));
    }
  }
  return absl::OkStatus();
}

// The caller's chosen nodes, checked like placement checks its own choice.
absl::Status CheckChosenNodes(const VolumeSpec& spec, const std::vector<StorageNodeView>& nodes) {
  for (const auto& id : spec.node_ids) {
    auto it = std::find_if(nodes.begin(), nodes.end(), [&](const auto& n) { return n.id == id; });
    if (it == nodes.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown storage node ", id));
    }
    if (it->available_bytes < spec.size_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat("storage node ", id, " has ",
                                                       it->available_bytes, " bytes available, ",
                                                       spec.size_bytes, " needed"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VolumeView> GrpcStorageCluster::CreateVolume(const VolumeSpec& spec) {
  RETURN_IF_ERROR(ValidateSpec(spec));
  if (!spec.source_snapshot_id.empty() || !spec.source_volume_id.empty()) return CreateClone(spec);
  auto existing = GetVolume(spec.id);
  if (existing.ok()) {
    // A clone is not what a request for an empty volume asked for.
    if (existing->size_bytes == spec.size_bytes &&
        existing->replicas.size() == static_cast<size_t>(spec.replicas) &&
        !existing->attributes.count(kAttrCloneSource)) {
      return existing;
    }
    return absl::AlreadyExistsError(
        absl::StrCat("volume ", spec.id, " already exists with size ", existing->size_bytes,
                     " and ", existing->replicas.size(), " replicas",
                     existing->attributes.count(kAttrCloneSource)
                         ? absl::StrCat(", cloned from ", existing->attributes.at(kAttrCloneSource))
                         : "",
                     " (asked: size ", spec.size_bytes, ", ", spec.replicas, " replicas)"));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();

  NodeSurvey survey = SurveyNodes(AskAllNodes());
  const auto& infos = survey.infos;
  const std::vector<StorageNodeView>& views = survey.views;
  std::vector<std::string> chosen = spec.node_ids;
  if (chosen.empty()) {
    ASSIGN_OR_RETURN(chosen,
                     PlaceReplicas(views, spec.replicas, spec.size_bytes, spec.allowed_zones));
  } else {
    RETURN_IF_ERROR(CheckChosenNodes(spec, views));
  }

  control::CreateReplicaRequest req;
  req.set_volume_id(spec.id);
  req.set_size_bytes(spec.size_bytes);
  req.set_primary_node_id(chosen.front());
  req.set_epoch(1);
  req.set_data_generation(NewDataGeneration());
  for (size_t i = 0; i < chosen.size(); ++i) {
    control::Member* m = req.add_members();
    *m = MemberFromNodeInfo(infos.at(chosen[i]).second);
    m->set_async(i + spec.async_replicas >= chosen.size());
  }
  for (const auto& [k, v] : spec.attributes) (*req.mutable_attributes())[k] = v;

  std::vector<NodeClient*> secondaries;
  for (auto it = chosen.begin() + 1; it != chosen.end(); ++it) {
    secondaries.push_back(infos.at(*it).first);
  }
  RETURN_IF_ERROR(AddWitness(spec, survey, chosen, &req, &secondaries));
  NodeClient* primary = infos.at(chosen.front()).first;
  return CreateReplicas(
      spec.id, secondaries, req, primary, [&] { return primary->CreateReplica(req); },
      /*undo_primary=*/false, absl::StrCat("creating volume ", spec.id));
}

absl::Status GrpcStorageCluster::DeleteVolume(const std::string& id) {
  if (id.empty()) return absl::InvalidArgumentError("volume id is empty");
  auto state = FetchVolume(id);
  if (absl::IsNotFound(state.status())) return absl::OkStatus();
  if (!state.ok()) return state.status();
  // Its snapshots read the volume's live data for every region not yet
  // overwritten since: they cannot outlive it.
  ASSIGN_OR_RETURN(auto snapshots, VolumeSnapshots(id, *state));
  if (!snapshots.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", id, " has ", snapshots.size(), " snapshot(s) (",
                     SnapshotId(id, snapshots.front().name()), snapshots.size() > 1 ? ", ..." : "",
                     "): delete them first"));
  }

  // Every member, and every node that has a replica even if no member list
  // names it (a leftover of an interrupted replica add).
  std::map<std::string, NodeClient*> targets;  // address -> client
  std::set<std::string> members;
  for (const auto& a : state->answers) {
    for (const auto& m : a.members()) members.insert(m.node_id());
  }
  for (const auto& [node, client] : state->by_node) targets[client->address()] = client;
  std::map<std::string, std::string> errors;
  for (const auto& node : members) {
    if (state->by_node.count(node)) continue;
    auto client = ClientForNode(node, &*state);
    if (!client.ok()) {
      errors[node] = absl::StrCat("member ", node, ": ", client.status().message());
      continue;
    }
    targets[(*client)->address()] = *client;
  }
  std::vector<NodeClient*> list;
  for (const auto& [address, client] : targets) list.push_back(client);
  auto results = ParallelMap(list.size(), [&](size_t i) { return list[i]->DeleteReplica(id); });
  for (size_t i = 0; i < list.size(); ++i) {
    if (!results[i].ok()) errors[list[i]->address()] = std::string(results[i].message());
  }
  if (!errors.empty()) {
    return absl::UnavailableError(
        absl::StrCat("volume ", id, " not deleted everywhere: ", JoinErrors(errors)));
  }
  return absl::OkStatus();
}

}  // namespace syncblock::repl
