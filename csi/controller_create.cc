// ControllerService: CreateVolume and DeleteVolume.
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "csi/controller_service.h"
#include "csi/csi_constants.h"
#include "csi/publications.h"
#include "csi/status_mapping.h"
#include "csi/topology.h"
#include "csi/volume_capabilities.h"
#include "csi/volume_parameters.h"
#include "csi/volume_view_csi.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

// The smallest filesystem mkfs.xfs makes.
constexpr int64_t kMinXfsVolumeSize = 300ll << 20;

// OK when `existing` is what this request would have created; ALREADY_EXISTS
// naming the first difference otherwise.
absl::Status CheckCompatible(const repl::VolumeView& existing, const std::string& name,
                             const ::csi::v1::CapacityRange& range,
                             const VolumeParameters& params) {
  auto stored_name = existing.attributes.find(kAttrName);
  if (stored_name == existing.attributes.end()) {
    return absl::AlreadyExistsError(absl::StrCat("volume ", existing.id,
                                                 " exists but was not created through CSI (no ",
                                                 kAttrName, " attribute)"));
  }
  if (stored_name->second != name) {
    return absl::AlreadyExistsError(absl::StrCat(
        "volume ID ", existing.id, " is taken by CSI name '", stored_name->second, "'"));
  }
  int64_t size = static_cast<int64_t>(existing.size_bytes);
  if (!CapacityFits(size, range.required_bytes(), range.limit_bytes())) {
    return absl::AlreadyExistsError(absl::StrCat(
        "volume '", name, "' exists with ", size, " bytes, outside the requested range [",
        range.required_bytes(), ", ", range.limit_bytes(), "]"));
  }
  auto stored = StoredParameters(existing);
  for (const auto& [key, value] : params.ToMap()) {
    auto it = stored.find(key);
    if (it == stored.end() || it->second != value) {
      return absl::AlreadyExistsError(absl::StrCat(
          "volume '", name, "' exists with ", key, "=",
          it == stored.end() ? std::string("(unset)") : it->second, ", requested ", value));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ControllerService::DoCreate(const ::csi::v1::CreateVolumeRequest& req,
                                         ::csi::v1::CreateVolumeResponse* resp) {
  RETURN_IF_ERROR(ValidateVolumeName(req.name()));
  RETURN_IF_ERROR(ValidateCapabilities(req.volume_capabilities()));
  if (req.has_volume_content_source()) {
    return absl::InvalidArgumentError("snapshots and clones are not supported yet");
  }
  if (!req.mutable_parameters().empty()) {
    return absl::InvalidArgumentError("mutable_parameters are not supported (no MODIFY_VOLUME)");
  }
  std::map<std::string, std::string> raw(req.parameters().begin(), req.parameters().end());
  ASSIGN_OR_RETURN(VolumeParameters params,
                   ParseVolumeParameters(raw, MountFsType(req.volume_capabilities())));
  ASSIGN_OR_RETURN(int64_t size, ResolveCapacity(req.capacity_range().required_bytes(),
                                                 req.capacity_range().limit_bytes()));
  bool has_mount = false;
  for (const auto& cap : req.volume_capabilities()) has_mount |= cap.has_mount();
  if (has_mount && params.fs_type == "xfs" && size < kMinXfsVolumeSize) {
    // mkfs.xfs refuses smaller devices: give the smallest it takes when the
    // range allows, rather than a volume that can never be staged.
    int64_t limit = req.capacity_range().limit_bytes();
    if (limit > 0 && limit < kMinXfsVolumeSize) {
      return absl::OutOfRangeError(absl::StrCat(
          "an xfs volume needs at least ", kMinXfsVolumeSize, " bytes; limit_bytes=", limit));
    }
    size = kMinXfsVolumeSize;
  }
  ZoneRequirement zones;
  if (req.has_accessibility_requirements()) {
    ASSIGN_OR_RETURN(zones, ZonesOf(req.accessibility_requirements()));
  }

  const std::string id = VolumeIdForName(req.name());
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(id));
  ASSIGN_OR_RETURN(auto cluster, Cluster());

  auto existing = cluster->GetVolume(id);
  if (existing.ok()) {
    RETURN_IF_ERROR(CheckCompatible(*existing, req.name(), req.capacity_range(), params));
    *resp->mutable_volume() = VolumeFromView(*existing);
    return absl::OkStatus();
  }
  if (existing.status().code() != absl::StatusCode::kNotFound)
    return FromStorage(existing.status());

  auto nodes = cluster->Nodes();
  if (!nodes.ok()) return FromStorage(nodes.status());
  ASSIGN_OR_RETURN(auto node_ids, PlaceVolume(*nodes, params, static_cast<uint64_t>(size), zones));

  repl::VolumeSpec spec;
  spec.id = id;
  spec.size_bytes = static_cast<uint64_t>(size);
  spec.replicas = params.replicas;
  spec.node_ids = node_ids;
  spec.allowed_zones = zones.allowed;
  spec.attributes[kAttrName] = req.name();
  spec.attributes[kAttrCapabilities] = SummarizeCapabilities(req.volume_capabilities());
  for (const auto& [key, value] : params.ToMap()) {
    spec.attributes[absl::StrCat(kAttrParamPrefix, key)] = value;
  }
  auto volume_zones = ZonesOfNodes(*nodes, node_ids);
  if (!volume_zones.empty()) spec.attributes[kAttrZones] = absl::StrJoin(volume_zones, ",");

  auto created = cluster->CreateVolume(spec);
  if (!created.ok()) return FromStorage(created.status());
  *resp->mutable_volume() = VolumeFromView(*created);
  return absl::OkStatus();
}

absl::Status ControllerService::DoDelete(const ::csi::v1::DeleteVolumeRequest& req) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(req.volume_id()));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto view = cluster->GetVolume(req.volume_id());
  if (view.status().code() == absl::StatusCode::kNotFound) {
    return ConfirmGone(*cluster, req.volume_id());
  }
  if (!view.ok()) return FromStorage(view.status());
  auto published = PublishedNodeIds(*view);
  if (!published.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", req.volume_id(), " is still published to node(s) ",
                     absl::StrJoin(published, ", "), "; unpublish it first"));
  }
  return FromStorage(cluster->DeleteVolume(req.volume_id()));
}

}  // namespace syncblock::csi
