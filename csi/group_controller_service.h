// The CSI GroupController service: group snapshots
// (CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT), one crash-consistent point
// across several volumes, cut by repl::GroupSnapshots (hold every member's
// writes, cut each member, release). Like the Controller it keeps no state:
// a group is its member snapshots on the storage nodes, named after the CSI
// name, so a retried create finds what it made (csi/doc/controller.md).
//
// Each RPC first checks its arguments and answers with the spec's code; a
// concurrent call for the same group is ABORTED (InFlight).
//
// Thread-safe: gRPC calls it from many threads.
#pragma once

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "csi/inflight.h"
#include "csi/proto/csi.grpc.pb.h"
#include "csi/storage_endpoints.h"

namespace syncblock::csi {

class GroupControllerService final : public ::csi::v1::GroupController::Service {
 public:
  explicit GroupControllerService(std::shared_ptr<ClusterProvider> cluster);

  grpc::Status GroupControllerGetCapabilities(
      grpc::ServerContext* context, const ::csi::v1::GroupControllerGetCapabilitiesRequest* request,
      ::csi::v1::GroupControllerGetCapabilitiesResponse* response) override;
  grpc::Status CreateVolumeGroupSnapshot(
      grpc::ServerContext* context, const ::csi::v1::CreateVolumeGroupSnapshotRequest* request,
      ::csi::v1::CreateVolumeGroupSnapshotResponse* response) override;
  grpc::Status DeleteVolumeGroupSnapshot(
      grpc::ServerContext* context, const ::csi::v1::DeleteVolumeGroupSnapshotRequest* request,
      ::csi::v1::DeleteVolumeGroupSnapshotResponse* response) override;
  grpc::Status GetVolumeGroupSnapshot(grpc::ServerContext* context,
                                      const ::csi::v1::GetVolumeGroupSnapshotRequest* request,
                                      ::csi::v1::GetVolumeGroupSnapshotResponse* response) override;

 private:
  absl::Status DoCreate(const ::csi::v1::CreateVolumeGroupSnapshotRequest& req, absl::Time deadline,
                        ::csi::v1::CreateVolumeGroupSnapshotResponse* resp);
  absl::Status DoDelete(const ::csi::v1::DeleteVolumeGroupSnapshotRequest& req);
  absl::Status DoGet(const ::csi::v1::GetVolumeGroupSnapshotRequest& req,
                     ::csi::v1::GetVolumeGroupSnapshotResponse* resp);

  const std::shared_ptr<ClusterProvider> cluster_;
  InFlight inflight_;
};

}  // namespace syncblock::csi
