// The CSI Controller service over a syncblock storage cluster: create (also
// as a clone of a snapshot or volume), delete, publish, unpublish and expand
// volumes, validate capabilities, list volumes, report a volume's condition
// and the free capacity per zone, create, delete and list snapshots. It keeps
// no state: the CSI name, parameters, zones, content source and publications
// of each volume live in the volume's attributes on the storage nodes (keys in
// csi/csi_constants.h), and snapshots are named after their CSI name
// (csi/doc/controller.md). ControllerModifyVolume (MODIFY_VOLUME) changes the
// mutable parameters (mutable_parameters.h: replicas, QoS) of a volume in
// use. A volume is answered by CreateVolume only once its primary serves
// (volume_ready.h).
//
// Each RPC first checks its arguments and answers with the spec's code
// (behaviour modelled on csi-driver-host-path's controllerserver.go). One
// operation per volume at a time: a concurrent call on the same volume is
// ABORTED (InFlight).
//
// Thread-safe: gRPC calls it from many threads.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "csi/inflight.h"
#include "csi/node_directory.h"
#include "csi/proto/csi.grpc.pb.h"
#include "csi/storage_endpoints.h"

namespace syncblock::csi {

// Encryption at rest: gives the replicas of `view` (when encrypted) the key
// `secret` from a request's CSI secrets; OK with no secret. The secret is
// never logged (controller_create.cc).
absl::Status UnlockIfEncrypted(repl::StorageCluster& cluster, const repl::VolumeView& view,
                               const std::string& secret);

class ControllerService final : public ::csi::v1::Controller::Service {
 public:
  // `nodes` tells which node ids ControllerPublishVolume may name.
  ControllerService(std::shared_ptr<ClusterProvider> cluster, std::shared_ptr<NodeDirectory> nodes);

  grpc::Status CreateVolume(grpc::ServerContext* context,
                            const ::csi::v1::CreateVolumeRequest* request,
                            ::csi::v1::CreateVolumeResponse* response) override;
  grpc::Status DeleteVolume(grpc::ServerContext* context,
                            const ::csi::v1::DeleteVolumeRequest* request,
                            ::csi::v1::DeleteVolumeResponse* response) override;
  grpc::Status ControllerPublishVolume(
      grpc::ServerContext* context, const ::csi::v1::ControllerPublishVolumeRequest* request,
      ::csi::v1::ControllerPublishVolumeResponse* response) override;
  grpc::Status ControllerUnpublishVolume(
      grpc::ServerContext* context, const ::csi::v1::ControllerUnpublishVolumeRequest* request,
      ::csi::v1::ControllerUnpublishVolumeResponse* response) override;
  grpc::Status ValidateVolumeCapabilities(
      grpc::ServerContext* context, const ::csi::v1::ValidateVolumeCapabilitiesRequest* request,
      ::csi::v1::ValidateVolumeCapabilitiesResponse* response) override;
  grpc::Status ListVolumes(grpc::ServerContext* context,
                           const ::csi::v1::ListVolumesRequest* request,
                           ::csi::v1::ListVolumesResponse* response) override;
  grpc::Status ControllerGetVolume(grpc::ServerContext* context,
                                   const ::csi::v1::ControllerGetVolumeRequest* request,
                                   ::csi::v1::ControllerGetVolumeResponse* response) override;
  grpc::Status GetCapacity(grpc::ServerContext* context,
                           const ::csi::v1::GetCapacityRequest* request,
                           ::csi::v1::GetCapacityResponse* response) override;
  grpc::Status ControllerGetCapabilities(
      grpc::ServerContext* context, const ::csi::v1::ControllerGetCapabilitiesRequest* request,
      ::csi::v1::ControllerGetCapabilitiesResponse* response) override;
  grpc::Status CreateSnapshot(grpc::ServerContext* context,
                              const ::csi::v1::CreateSnapshotRequest* request,
                              ::csi::v1::CreateSnapshotResponse* response) override;
  grpc::Status DeleteSnapshot(grpc::ServerContext* context,
                              const ::csi::v1::DeleteSnapshotRequest* request,
                              ::csi::v1::DeleteSnapshotResponse* response) override;
  grpc::Status ListSnapshots(grpc::ServerContext* context,
                             const ::csi::v1::ListSnapshotsRequest* request,
                             ::csi::v1::ListSnapshotsResponse* response) override;
  grpc::Status GetSnapshot(grpc::ServerContext* context,
                           const ::csi::v1::GetSnapshotRequest* request,
                           ::csi::v1::GetSnapshotResponse* response) override;
  grpc::Status ControllerExpandVolume(grpc::ServerContext* context,
                                      const ::csi::v1::ControllerExpandVolumeRequest* request,
                                      ::csi::v1::ControllerExpandVolumeResponse* response) override;
  grpc::Status ControllerModifyVolume(grpc::ServerContext* context,
                                      const ::csi::v1::ControllerModifyVolumeRequest* request,
                                      ::csi::v1::ControllerModifyVolumeResponse* response) override;

