// ControllerService: the read-only RPCs: ValidateVolumeCapabilities,
// ListVolumes, ControllerGetVolume and GetCapacity.
#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "csi/controller_service.h"
#include "csi/csi_constants.h"
#include "csi/list_token.h"
#include "csi/mutable_parameters.h"
#include "csi/remote_parameters.h"
#include "csi/status_mapping.h"
#include "csi/volume_capabilities.h"
#include "csi/volume_parameters.h"
#include "csi/volume_view_csi.h"
#include "replication/qos/qos_settings.h"
#include "replication/types/remote_sync_policy.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

// Why the volume cannot be used as `cap`, or "" when it can.
std::string Unsupported(const ::csi::v1::VolumeCapability& cap,
                        const std::map<std::string, std::string>& stored) {
  auto s = CheckSupported(cap);
  if (!s.ok()) return std::string(s.message());
  auto fs = stored.find(kParamFsType);
  if (cap.has_mount() && !cap.mount().fs_type().empty() && fs != stored.end() &&
      fs->second != cap.mount().fs_type()) {
    return absl::StrCat("the volume's filesystem is ", fs->second, ", not ", cap.mount().fs_type());
  }
  return "";
}

}  // namespace

absl::Status ControllerService::DoValidate(const ::csi::v1::ValidateVolumeCapabilitiesRequest& req,
                                           ::csi::v1::ValidateVolumeCapabilitiesResponse* resp) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.volume_capabilities().empty()) {
    return absl::InvalidArgumentError("volume_capabilities are required");
  }
  for (const auto& cap : req.volume_capabilities()) RETURN_IF_ERROR(CheckWellFormed(cap));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto view = cluster->GetVolume(req.volume_id());
  if (!view.ok()) return FromStorage(view.status());

  auto stored = StoredParameters(*view);
  for (const auto& cap : req.volume_capabilities()) {
    std::string why = Unsupported(cap, stored);
    if (!why.empty()) {
      resp->set_message(absl::StrCat(CapabilityText(cap), ": ", why));
      return absl::OkStatus();
    }
  }
  for (const auto& [key, value] : req.volume_context()) {
    auto it = stored.find(key);
    if (it == stored.end() || it->second != value) {
      resp->set_message(
          absl::StrCat("volume_context ", key, "='", value, "' does not match the volume"));
      return absl::OkStatus();
    }
  }
  if (!req.parameters().empty()) {
    std::map<std::string, std::string> raw(req.parameters().begin(), req.parameters().end());
    auto params = ParseVolumeParameters(raw);
    if (!params.ok()) {
      resp->set_message(std::string(params.status().message()));
      return absl::OkStatus();
    }
    for (const auto& [key, value] : params->ToMap()) {
      auto it = stored.find(key);
      if (raw.count(key) && (it == stored.end() || it->second != value)) {
        resp->set_message(
            absl::StrCat("parameter ", key, "=", value, " does not match the volume"));
        return absl::OkStatus();
      }
    }
  }
  if (!req.mutable_parameters().empty()) {
    std::map<std::string, std::string> raw(req.mutable_parameters().begin(),
                                           req.mutable_parameters().end());
    auto mutable_params = ParseMutableParameters(raw);
    if (!mutable_params.ok()) {
      resp->set_message(std::string(mutable_params.status().message()));
      return absl::OkStatus();
    }
    // What the volume has now (they change through ControllerModifyVolume).
    if (mutable_params->replicas &&
        *mutable_params->replicas != static_cast<int>(view->replicas.size())) {
      resp->set_message(absl::StrCat("mutable parameter replicas=", *mutable_params->replicas,
                                     " does not match the volume's ", view->replicas.size()));
      return absl::OkStatus();
    }
    auto qos = repl::QosFromAttributes(view->attributes);
    auto wanted = repl::QosFromAttributes(mutable_params->QosAttributes());
    if ((mutable_params->max_iops && wanted.max_iops != qos.max_iops) ||
        (mutable_params->max_bandwidth && wanted.max_bandwidth != qos.max_bandwidth) ||
        (mutable_params->burst_seconds && wanted.burst_seconds != qos.burst_seconds)) {
      resp->set_message("mutable QoS parameters do not match the volume's");
      return absl::OkStatus();
    }
    if (!mutable_params->remote.empty()) {
      // Matches when ControllerModifyVolume would change nothing (a new
      // pairing aside, which only a volume without a declaration would get).
      auto wanted = RemoteSyncAttributesFor("mutable parameter", mutable_params->remote, view->id,
                                            view->attributes, repl::kDefaultRemotePrefix);
      bool same = wanted.ok();
      if (same) {
        for (const auto& [key, value] : *wanted) {
          auto it = view->attributes.find(key);
          same = same && it != view->attributes.end() && it->second == value;
        }
      }
      if (!same) {
        resp->set_message("mutable remote sync parameters do not match the volume's");
        return absl::OkStatus();
      }
    }
  }
  auto* confirmed = resp->mutable_confirmed();
  *confirmed->mutable_volume_capabilities() = req.volume_capabilities();
  *confirmed->mutable_volume_context() = req.volume_context();
  *confirmed->mutable_parameters() = req.parameters();
  *confirmed->mutable_mutable_parameters() = req.mutable_parameters();
  return absl::OkStatus();
}

