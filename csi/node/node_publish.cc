// NodePublishVolume and NodeUnpublishVolume.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "csi/node/node_service_impl.h"
#include "csi/volume_capabilities.h"
#include "replication/util/grpc_status.h"
#include "replication/util/status_macros.h"
#include "spdlog/spdlog.h"

namespace syncblock::csi {
namespace {

// A block volume is published as a file with the device bind-mounted on it.
absl::Status MakeTarget(const std::string& path, bool block) {
  std::error_code ec;
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path(), ec);
  if (block) {
    int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0640);
    if (fd < 0)
      return absl::InternalError(absl::StrCat("create ", path, ": ", std::strerror(errno)));
    close(fd);
    return absl::OkStatus();
  }
  std::filesystem::create_directories(p, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", path, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

grpc::Status NodeServiceImpl::NodePublishVolume(grpc::ServerContext*,
                                                const ::csi::v1::NodePublishVolumeRequest* req,
                                                ::csi::v1::NodePublishVolumeResponse*) {
  absl::Status st = Publish(*req);
  if (!st.ok()) spdlog::warn("NodePublishVolume {}: {}", req->volume_id(), st.ToString());
  return ToGrpcStatus(st);
}

grpc::Status NodeServiceImpl::NodeUnpublishVolume(grpc::ServerContext*,
                                                  const ::csi::v1::NodeUnpublishVolumeRequest* req,
                                                  ::csi::v1::NodeUnpublishVolumeResponse*) {
  absl::Status st = Unpublish(*req);
  if (!st.ok()) spdlog::warn("NodeUnpublishVolume {}: {}", req->volume_id(), st.ToString());
  return ToGrpcStatus(st);
}

absl::Status NodeServiceImpl::Publish(const ::csi::v1::NodePublishVolumeRequest& req) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.staging_target_path().empty()) {
    return absl::InvalidArgumentError("staging_target_path is required");
  }
  if (req.target_path().empty()) return absl::InvalidArgumentError("target_path is required");
  if (!req.has_volume_capability()) {
    return absl::InvalidArgumentError("volume_capability is required");
  }
  RETURN_IF_ERROR(CheckWellFormed(req.volume_capability()));
  RETURN_IF_ERROR(CheckSupported(req.volume_capability()));
  const bool block = req.volume_capability().has_block();
  const bool readonly =
      req.readonly() || IsReadOnlyMode(req.volume_capability().access_mode().mode());
  ASSIGN_OR_RETURN(auto guard, inflight_.Acquire(req.volume_id()));

  auto a = Find(req.volume_id());
  if (!a || a->staging_path != req.staging_target_path()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", req.volume_id(), " is not staged at ", req.staging_target_path()));
  }
  if (a->block != block) {
    return absl::InvalidArgumentError(absl::StrCat(
        "volume ", req.volume_id(), " is staged as ", a->block ? "a block device" : "a filesystem",
        " and cannot be published as ", block ? "a block device" : "a filesystem"));
  }
  if (!block && a->readonly && !readonly) {
    return absl::InvalidArgumentError(absl::StrCat(
        "volume ", req.volume_id(), " is staged read-only and cannot be published writable"));
  }
  const bool recorded = std::find(a->publish_paths.begin(), a->publish_paths.end(),
                                  req.target_path()) != a->publish_paths.end();
  ASSIGN_OR_RETURN(bool mounted, mounter_->IsMountPoint(req.target_path()));
  if (mounted) {
    if (recorded) return absl::OkStatus();  // a retry of a publish that succeeded
    return absl::AlreadyExistsError(
        absl::StrCat(req.target_path(), " already has something else mounted"));
  }
  RETURN_IF_ERROR(MakeTarget(req.target_path(), block));
  std::vector<std::string> options;
  if (!block) {
    const auto& flags = req.volume_capability().mount().mount_flags();
    // Per-mount flags take effect on the bind; filesystem ones were set at stage.
    for (const auto& f : flags) {
      if (f == "noexec" || f == "nosuid" || f == "nodev" || f == "noatime" || f == "relatime" ||
          f == "nodiratime") {
        options.push_back(f);
      }
    }
  }
  const std::string source = block ? a->device : a->staging_path;
  RETURN_IF_ERROR(mounter_->BindMount(source, req.target_path(), readonly, options));
  if (!recorded) a->publish_paths.push_back(req.target_path());
  // A reconnect that changes the device restores exactly these (Heal).
  a->publish_options[req.target_path()] = PublishOptions{readonly, options};
  absl::Status st = Record(*a);
  if (!st.ok()) {
    (void)mounter_->Unmount(req.target_path());
    return st;
  }
  spdlog::info("published volume {} at {}{}", req.volume_id(), req.target_path(),
               readonly ? " (read-only)" : "");
  return absl::OkStatus();
}

absl::Status NodeServiceImpl::Unpublish(const ::csi::v1::NodeUnpublishVolumeRequest& req) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.target_path().empty()) return absl::InvalidArgumentError("target_path is required");
  ASSIGN_OR_RETURN(auto guard, inflight_.Acquire(req.volume_id()));
  ASSIGN_OR_RETURN(bool mounted, mounter_->IsMountPoint(req.target_path()));
  if (mounted) {
    absl::Status st = mounter_->Unmount(req.target_path());
    if (!st.ok() && !absl::IsNotFound(st)) return st;
  }
  std::error_code ec;
  // The spec has the plugin delete what it created at target_path; only
  // remove an empty directory or a regular file (never follow into data).
  if (std::filesystem::is_directory(req.target_path(), ec)) {
    std::filesystem::remove(req.target_path(), ec);
  } else if (std::filesystem::is_regular_file(req.target_path(), ec)) {
    std::filesystem::remove(req.target_path(), ec);
  }
  if (auto a = Find(req.volume_id())) {
    auto it = std::find(a->publish_paths.begin(), a->publish_paths.end(), req.target_path());
    const bool had_path = it != a->publish_paths.end();
    if (had_path) a->publish_paths.erase(it);
    const bool had_options = a->publish_options.erase(req.target_path()) > 0;
    if (had_path || had_options) RETURN_IF_ERROR(Record(*a));
  }
  return absl::OkStatus();
}

}  // namespace syncblock::csi
