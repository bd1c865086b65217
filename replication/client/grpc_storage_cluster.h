// StorageCluster over the storage nodes' gRPC control services (the one
// implementation; StorageCluster::Connect returns it). The calls are split by
// theme over storage_cluster.cc (reads), storage_cluster_create.cc (create,
// delete) and storage_cluster_members.cc (membership, promotion, resync,
// verify, attributes).
//
// Thread-safe: the node clients are; the learned-address maps are guarded.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "replication/client/node_client.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::repl {

class GrpcStorageCluster final : public StorageCluster {
 public:
  GrpcStorageCluster(std::vector<std::string> control_addresses,
                     std::chrono::milliseconds rpc_timeout);

  absl::StatusOr<std::vector<StorageNodeView>> Nodes() override;
  absl::StatusOr<VolumeView> CreateVolume(const VolumeSpec& spec) override;
  absl::Status DeleteVolume(const std::string& id) override;
  absl::StatusOr<VolumeView> GetVolume(const std::string& id) override;
  absl::StatusOr<std::vector<VolumeView>> ListVolumes() override;
  absl::StatusOr<VolumeView> SetAttributes(const std::string& id,
                                           const std::map<std::string, std::string>& set,
                                           const std::vector<std::string>& remove) override;
  absl::StatusOr<VolumeView> AddReplica(const std::string& id, const std::string& node_id) override;
  absl::StatusOr<VolumeView> RemoveReplica(const std::string& id,
                                           const std::string& node_id) override;
  absl::StatusOr<VolumeView> Promote(const std::string& id, const std::string& node_id) override;
  absl::StatusOr<VolumeView> Resync(const std::string& id, const std::string& node_id,
                                    bool full) override;
  absl::StatusOr<VerifyReport> Verify(const std::string& id) override;

 private:
  // What the nodes said about one volume.
  struct VolumeState {
    std::vector<control::ReplicaStatus> answers;
    std::map<std::string, NodeClient*> by_node;  // node id -> the client that answered
    std::map<std::string, std::string> unreachable;  // address -> error
  };

  // Every node's replica of `id` (and members the configured list lacks).
  // NOT_FOUND when no node has it, UNAVAILABLE when no node answered.
  absl::StatusOr<VolumeState> FetchVolume(const std::string& id);
  // The newest member list, or INTERNAL when `state` is empty.
  static const control::ReplicaStatus& Newest(const VolumeState& state);
  // The answering, unfenced primary; UNAVAILABLE naming it when there is none.
  absl::StatusOr<NodeClient*> PrimaryOf(const std::string& id, const VolumeState& state);

  NodeClient* ClientForAddress(const std::string& address);
  // By the answers in `state`, then ids learned from GetNodeInfo, then the
  // member list's address, then by asking every configured node who it is.
  absl::StatusOr<NodeClient*> ClientForNode(const std::string& node_id,
                                            const VolumeState* state);
  // GetNodeInfo on every configured node at once.
  std::vector<std::pair<NodeClient*, absl::StatusOr<control::NodeInfo>>> AskAllNodes();
  absl::StatusOr<control::Member> MemberOf(NodeClient* client);

  const std::chrono::milliseconds rpc_timeout_;
  std::vector<NodeClient*> seeds_;  // the configured nodes, in the given order
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<NodeClient>> clients_;  // GUARDED_BY(mu_), by address
  std::map<std::string, std::string> address_of_id_;            // GUARDED_BY(mu_)
};

// Errors of several nodes as one line: "a: x; b: y".
std::string JoinErrors(const std::map<std::string, std::string>& errors);
// A random 128-bit hex string for CreateReplicaRequest.data_generation.
std::string NewDataGeneration();
// The view of a replica's node as a Member of a volume.
control::Member MemberFromNodeInfo(const control::NodeInfo& info);

}  // namespace syncblock::repl
