// NodeStageVolume and NodeUnstageVolume.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "csi/csi_constants.h"
#include "csi/node/node_service_impl.h"
#include "csi/volume_capabilities.h"
#include "replication/util/grpc_status.h"
#include "replication/util/status_macros.h"
#include "spdlog/spdlog.h"

namespace syncblock::csi {
namespace {

std::string Lookup(const google::protobuf::Map<std::string, std::string>& m,
                   const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "" : it->second;
}

// The filesystem a mount capability asks for: its fs_type, else the fsType of
// the volume context (the StorageClass), else ext4.
std::string WantedFsType(const ::csi::v1::NodeStageVolumeRequest& req) {
  std::string fs = req.volume_capability().mount().fs_type();
  if (fs.empty()) fs = Lookup(req.volume_context(), kParamFsType);
  return fs.empty() ? "ext4" : fs;
}

std::vector<std::string> Flags(const ::csi::v1::VolumeCapability& cap) {
  return {cap.mount().mount_flags().begin(), cap.mount().mount_flags().end()};
}

}  // namespace

grpc::Status NodeServiceImpl::NodeStageVolume(grpc::ServerContext*,
                                              const ::csi::v1::NodeStageVolumeRequest* req,
                                              ::csi::v1::NodeStageVolumeResponse*) {
  absl::Status st = Stage(*req);
  if (!st.ok()) spdlog::warn("NodeStageVolume {}: {}", req->volume_id(), st.ToString());
  return ToGrpcStatus(st);
}

grpc::Status NodeServiceImpl::NodeUnstageVolume(grpc::ServerContext*,
                                                const ::csi::v1::NodeUnstageVolumeRequest* req,
                                                ::csi::v1::NodeUnstageVolumeResponse*) {
  absl::Status st = Unstage(*req);
  if (!st.ok()) spdlog::warn("NodeUnstageVolume {}: {}", req->volume_id(), st.ToString());
  return ToGrpcStatus(st);
}

absl::Status NodeServiceImpl::MountStaging(const Attachment& a) {
  ASSIGN_OR_RETURN(std::string existing, mounter_->DetectFilesystem(a.device));
  if (existing.empty()) {
    if (a.readonly) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", a.volume_id, " has no filesystem and is attached read-only"));
    }
    spdlog::info("volume {}: making {} on {}", a.volume_id, a.fs_type, a.device);
    RETURN_IF_ERROR(mounter_->MakeFilesystem(a.device, a.fs_type));
  } else if (existing != a.fs_type) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", a.volume_id, " holds ", existing,
                                                      ", not the ", a.fs_type, " asked for"));
  } else if (!a.readonly) {
    RETURN_IF_ERROR(mounter_->CheckFilesystem(a.device, a.fs_type));
  }
  std::vector<std::string> options = a.mount_flags;
  if (a.readonly) options.push_back("ro");
  // Clones of one volume carry the same XFS UUID; without nouuid the second
  // one on a node would not mount.
  if (a.fs_type == "xfs") options.push_back("nouuid");
  std::error_code ec;
  std::filesystem::create_directories(a.staging_path, ec);
  return mounter_->Mount(a.device, a.staging_path, a.fs_type, options);
}

