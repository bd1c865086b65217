// A client of one storage node's control service (StorageControl): one gRPC
// channel, a deadline on every call, and errors that name the node and its
// address so that the person reading them knows which machine to look at.
//
// Thread-safe: the stub is thread-safe and the learned node id is guarded.
#pragma once

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "replication/proto/control.grpc.pb.h"

namespace syncblock::repl {

namespace control = ::syncblock::control::v1;

class NodeClient {
 public:
  // Every call first makes sure the channel is connected, waiting at most
  // `connect_timeout` (a node that is down or black-holed costs that, not the
  // RPC deadline); a node that could not be dialled fails further calls at
  // once for the next `connect_timeout`, then is dialled again.
  // `credentials` null means the process's (security::ProcessChannelCredentials).
  NodeClient(std::string address, std::chrono::milliseconds rpc_timeout,
             std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout,
             std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

  static constexpr std::chrono::milliseconds kDefaultConnectTimeout{1000};

  const std::string& address() const { return address_; }
  // "node-2 (127.0.0.1:7410)" once the id is known, the address before.
  std::string Name() const;
  // Remembers the node id for error messages (also learned from GetNodeInfo).
  void SetNodeId(const std::string& id);

  absl::StatusOr<control::NodeInfo> GetNodeInfo();
  absl::StatusOr<control::ReplicaStatus> CreateReplica(const control::CreateReplicaRequest& req);
  absl::Status DeleteReplica(const std::string& volume_id);
  absl::StatusOr<control::ListReplicasResponse> ListReplicas();
  absl::StatusOr<control::ReplicaStatus> GetReplica(const std::string& volume_id);
  absl::StatusOr<control::ReplicaStatus> SetMembers(const control::SetMembersRequest& req);
  absl::StatusOr<control::ReplicaStatus> SetAttributes(const control::SetAttributesRequest& req);
  absl::StatusOr<control::ReplicaStatus> Promote(const std::string& volume_id,
                                                 const std::string& reason, bool accept_data_loss);
  absl::StatusOr<control::RegionChecksumsResponse> RegionChecksums(const std::string& volume_id,
                                                                   uint64_t region_size);
  absl::StatusOr<control::ReplicaStatus> Resync(const control::ResyncRequest& req);
  // A clone's primary copies its source snapshot before it answers.
  absl::StatusOr<control::ReplicaStatus> CreateCloneReplica(
      const control::CreateReplicaRequest& req);
  absl::StatusOr<control::ReplicaStatus> ExpandVolume(const std::string& volume_id,
                                                      uint64_t size_bytes);

  // Snapshots.
  absl::StatusOr<control::SnapshotStatus> CreateSnapshot(const std::string& volume_id,
                                                         const std::string& name);
  absl::Status DeleteSnapshot(const std::string& volume_id, const std::string& name);
  absl::StatusOr<control::ListSnapshotsResponse> ListSnapshots(const std::string& volume_id);
  absl::StatusOr<control::SnapshotDiffResponse> SnapshotDiff(
      const control::SnapshotDiffRequest& req);
  absl::StatusOr<control::RegionChecksumsResponse> SnapshotChecksums(const std::string& volume_id,
                                                                     const std::string& name,
                                                                     uint64_t region_size);
  // Up to 4 MiB of a snapshot; the answer's CRC32C is checked here
  // (DATA_LOSS naming the node when the data does not match it).
  absl::StatusOr<std::string> ReadSnapshotRegion(const std::string& volume_id,
                                                 const std::string& name, uint64_t offset,
                                                 uint32_t length);
  // Remotes (remote_registry.h).
  absl::StatusOr<control::RemoteRecord> PutRemote(const control::RemoteRecord& record);
  absl::StatusOr<control::ListRemotesResponse> ListRemotes();
  // Group snapshots.
  absl::Status HoldWrites(const std::string& volume_id, const std::string& hold_id,
                          std::chrono::milliseconds max_hold);
  absl::StatusOr<control::ReleaseWritesResponse> ReleaseWrites(const std::string& volume_id,
                                                               const std::string& hold_id);
  // Sends the volume's secret (never logged).
  absl::StatusOr<control::UnlockVolumeResponse> UnlockVolume(const std::string& volume_id,
                                                             const std::string& key);

 private:
  // Why the channel failed to connect, from gRPC (": TLS handshake failed:
  // ..."), or "" when it is not in failure.
  std::string ConnectFailure();
  // Sets the deadline; `scale` lengthens it for calls that wait on peers.
  void Prepare(grpc::ClientContext* ctx, int scale = 1) const;
  absl::Status Convert(const grpc::Status& s, const char* rpc) const;
  // OK once the channel is connected; UNAVAILABLE naming the node otherwise.
  absl::Status Dial();

  const std::string address_;
  const std::chrono::milliseconds rpc_timeout_;
  const std::chrono::milliseconds connect_timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<control::StorageControl::Stub> stub_;
  mutable std::mutex mu_;
  std::string node_id_;                              // GUARDED_BY(mu_)
  std::chrono::steady_clock::time_point redial_at_;  // GUARDED_BY(mu_)
  absl::Status dial_error_;                          // GUARDED_BY(mu_)
};

}  // namespace syncblock::repl