 private:
  // `deadline`: when the CO stops waiting (volume_ready.h, CallDeadline).
  absl::Status DoCreate(const ::csi::v1::CreateVolumeRequest& req, absl::Time deadline,
                        ::csi::v1::CreateVolumeResponse* resp);
  absl::Status DoDelete(const ::csi::v1::DeleteVolumeRequest& req);
  absl::Status DoPublish(const ::csi::v1::ControllerPublishVolumeRequest& req,
                         ::csi::v1::ControllerPublishVolumeResponse* resp);
  absl::Status DoUnpublish(const ::csi::v1::ControllerUnpublishVolumeRequest& req);
  absl::Status DoValidate(const ::csi::v1::ValidateVolumeCapabilitiesRequest& req,
                          ::csi::v1::ValidateVolumeCapabilitiesResponse* resp);
  absl::Status DoList(const ::csi::v1::ListVolumesRequest& req,
                      ::csi::v1::ListVolumesResponse* resp);
  absl::Status DoGet(const ::csi::v1::ControllerGetVolumeRequest& req,
                     ::csi::v1::ControllerGetVolumeResponse* resp);
  absl::Status DoCapacity(const ::csi::v1::GetCapacityRequest& req,
                          ::csi::v1::GetCapacityResponse* resp);
  absl::Status DoCreateSnapshot(const ::csi::v1::CreateSnapshotRequest& req, absl::Time deadline,
                                ::csi::v1::CreateSnapshotResponse* resp);
  absl::Status DoDeleteSnapshot(const ::csi::v1::DeleteSnapshotRequest& req);
  absl::Status DoListSnapshots(const ::csi::v1::ListSnapshotsRequest& req,
                               ::csi::v1::ListSnapshotsResponse* resp);
  absl::Status DoGetSnapshot(const ::csi::v1::GetSnapshotRequest& req,
                             ::csi::v1::GetSnapshotResponse* resp);
  absl::Status DoExpand(const ::csi::v1::ControllerExpandVolumeRequest& req,
                        ::csi::v1::ControllerExpandVolumeResponse* resp);
  absl::Status DoModify(const ::csi::v1::ControllerModifyVolumeRequest& req);

  absl::StatusOr<std::shared_ptr<repl::StorageCluster>> Cluster();
  // After GetVolume said NOT_FOUND: OK only when every storage node answered,
  // since a replica on a node that did not may still exist (UNAVAILABLE then,
  // and the CO retries rather than forgetting the volume).
  static absl::Status ConfirmGone(repl::StorageCluster& cluster, const std::string& id);

  const std::shared_ptr<ClusterProvider> cluster_;
  const std::shared_ptr<NodeDirectory> nodes_;
  InFlight inflight_;
};

}  // namespace syncblock::csi