absl::Status NodeServiceImpl::Stage(const ::csi::v1::NodeStageVolumeRequest& req) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.staging_target_path().empty()) {
    return absl::InvalidArgumentError("staging_target_path is required");
  }
  if (!req.has_volume_capability()) {
    return absl::InvalidArgumentError("volume_capability is required");
  }
  RETURN_IF_ERROR(CheckWellFormed(req.volume_capability()));
  RETURN_IF_ERROR(CheckSupported(req.volume_capability()));
  const bool block = req.volume_capability().has_block();
  const std::string fs_type = block ? "" : WantedFsType(req);
  if (!block && fs_type != "ext4" && fs_type != "xfs") {
    return absl::InvalidArgumentError(
        absl::StrCat("fs_type \"", fs_type, "\" is not supported (ext4 or xfs)"));
  }
  const bool readonly = IsReadOnlyMode(req.volume_capability().access_mode().mode()) ||
                        Lookup(req.publish_context(), kPublishReadonly) == "true";
  ASSIGN_OR_RETURN(auto guard, inflight_.Acquire(req.volume_id()));
  // An encrypted volume's secret (csi.storage.k8s.io/node-stage-secret-name),
  // kept in memory for as long as it is staged: the health loop unlocks the
  // volume with it after every replica restarted (ResolvePrimary).
  if (auto secret = req.secrets().find(kSecretEncryptionPassphrase);
      secret != req.secrets().end() && !secret->second.empty()) {
    stage_secrets_.Keep(req.volume_id(), secret->second);
  }

  if (auto existing = Find(req.volume_id())) {
    if (existing->staging_path != req.staging_target_path()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", req.volume_id(), " is already staged at ", existing->staging_path));
    }
    if (existing->block != block || existing->fs_type != fs_type ||
        existing->readonly != readonly) {
      return absl::AlreadyExistsError(absl::StrCat("volume ", req.volume_id(), " is staged at ",
                                                   existing->staging_path,
                                                   " with another capability"));
    }
    // The same request again (a retry): finish what a crash may have cut
    // short, and reconnect a dead attachment.
    RETURN_IF_ERROR(Heal(*existing));
    auto healed = Find(req.volume_id());
    if (!block) {
      ASSIGN_OR_RETURN(bool mounted, mounter_->IsMountPoint(healed->staging_path));
      if (!mounted) RETURN_IF_ERROR(MountStaging(*healed));
    }
    return absl::OkStatus();
  }

  if (options_.max_volumes > 0 && RecordCount() >= static_cast<size_t>(options_.max_volumes)) {
    return absl::ResourceExhaustedError(absl::StrCat("node ", options_.node_id, " already has ",
                                                     options_.max_volumes, " volumes staged"));
  }
  std::vector<std::string> hint_nodes;
  std::string nodes = Lookup(req.publish_context(), kPublishStorageNodes);
  if (!nodes.empty()) hint_nodes = absl::StrSplit(nodes, ',', absl::SkipEmpty());
  ASSIGN_OR_RETURN(
      std::string uri,
      ResolvePrimary(req.volume_id(), Lookup(req.publish_context(), kPublishNbdUri), hint_nodes));
  const std::vector<std::string> control = ControlAddresses(hint_nodes);
  ASSIGN_OR_RETURN(Attachment a, attacher_->Attach({req.volume_id(), uri, readonly, control}));
  a.control_addresses = control;
  a.staging_path = req.staging_target_path();
  a.block = block;
  a.fs_type = fs_type;
  if (!block) a.mount_flags = Flags(req.volume_capability());
  // Recorded before mounting: a crash from here on leaves a record that the
  // next start-up, or the CO's retry, finds.
  absl::Status st = Record(a);
  if (st.ok() && !block) st = MountStaging(a);
  if (!st.ok()) {
    absl::Status undo = attacher_->Detach(a);
    if (undo.ok()) {
      (void)Forget(a.volume_id);
    } else {
      spdlog::error("volume {}: detaching {} after a failed stage: {}", a.volume_id, a.device,
                    undo.ToString());
    }
    return st;
  }
  spdlog::info("staged volume {} on {} at {}", a.volume_id, a.device, a.staging_path);
  return absl::OkStatus();
}

absl::Status NodeServiceImpl::Unstage(const ::csi::v1::NodeUnstageVolumeRequest& req) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.staging_target_path().empty()) {
    return absl::InvalidArgumentError("staging_target_path is required");
  }
  ASSIGN_OR_RETURN(auto guard, inflight_.Acquire(req.volume_id()));
  auto a = Find(req.volume_id());
  // Not staged (any more) at that path: the spec's answer is OK.
  if (!a || a->staging_path != req.staging_target_path()) return absl::OkStatus();
  for (const auto& target : a->publish_paths) {
    ASSIGN_OR_RETURN(bool mounted, mounter_->IsMountPoint(target));
    if (mounted) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", a->volume_id, " is still published at ", target));
    }
  }
  if (!a->block) {
    ASSIGN_OR_RETURN(bool mounted, mounter_->IsMountPoint(a->staging_path));
    if (mounted) {
      absl::Status st = mounter_->Unmount(a->staging_path);
      if (!st.ok() && !absl::IsNotFound(st)) return st;
    }
  }
  RETURN_IF_ERROR(attacher_->Detach(*a));
  RETURN_IF_ERROR(Forget(a->volume_id));
  stage_secrets_.Forget(a->volume_id);
  spdlog::info("unstaged volume {} from {}", a->volume_id, a->staging_path);
  return absl::OkStatus();
}

}  // namespace syncblock::csi
