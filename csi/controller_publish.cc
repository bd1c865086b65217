// ControllerService: ControllerPublishVolume and ControllerUnpublishVolume.
// Publishing records the node in the volume's attributes and tells the node
// plugin where the volume is served (csi/csi_constants.h, publish_context).
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "csi/controller_service.h"
#include "csi/csi_constants.h"
#include "csi/publications.h"
#include "csi/status_mapping.h"
#include "csi/volume_capabilities.h"
#include "csi/volume_view_csi.h"
#include "replication/types/remote_sync_policy.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

// Control addresses of the storage nodes that hold a replica of `view`.
absl::StatusOr<std::string> ReplicaControlAddresses(repl::StorageCluster& cluster,
                                                    const repl::VolumeView& view) {
  auto nodes = cluster.Nodes();
  if (!nodes.ok()) return FromStorage(nodes.status());
  std::vector<std::string> out;
  for (const auto& r : view.replicas) {
    for (const auto& n : *nodes) {
      if (n.id == r.node && !n.control_address.empty()) out.push_back(n.control_address);
    }
  }
  return absl::StrJoin(out, ",");
}

}  // namespace

absl::Status ControllerService::DoPublish(const ::csi::v1::ControllerPublishVolumeRequest& req,
                                          ::csi::v1::ControllerPublishVolumeResponse* resp) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.node_id().empty()) return absl::InvalidArgumentError("node_id is required");
  if (!req.has_volume_capability()) {
    return absl::InvalidArgumentError("volume_capability is required");
  }
  RETURN_IF_ERROR(CheckWellFormed(req.volume_capability()));
  RETURN_IF_ERROR(CheckSupported(req.volume_capability()));

  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(req.volume_id()));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto view = cluster->GetVolume(req.volume_id());
  if (!view.ok()) return FromStorage(view.status());
  // A node that is not one of the cluster's: NOT_FOUND (the spec's code).
  RETURN_IF_ERROR(nodes_->Check(req.node_id()));
  // The target of a remote sync takes that sync's writes only: an
  // application writing to it would be overwritten by the next cycle, and
  // would break the snapshot the next cycle builds on.
  if (view->attributes.count(repl::kAttrRemotePromoting)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", view->id, " is being promoted from a remote sync (", repl::kAttrRemotePromoting,
        "): run `syncblock ctl volume promote-remote ", view->id, "` again to finish it"));
  }
  if (view->attributes.count(repl::kAttrRemoteSourceId)) {
    auto source = view->attributes.find(repl::kAttrRemoteSourceVolume);
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", view->id, " is the target of a remote sync from volume ",
        source == view->attributes.end() ? std::string("(unknown)") : source->second, " (",
        repl::kAttrRemoteSourceVolume,
        "); only that sync writes into it. Make it a volume of its own with `syncblock ctl "
        "volume promote-remote ",
        view->id, "` first"));
  }

  const auto& cap = req.volume_capability();
  auto stored = StoredParameters(*view);
  if (cap.has_mount() && !cap.mount().fs_type().empty() && stored.count(kParamFsType) &&
      stored[kParamFsType] != cap.mount().fs_type()) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", view->id, " was created with fsType ",
                                                   stored[kParamFsType], ", not ",
                                                   cap.mount().fs_type()));
  }

  // An encrypted volume: every publish gives its replicas the key again, so
  // that a storage node restarted since (locked: its memory held the key)
  // serves it again, before the node plugin opens it.
  if (view->encrypted) {
    auto secret = req.secrets().find(kSecretEncryptionPassphrase);
    if (secret != req.secrets().end() && !secret->second.empty()) {
      RETURN_IF_ERROR(UnlockIfEncrypted(*cluster, *view, secret->second));
      auto fresh = cluster->GetVolume(req.volume_id());
      if (fresh.ok()) *view = *std::move(fresh);
    }
    if (std::find(view->locked_on.begin(), view->locked_on.end(), view->primary) !=
        view->locked_on.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "volume ", view->id, " is encrypted and locked on its primary ", view->primary,
          ": ControllerPublishVolume needs the key '", kSecretEncryptionPassphrase,
          "' in its secrets (StorageClass parameters "
          "csi.storage.k8s.io/controller-publish-secret-name and -namespace)"));
    }
    if (!view->locked_on.empty()) {
      spdlog::warn("volume {}: published while locked on {} (no key in the secrets)", view->id,
                   absl::StrJoin(view->locked_on, ","));
    }
  }

  Publication wanted;
  wanted.node_id = req.node_id();
  wanted.block = cap.has_block();
  wanted.mode = cap.access_mode().mode();
  wanted.readonly = req.readonly() || IsReadOnlyMode(wanted.mode);
  ASSIGN_OR_RETURN(PublishDecision decision,
                   CheckPublish(PublicationsFromAttributes(view->attributes), wanted, view->id));
  if (decision == PublishDecision::kNew) {
    auto updated = cluster->SetAttributes(
        view->id, {{PublicationKey(wanted.node_id), EncodePublication(wanted)}}, {});
    if (!updated.ok()) return FromStorage(updated.status());
    *view = *updated;
  }

  ASSIGN_OR_RETURN(std::string storage_nodes, ReplicaControlAddresses(*cluster, *view));
  auto& ctx = *resp->mutable_publish_context();
  ctx[kPublishNbdUri] = view->nbd_uri;
  ctx[kPublishExportName] = view->id;
  ctx[kPublishStorageNodes] = storage_nodes;
  ctx[kPublishReadonly] = wanted.readonly ? "true" : "false";
  return absl::OkStatus();
}

absl::Status ControllerService::DoUnpublish(
    const ::csi::v1::ControllerUnpublishVolumeRequest& req) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(req.volume_id()));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto view = cluster->GetVolume(req.volume_id());
  // A volume that is gone is unpublished everywhere: the spec asks for OK.
  if (view.status().code() == absl::StatusCode::kNotFound) {
    return ConfirmGone(*cluster, req.volume_id());
  }
  if (!view.ok()) return FromStorage(view.status());

  std::vector<std::string> remove;
  for (const auto& p : PublicationsFromAttributes(view->attributes)) {
    if (req.node_id().empty() || p.node_id == req.node_id()) {
      remove.push_back(PublicationKey(p.node_id));
    }
  }
  if (remove.empty()) return absl::OkStatus();
  auto updated = cluster->SetAttributes(view->id, {}, remove);
  if (!updated.ok()) return FromStorage(updated.status());
  return absl::OkStatus();
}

}  // namespace syncblock::csi
