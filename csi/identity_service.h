// The CSI Identity service: the driver's name and version, its plugin
// capabilities, and readiness (Probe answers ready=false while no storage node
// is reachable, so the sidecars and the kubelet wait instead of failing calls).
//
// Thread-safe: gRPC calls it from many threads; it holds no mutable state of
// its own (the ClusterProvider locks).
#pragma once

#include <memory>
#include <string>

#include "csi/proto/csi.grpc.pb.h"
#include "csi/storage_endpoints.h"

namespace syncblock::csi {

class IdentityService final : public ::csi::v1::Identity::Service {
 public:
  // `controller_services`: this process serves the services that go with the
  // controller, SnapshotMetadata and GroupController, and advertises
  // SNAPSHOT_METADATA_SERVICE and GROUP_CONTROLLER_SERVICE.
  IdentityService(std::string version, std::shared_ptr<ClusterProvider> cluster,
                  bool controller_services = false);

  grpc::Status GetPluginInfo(grpc::ServerContext* context,
                             const ::csi::v1::GetPluginInfoRequest* request,
                             ::csi::v1::GetPluginInfoResponse* response) override;
  grpc::Status GetPluginCapabilities(grpc::ServerContext* context,
                                     const ::csi::v1::GetPluginCapabilitiesRequest* request,
                                     ::csi::v1::GetPluginCapabilitiesResponse* response) override;
  grpc::Status Probe(grpc::ServerContext* context, const ::csi::v1::ProbeRequest* request,
                     ::csi::v1::ProbeResponse* response) override;

 private:
  const std::string version_;
  const std::shared_ptr<ClusterProvider> cluster_;
  const bool controller_services_;
};

}  // namespace syncblock::csi
