#include "csi/identity_service.h"

#include <utility>

#include "csi/csi_constants.h"

namespace syncblock::csi {

using ::csi::v1::PluginCapability;

IdentityService::IdentityService(std::string version, std::shared_ptr<ClusterProvider> cluster,
                                 bool controller_services)
    : version_(std::move(version)),
      cluster_(std::move(cluster)),
      controller_services_(controller_services) {}

grpc::Status IdentityService::GetPluginInfo(grpc::ServerContext*,
                                            const ::csi::v1::GetPluginInfoRequest*,
                                            ::csi::v1::GetPluginInfoResponse* response) {
  response->set_name(kDriverName);
  response->set_vendor_version(version_);
  return grpc::Status::OK;
}

grpc::Status IdentityService::GetPluginCapabilities(
    grpc::ServerContext*, const ::csi::v1::GetPluginCapabilitiesRequest*,
    ::csi::v1::GetPluginCapabilitiesResponse* response) {
  for (auto type : {PluginCapability::Service::CONTROLLER_SERVICE,
                    PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS}) {
    response->add_capabilities()->mutable_service()->set_type(type);
  }
  if (controller_services_) {
    response->add_capabilities()->mutable_service()->set_type(
        PluginCapability::Service::SNAPSHOT_METADATA_SERVICE);
    response->add_capabilities()->mutable_service()->set_type(
        PluginCapability::Service::GROUP_CONTROLLER_SERVICE);
  }
  // The volume grows while published: the primary grows it in the write
  // stream, and the node refreshes its device (NodeExpandVolume).
  response->add_capabilities()->mutable_volume_expansion()->set_type(
      PluginCapability::VolumeExpansion::ONLINE);
  return grpc::Status::OK;
}

grpc::Status IdentityService::Probe(grpc::ServerContext*, const ::csi::v1::ProbeRequest*,
                                    ::csi::v1::ProbeResponse* response) {
  bool ready = false;
  auto cluster = cluster_->Get();
  if (cluster.ok()) {
    auto nodes = (*cluster)->Nodes();
    if (nodes.ok()) {
      for (const auto& n : *nodes) ready = ready || n.reachable;
    }
  }
  // Not reachable yet is "still initializing", not an error: the spec keeps
  // error codes for a plugin that needs restarting.
  response->mutable_ready()->set_value(ready);
  return grpc::Status::OK;
}

}  // namespace syncblock::csi
