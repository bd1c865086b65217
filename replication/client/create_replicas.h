// Making the replicas of a new volume (a plain one or a clone): what the
// nodes offer, then the replicas on the nodes chosen, all or none.
//
// Thread-safety: a free function; the node clients it is given are
// thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/client/node_client.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::repl {

// What the storage nodes said of themselves when asked (GetNodeInfo on each):
// the views placement chooses from, and the client and answer of every node
// that answered, by node id.
struct NodeSurvey {
  std::map<std::string, std::pair<NodeClient*, control::NodeInfo>> infos;
  std::vector<StorageNodeView> views;
};
NodeSurvey SurveyNodes(
    std::vector<std::pair<NodeClient*, absl::StatusOr<control::NodeInfo>>> answers);

// Adds the witness `spec` asks for (replicas 2 or 4; failover.md, "Witness")
// to `req`'s members and its node to `secondaries`: spec.witness_node, or a
// node placement picks. None when no other node answers (logged).
// INVALID_ARGUMENT for a named witness that is unknown or holds data.
absl::Status AddWitness(const VolumeSpec& spec, const NodeSurvey& survey,
                        const std::vector<std::string>& chosen, control::CreateReplicaRequest* req,
                        std::vector<NodeClient*>* secondaries);

// Creates the secondaries' replicas at once with `secondary_req`, then, when
// they all are made, the primary's with `create_primary` (so that the primary
// finds its peers when it starts). On a failure it deletes what it made (the
// primary's replica too when `undo_primary` says a failed primary call may
// have left one) and returns the error prefixed with `what`, with any failed
// deletion appended.
absl::StatusOr<VolumeView> CreateReplicas(
    const std::string& volume_id, const std::vector<NodeClient*>& secondaries,
    const control::CreateReplicaRequest& secondary_req, NodeClient* primary,
    const std::function<absl::StatusOr<control::ReplicaStatus>()>& create_primary,
    bool undo_primary, const std::string& what);

}  // namespace syncblock::repl