absl::Status ControllerService::DoList(const ::csi::v1::ListVolumesRequest& req,
                                       ::csi::v1::ListVolumesResponse* resp) {
  if (req.max_entries() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_entries=", req.max_entries(), " must not be negative"));
  }
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto volumes = cluster->ListVolumes();
  if (!volumes.ok()) return FromStorage(volumes.status());
  std::sort(volumes->begin(), volumes->end(),
            [](const repl::VolumeView& a, const repl::VolumeView& b) { return a.id < b.id; });
  std::vector<std::string> ids;
  for (const auto& v : *volumes) ids.push_back(v.id);
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  ASSIGN_OR_RETURN(Page page, PageOf(ids, req.max_entries(), req.starting_token()));
  for (size_t i = page.begin; i < page.end; ++i) {
    auto it = std::lower_bound(
        volumes->begin(), volumes->end(), ids[i],
        [](const repl::VolumeView& v, const std::string& id) { return v.id < id; });
    auto* entry = resp->add_entries();
    *entry->mutable_volume() = VolumeFromView(*it);
    for (const auto& node : PublishedNodeIds(*it))
      entry->mutable_status()->add_published_node_ids(node);
    *entry->mutable_status()->mutable_volume_condition() = ConditionOf(*it);
  }
  resp->set_next_token(page.next_token);
  return absl::OkStatus();
}

absl::Status ControllerService::DoGet(const ::csi::v1::ControllerGetVolumeRequest& req,
                                      ::csi::v1::ControllerGetVolumeResponse* resp) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto view = cluster->GetVolume(req.volume_id());
  if (!view.ok()) return FromStorage(view.status());
  *resp->mutable_volume() = VolumeFromView(*view);
  for (const auto& node : PublishedNodeIds(*view))
    resp->mutable_status()->add_published_node_ids(node);
  *resp->mutable_status()->mutable_volume_condition() = ConditionOf(*view);
  return absl::OkStatus();
}

absl::Status ControllerService::DoCapacity(const ::csi::v1::GetCapacityRequest& req,
                                           ::csi::v1::GetCapacityResponse* resp) {
  for (const auto& cap : req.volume_capabilities()) RETURN_IF_ERROR(CheckWellFormed(cap));
  std::map<std::string, std::string> raw(req.parameters().begin(), req.parameters().end());
  ASSIGN_OR_RETURN(VolumeParameters params,
                   ParseVolumeParameters(raw, MountFsType(req.volume_capabilities())));
  std::string zone;
  bool zone_given = false;
  if (req.has_accessible_topology()) {
    auto it = req.accessible_topology().segments().find(kTopologyZoneKey);
    if (it != req.accessible_topology().segments().end()) {
      zone = it->second;
      zone_given = true;
    }
  }
  bool supported = true;
  for (const auto& cap : req.volume_capabilities())
    supported = supported && CheckSupported(cap).ok();

  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto nodes = cluster->Nodes();
  if (!nodes.ok()) return FromStorage(nodes.status());
  uint64_t total = 0;
  std::vector<uint64_t> free;
  for (const auto& n : *nodes) {
    if (!n.reachable || (zone_given && n.zone != zone)) continue;
    total += n.available_bytes;
    free.push_back(n.available_bytes);
  }
  // The largest volume: every replica needs a node with that much free, so it
  // is the replicas-th largest free space.
  std::sort(free.begin(), free.end(), std::greater<>());
  uint64_t max_size = 0;
  if (free.size() >= static_cast<size_t>(params.replicas)) {
    max_size = free[params.replicas - 1] / kSizeAlignment * kSizeAlignment;
  }
  if (!supported) total = max_size = 0;
  resp->set_available_capacity(static_cast<int64_t>(std::min<uint64_t>(total, INT64_MAX)));
  resp->mutable_maximum_volume_size()->set_value(
      static_cast<int64_t>(std::min<uint64_t>(max_size, INT64_MAX)));
  return absl::OkStatus();
}

}  // namespace syncblock::csi
