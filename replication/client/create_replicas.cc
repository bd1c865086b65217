#include "replication/client/create_replicas.h"

#include "absl/strings/str_cat.h"
#include "replication/client/parallel.h"
#include "replication/client/volume_view.h"

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
      out.infos[v.id] = {client, *std::move(info)};
    }
    out.views.push_back(std::move(v));
  }
  return out;
}

absl::StatusOr<VolumeView> CreateReplicas(
    const std::string& volume_id, const std::vector<NodeClient*>& secondaries,
    const control::CreateReplicaRequest& secondary_req, NodeClient* primary,
    const std::function<absl::StatusOr<control::ReplicaStatus>()>& create_primary,
    bool undo_primary, const std::string& what) {
  auto results = ParallelMap(secondaries.size(), [&](size_t i) {
    return secondaries[i]->CreateReplica(secondary_req);
  });
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
