#include "replication/client/create_replicas.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/client/parallel.h"
#include "replication/client/placement.h"
#include "replication/client/volume_view.h"
#include "replication/util/logging.h"

namespace syncblock::repl {

NodeSurvey SurveyNodes(
    std::vector<std::pair<NodeClient*, absl::StatusOr<control::NodeInfo>>> answers) {
  NodeSurvey out;
  for (auto& [client, info] : answers) {
    StorageNodeView v;
    v.control_address = client->address();
    v.reachable = info.ok();
    if (info.ok()) {
      v.id = info->node_id();
      v.zone = info->zone();
      v.available_bytes = info->available_bytes();
      v.replica_count = info->replica_count();
      out.infos[v.id] = {client, *std::move(info)};
    }
    out.views.push_back(std::move(v));
  }
  return out;
}

absl::Status AddWitness(const VolumeSpec& spec, const NodeSurvey& survey,
                        const std::vector<std::string>& chosen, control::CreateReplicaRequest* req,
                        std::vector<NodeClient*>* secondaries) {
  // The witness breaks ties between synchronous replicas only.
  if (!spec.witness || !WantsWitness(spec.replicas - spec.async_replicas)) return absl::OkStatus();
  std::optional<std::string> witness = spec.witness_node;
  if (witness->empty()) witness = PlaceWitness(survey.views, chosen);
  if (!witness) {
    // A majority of an even count is more than half the copies: without a
    // witness, the loss of one of two stops IO.
    spdlog::warn(
        "volume {}: no other storage node answers to be its witness; the loss of one of its {} "
        "synchronous replicas stops its IO",
        spec.id, spec.replicas - spec.async_replicas);
    return absl::OkStatus();
  }
  auto info = survey.infos.find(*witness);
  if (info == survey.infos.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("witness node ", *witness, " is unknown or did not answer"));
  }
  if (std::find(chosen.begin(), chosen.end(), *witness) != chosen.end()) {
    return absl::InvalidArgumentError(absl::StrCat("node ", *witness, " holds a replica of ",
                                                   spec.id, ": the witness must be another node"));
  }
  control::Member* m = req->add_members();
  *m = MemberFromNodeInfo(info->second.second);
  m->set_witness(true);
  secondaries->push_back(info->second.first);
  return absl::OkStatus();
}

absl::StatusOr<VolumeView> CreateReplicas(
    const std::string& volume_id, const std::vector<NodeClient*>& secondaries,
    const control::CreateReplicaRequest& secondary_req, NodeClient* primary,
    const std::function<absl::StatusOr<control::ReplicaStatus>()>& create_primary,
    bool undo_primary, const std::string& what) {
  auto results = ParallelMap(
      secondaries.size(), [&](size_t i) { return secondaries[i]->CreateReplica(secondary_req); });
  std::vector<NodeClient*> created;
  std::vector<control::ReplicaStatus> answers;
  absl::Status failure;
  for (size_t i = 0; i < secondaries.size(); ++i) {
    if (results[i].ok()) {
      created.push_back(secondaries[i]);
      answers.push_back(std::move(*results[i]));
    } else if (failure.ok()) {
      failure = results[i].status();
    }
  }
  if (failure.ok()) {
    auto made = create_primary();
    if (made.ok()) {
      answers.push_back(std::move(*made));
    } else {
      failure = made.status();
      if (undo_primary) created.push_back(primary);
    }
  }
  if (!failure.ok()) {
    // Leave nothing half-made behind; a failed rollback is reported with it.
    std::string rollback;
    for (auto* c : created) {
      auto s = c->DeleteReplica(volume_id);
      if (!s.ok()) absl::StrAppend(&rollback, "; and could not undo: ", s.message());
    }
    return absl::Status(failure.code(), absl::StrCat(what, ": ", failure.message(), rollback));
  }
  return BuildVolumeView(answers);
}

}  // namespace syncblock::repl
