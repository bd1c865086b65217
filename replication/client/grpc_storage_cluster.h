// StorageCluster over the storage nodes' gRPC control services (the one
// implementation; StorageCluster::Connect returns it). The calls are split by
// theme over storage_cluster.cc (reads), storage_cluster_create.cc (create,
// delete), storage_cluster_clone.cc (volumes made from a snapshot or a
// volume), storage_cluster_members.cc (membership, promotion, resync, verify,
// attributes, expansion), storage_cluster_snapshots.cc (snapshots) and
// storage_cluster_remotes.cc (the list of remotes).
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
                     std::chrono::milliseconds rpc_timeout,
                     std::chrono::milliseconds connect_timeout,
                     std::shared_ptr<grpc::ChannelCredentials> credentials);

  absl::StatusOr<std::vector<StorageNodeView>> Nodes() override;
  absl::StatusOr<VolumeView> CreateVolume(const VolumeSpec& spec) override;
  absl::Status DeleteVolume(const std::string& id) override;
  absl::StatusOr<VolumeView> GetVolume(const std::string& id) override;
  absl::StatusOr<std::vector<VolumeView>> ListVolumes() override;
  absl::StatusOr<VolumeView> SetAttributes(const std::string& id,
                                           const std::map<std::string, std::string>& set,
                                           const std::vector<std::string>& remove) override;
  absl::StatusOr<VolumeView> SetAttributesIf(const std::string& id,
                                             const std::map<std::string, std::string>& expect,
                                             const std::map<std::string, std::string>& set,
                                             const std::vector<std::string>& remove) override;
  absl::StatusOr<VolumeView> AddReplica(const std::string& id, const std::string& node_id,
                                        bool async) override;
  absl::StatusOr<VolumeView> RemoveReplica(const std::string& id,
                                           const std::string& node_id) override;
  absl::StatusOr<VolumeView> MoveWitness(const std::string& id, const std::string& node_id,
                                         std::string* note) override;
  absl::StatusOr<VolumeView> Promote(const std::string& id, const std::string& node_id,
                                     const std::string& reason, PromoteLoss loss) override;
  absl::StatusOr<VolumeView> Resync(const std::string& id, const std::string& node_id,
                                    bool full) override;
  absl::StatusOr<VerifyReport> Verify(const std::string& id) override;
  absl::StatusOr<VolumeView> ExpandVolume(const std::string& id, uint64_t size_bytes) override;
  absl::StatusOr<ClusterSnapshotView> CreateSnapshot(const std::string& volume_id,
                                                     const std::string& name) override;
  absl::Status DeleteSnapshot(const std::string& snapshot_id) override;
  absl::StatusOr<ClusterSnapshotView> GetSnapshot(const std::string& snapshot_id) override;
  absl::StatusOr<std::vector<ClusterSnapshotView>> ListSnapshots(
      const std::string& volume_id) override;
  absl::StatusOr<SnapshotDiffView> DiffSnapshots(const std::string& from_snapshot_id,
                                                 const std::string& to_snapshot_id) override;
  absl::StatusOr<VerifyReport> VerifySnapshot(const std::string& snapshot_id) override;
  absl::StatusOr<SnapshotDiffView> AllocatedRegions(const std::string& snapshot_id) override;
  absl::Status HoldWrites(const std::string& volume_id, const std::string& hold_id,
                          std::chrono::milliseconds max_hold) override;
  absl::StatusOr<HoldReleaseView> ReleaseWrites(const std::string& volume_id,
                                                const std::string& hold_id) override;
  absl::StatusOr<UnlockReport> UnlockVolume(const std::string& id, const std::string& key) override;
  absl::StatusOr<RemoteView> PutRemote(const RemoteView& remote, bool deleted) override;
  absl::StatusOr<std::vector<RemoteView>> ListRemotes() override;

 private:
  // What the nodes said about one volume.
  struct VolumeState {
    std::vector<control::ReplicaStatus> answers;
    std::map<std::string, NodeClient*> by_node;      // node id -> the client that answered
    std::map<std::string, std::string> unreachable;  // address -> error
  };

  // Every node's replica of `id` (and members the configured list lacks).
  // NOT_FOUND when no node has it, UNAVAILABLE when no node answered.
  absl::StatusOr<VolumeState> FetchVolume(const std::string& id);
  // The newest member list, or INTERNAL when `state` is empty.
  static const control::ReplicaStatus& Newest(const VolumeState& state);
  // The answering, unfenced primary; UNAVAILABLE naming it when there is none.
  absl::StatusOr<NodeClient*> PrimaryOf(const std::string& id, const VolumeState& state);

  // The snapshots of one volume as its primary sees them (every member's
  // state); without a reachable primary, the union of what its replicas hold.
  absl::StatusOr<std::vector<control::SnapshotStatus>> VolumeSnapshots(const std::string& id,
                                                                       const VolumeState& state);
  // CreateVolume for a clone (spec.source_* set); storage_cluster_clone.cc.
  absl::StatusOr<VolumeView> CreateClone(const VolumeSpec& spec);
  absl::StatusOr<VolumeView> CreateCloneOfSnapshot(const VolumeSpec& spec,
                                                   const std::string& snapshot_id);

  NodeClient* ClientForAddress(const std::string& address);
  // By the answers in `state`, then ids learned from GetNodeInfo, then the
  // member list's address, then by asking every configured node who it is.
  absl::StatusOr<NodeClient*> ClientForNode(const std::string& node_id, const VolumeState* state);
  // GetNodeInfo on every configured node at once.
  std::vector<std::pair<NodeClient*, absl::StatusOr<control::NodeInfo>>> AskAllNodes();
  absl::StatusOr<control::Member> MemberOf(NodeClient* client);
  enum class JoinAs { kReplica, kAsyncReplica, kWitness };
  // Creates the replica of `current`'s volume on `node_id` (a witness, with
  // the record `outdated`, or an empty data replica) and has the primary
  // take it into the member list in place of `leaving` (empty: none). A
  // refused member change deletes the new replica; errors start with `what`.
  absl::Status JoinVolume(const VolumeState& state, NodeClient* primary,
                          const control::ReplicaStatus& current, const std::string& node_id,
                          const std::string& leaving, JoinAs as,
                          const std::vector<std::string>& outdated, const std::string& what);

  const std::chrono::milliseconds rpc_timeout_;
  const std::chrono::milliseconds connect_timeout_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;  // every node client's
  std::vector<NodeClient*> seeds_;  // the configured nodes, in the given order
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<NodeClient>> clients_;  // GUARDED_BY(mu_), by address
  std::map<std::string, std::string> address_of_id_;            // GUARDED_BY(mu_)
};

// The attribute that records what a clone was made from ("snapshot:V@S" or
// "volume:V"): CreateVolume again must name the same source to get it back.
inline constexpr char kAttrCloneSource[] = "clone.source";

// Errors of several nodes as one line: "a: x; b: y".
std::string JoinErrors(const std::map<std::string, std::string>& errors);
// A random 128-bit hex string for CreateReplicaRequest.data_generation.
std::string NewDataGeneration();
// The view of a replica's node as a Member of a volume.
control::Member MemberFromNodeInfo(const control::NodeInfo& info);

}  // namespace syncblock::repl
