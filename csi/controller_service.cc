// ControllerService: construction, the gRPC entry points and capabilities.
// The operations live in controller_create.cc, controller_publish.cc,
// controller_queries.cc, controller_snapshots.cc, controller_expand.cc and
// controller_modify.cc.
#include "csi/controller_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "csi/status_mapping.h"
#include "csi/volume_ready.h"
#include "replication/util/grpc_status.h"

namespace syncblock::csi {

using ::csi::v1::ControllerServiceCapability;

ControllerService::ControllerService(std::shared_ptr<ClusterProvider> cluster,
                                     std::shared_ptr<NodeDirectory> nodes)
    : cluster_(std::move(cluster)), nodes_(std::move(nodes)) {}

absl::StatusOr<std::shared_ptr<repl::StorageCluster>> ControllerService::Cluster() {
  return cluster_->Get();
}

absl::Status ControllerService::ConfirmGone(repl::StorageCluster& cluster, const std::string& id) {
  auto nodes = cluster.Nodes();
  if (!nodes.ok()) return FromStorage(nodes.status());
  std::vector<std::string> silent;
  for (const auto& n : *nodes) {
    if (!n.reachable) silent.push_back(n.id.empty() ? n.control_address : n.id);
  }
  if (silent.empty()) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("cannot confirm that volume ", id,
                                             " is gone: storage node(s) ",
                                             absl::StrJoin(silent, ", "), " did not answer"));
}

grpc::Status ControllerService::CreateVolume(grpc::ServerContext* context,
                                             const ::csi::v1::CreateVolumeRequest* request,
                                             ::csi::v1::CreateVolumeResponse* response) {
  return ToGrpcStatus(DoCreate(*request, CallDeadline(context->deadline()), response));
}

grpc::Status ControllerService::DeleteVolume(grpc::ServerContext*,
                                             const ::csi::v1::DeleteVolumeRequest* request,
                                             ::csi::v1::DeleteVolumeResponse*) {
  return ToGrpcStatus(DoDelete(*request));
}

grpc::Status ControllerService::ControllerPublishVolume(
    grpc::ServerContext*, const ::csi::v1::ControllerPublishVolumeRequest* request,
    ::csi::v1::ControllerPublishVolumeResponse* response) {
  return ToGrpcStatus(DoPublish(*request, response));
}

grpc::Status ControllerService::ControllerUnpublishVolume(
    grpc::ServerContext*, const ::csi::v1::ControllerUnpublishVolumeRequest* request,
    ::csi::v1::ControllerUnpublishVolumeResponse*) {
  return ToGrpcStatus(DoUnpublish(*request));
}

grpc::Status ControllerService::ValidateVolumeCapabilities(
    grpc::ServerContext*, const ::csi::v1::ValidateVolumeCapabilitiesRequest* request,
    ::csi::v1::ValidateVolumeCapabilitiesResponse* response) {
  return ToGrpcStatus(DoValidate(*request, response));
}

grpc::Status ControllerService::ListVolumes(grpc::ServerContext*,
                                            const ::csi::v1::ListVolumesRequest* request,
                                            ::csi::v1::ListVolumesResponse* response) {
  return ToGrpcStatus(DoList(*request, response));
}

grpc::Status ControllerService::ControllerGetVolume(
    grpc::ServerContext*, const ::csi::v1::ControllerGetVolumeRequest* request,
    ::csi::v1::ControllerGetVolumeResponse* response) {
  return ToGrpcStatus(DoGet(*request, response));
}

grpc::Status ControllerService::GetCapacity(grpc::ServerContext*,
                                            const ::csi::v1::GetCapacityRequest* request,
                                            ::csi::v1::GetCapacityResponse* response) {
  return ToGrpcStatus(DoCapacity(*request, response));
}

grpc::Status ControllerService::ControllerGetCapabilities(
    grpc::ServerContext*, const ::csi::v1::ControllerGetCapabilitiesRequest*,
    ::csi::v1::ControllerGetCapabilitiesResponse* response) {
  for (auto type : {ControllerServiceCapability::RPC::CREATE_DELETE_VOLUME,
                    ControllerServiceCapability::RPC::PUBLISH_UNPUBLISH_VOLUME,
                    ControllerServiceCapability::RPC::PUBLISH_READONLY,
                    ControllerServiceCapability::RPC::LIST_VOLUMES,
                    ControllerServiceCapability::RPC::GET_CAPACITY,
                    ControllerServiceCapability::RPC::LIST_VOLUMES_PUBLISHED_NODES,
                    ControllerServiceCapability::RPC::GET_VOLUME,
                    ControllerServiceCapability::RPC::VOLUME_CONDITION,
                    ControllerServiceCapability::RPC::SINGLE_NODE_MULTI_WRITER,
                    ControllerServiceCapability::RPC::CREATE_DELETE_SNAPSHOT,
                    ControllerServiceCapability::RPC::LIST_SNAPSHOTS,
                    ControllerServiceCapability::RPC::GET_SNAPSHOT,
                    ControllerServiceCapability::RPC::CLONE_VOLUME,
                    ControllerServiceCapability::RPC::EXPAND_VOLUME,
                    ControllerServiceCapability::RPC::MODIFY_VOLUME}) {
    response->add_capabilities()->mutable_rpc()->set_type(type);
  }
  return grpc::Status::OK;
}

grpc::Status ControllerService::CreateSnapshot(grpc::ServerContext* context,
                                               const ::csi::v1::CreateSnapshotRequest* request,
                                               ::csi::v1::CreateSnapshotResponse* response) {
  return ToGrpcStatus(DoCreateSnapshot(*request, CallDeadline(context->deadline()), response));
}

grpc::Status ControllerService::DeleteSnapshot(grpc::ServerContext*,
                                               const ::csi::v1::DeleteSnapshotRequest* request,
                                               ::csi::v1::DeleteSnapshotResponse*) {
  return ToGrpcStatus(DoDeleteSnapshot(*request));
}

grpc::Status ControllerService::GetSnapshot(grpc::ServerContext*,
                                            const ::csi::v1::GetSnapshotRequest* request,
                                            ::csi::v1::GetSnapshotResponse* response) {
  return ToGrpcStatus(DoGetSnapshot(*request, response));
}

grpc::Status ControllerService::ListSnapshots(grpc::ServerContext*,
                                              const ::csi::v1::ListSnapshotsRequest* request,
                                              ::csi::v1::ListSnapshotsResponse* response) {
  return ToGrpcStatus(DoListSnapshots(*request, response));
}

grpc::Status ControllerService::ControllerExpandVolume(
    grpc::ServerContext*, const ::csi::v1::ControllerExpandVolumeRequest* request,
    ::csi::v1::ControllerExpandVolumeResponse* response) {
  return ToGrpcStatus(DoExpand(*request, response));
}

grpc::Status ControllerService::ControllerModifyVolume(
    grpc::ServerContext*, const ::csi::v1::ControllerModifyVolumeRequest* request,
    ::csi::v1::ControllerModifyVolumeResponse*) {
  return ToGrpcStatus(DoModify(*request));
}

}  // namespace syncblock::csi
