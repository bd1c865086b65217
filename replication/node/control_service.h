// The gRPC StorageControl service of a storage node (replication/proto/
// control.proto), a thin adapter over StorageNode: it checks arguments, calls
// the node, and turns statuses into gRPC codes. Every RPC starts by checking
// that its caller may call it (control_authorization.h). Thread-safe.
#pragma once

#include "replication/node/control_authorization.h"
#include "replication/node/remote_registry.h"
#include "replication/node/storage_node.h"
#include "replication/proto/control.grpc.pb.h"

namespace syncblock::repl {

class ControlService final : public syncblock::control::v1::StorageControl::Service {
 public:
  // `check_callers`: refuse callers whose certificate's role may not call an
  // RPC (control_authorization.h); false on a plaintext (--insecure) server.
  ControlService(StorageNode* node, bool check_callers)
      : node_(node),
        authorizer_(check_callers),
        remotes_(node->options().data_dir + "/remotes.json") {}

  using Ctx = grpc::ServerContext;
  grpc::Status GetNodeInfo(Ctx*, const syncblock::control::v1::GetNodeInfoRequest* req,
                           syncblock::control::v1::NodeInfo* resp) override;
  grpc::Status CreateReplica(Ctx*, const syncblock::control::v1::CreateReplicaRequest* req,
                             syncblock::control::v1::ReplicaStatus* resp) override;
  grpc::Status DeleteReplica(Ctx*, const syncblock::control::v1::DeleteReplicaRequest* req,
                             syncblock::control::v1::DeleteReplicaResponse* resp) override;
  grpc::Status ListReplicas(Ctx*, const syncblock::control::v1::ListReplicasRequest* req,
                            syncblock::control::v1::ListReplicasResponse* resp) override;
  grpc::Status GetReplica(Ctx*, const syncblock::control::v1::GetReplicaRequest* req,
                          syncblock::control::v1::ReplicaStatus* resp) override;
  grpc::Status SetMembers(Ctx*, const syncblock::control::v1::SetMembersRequest* req,
                          syncblock::control::v1::ReplicaStatus* resp) override;
  grpc::Status SetAttributes(Ctx*, const syncblock::control::v1::SetAttributesRequest* req,
                             syncblock::control::v1::ReplicaStatus* resp) override;
  grpc::Status AcceptEpoch(Ctx*, const syncblock::control::v1::AcceptEpochRequest* req,
                           syncblock::control::v1::AcceptEpochResponse* resp) override;
  grpc::Status Promote(Ctx*, const syncblock::control::v1::PromoteRequest* req,
                       syncblock::control::v1::ReplicaStatus* resp) override;
  grpc::Status RegionChecksums(Ctx*, const syncblock::control::v1::RegionChecksumsRequest* req,
                               syncblock::control::v1::RegionChecksumsResponse* resp) override;
  grpc::Status ReadRegion(Ctx*, const syncblock::control::v1::ReadRegionRequest* req,
                          syncblock::control::v1::ReadRegionResponse* resp) override;
  grpc::Status Resync(Ctx*, const syncblock::control::v1::ResyncRequest* req,
                      syncblock::control::v1::ReplicaStatus* resp) override;

  // Growth and snapshots (control_service_snapshots.cc).
  grpc::Status ExpandVolume(Ctx*, const syncblock::control::v1::ExpandVolumeRequest* req,
                            syncblock::control::v1::ReplicaStatus* resp) override;
  grpc::Status HoldWrites(Ctx*, const syncblock::control::v1::HoldWritesRequest* req,
                          syncblock::control::v1::HoldWritesResponse* resp) override;
  grpc::Status ReleaseWrites(Ctx*, const syncblock::control::v1::ReleaseWritesRequest* req,
                             syncblock::control::v1::ReleaseWritesResponse* resp) override;
  grpc::Status UnlockVolume(Ctx*, const syncblock::control::v1::UnlockVolumeRequest* req,
                            syncblock::control::v1::UnlockVolumeResponse* resp) override;
  grpc::Status CreateSnapshot(Ctx*, const syncblock::control::v1::CreateSnapshotRequest* req,
                              syncblock::control::v1::SnapshotStatus* resp) override;
  grpc::Status DeleteSnapshot(Ctx*, const syncblock::control::v1::DeleteSnapshotRequest* req,
                              syncblock::control::v1::DeleteSnapshotResponse* resp) override;
  grpc::Status ListSnapshots(Ctx*, const syncblock::control::v1::ListSnapshotsRequest* req,
                             syncblock::control::v1::ListSnapshotsResponse* resp) override;
  grpc::Status SnapshotDiff(Ctx*, const syncblock::control::v1::SnapshotDiffRequest* req,
                            syncblock::control::v1::SnapshotDiffResponse* resp) override;
  grpc::Status SnapshotChecksums(Ctx*, const syncblock::control::v1::SnapshotChecksumsRequest* req,
                                 syncblock::control::v1::RegionChecksumsResponse* resp) override;
  grpc::Status ReadSnapshotRegion(Ctx*,
                                  const syncblock::control::v1::ReadSnapshotRegionRequest* req,
                                  syncblock::control::v1::ReadRegionResponse* resp) override;
  grpc::Status PutRemote(Ctx*, const syncblock::control::v1::PutRemoteRequest* req,
                         syncblock::control::v1::RemoteRecord* resp) override;
  grpc::Status ListRemotes(Ctx*, const syncblock::control::v1::ListRemotesRequest* req,
                           syncblock::control::v1::ListRemotesResponse* resp) override;

 private:
  StorageNode* node_;
  ControlAuthorizer authorizer_;
  RemoteRegistry remotes_;
};

}  // namespace syncblock::repl
