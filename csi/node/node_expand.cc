// NodeExpandVolume: after the controller grew the volume, make the node see
// it. The attachment is refreshed online (Attacher::Resize: a loop device's
// capacity, or the kernel NBD device's size), then a mounted filesystem is
// grown in place (resize2fs on the device for ext4, xfs_growfs on the staging
// mount for xfs); a block volume needs nothing more. Repeating the call is
// harmless: both tools do nothing when the filesystem already fills the device.
#include "absl/strings/str_cat.h"
#include "csi/node/node_service_impl.h"
#include "replication/util/grpc_status.h"
#include "replication/util/status_macros.h"
#include "spdlog/spdlog.h"

namespace syncblock::csi {

grpc::Status NodeServiceImpl::NodeExpandVolume(grpc::ServerContext*,
                                               const ::csi::v1::NodeExpandVolumeRequest* req,
                                               ::csi::v1::NodeExpandVolumeResponse* resp) {
  absl::Status st = Expand(*req, resp);
  if (!st.ok()) spdlog::warn("NodeExpandVolume {}: {}", req->volume_id(), st.ToString());
  return ToGrpcStatus(st);
}

absl::Status NodeServiceImpl::Expand(const ::csi::v1::NodeExpandVolumeRequest& req,
                                     ::csi::v1::NodeExpandVolumeResponse* resp) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.volume_path().empty()) return absl::InvalidArgumentError("volume_path is required");
  ASSIGN_OR_RETURN(auto guard, inflight_.Acquire(req.volume_id()));
  ASSIGN_OR_RETURN(Attachment a, FindAt(req.volume_id(), req.volume_path()));

  ASSIGN_OR_RETURN(Attachment grown, attacher_->Resize(a));
  if (grown.size_bytes != a.size_bytes) {
    spdlog::info("volume {}: {} grew from {} to {} bytes", a.volume_id, a.device, a.size_bytes,
                 grown.size_bytes);
    RETURN_IF_ERROR(Record(grown));
  }
  const int64_t required = req.capacity_range().required_bytes();
  if (required > 0 && grown.size_bytes < static_cast<uint64_t>(required)) {
    // The storage side has not grown the export yet; the CO retries.
    return absl::UnavailableError(absl::StrCat("volume ", a.volume_id, " is still ",
                                               grown.size_bytes, " bytes on ", grown.nbd_uri,
                                               ", not the ", required, " asked for"));
  }
  if (!grown.block) {
    if (grown.readonly) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", a.volume_id, " is mounted read-only; its filesystem cannot grow"));
    }
    ASSIGN_OR_RETURN(bool mounted, mounter_->IsMountPoint(grown.staging_path));
    if (!mounted) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", a.volume_id, " is not mounted at ", grown.staging_path));
    }
    RETURN_IF_ERROR(mounter_->ResizeFilesystem(grown.device, grown.staging_path, grown.fs_type));
  }
  resp->set_capacity_bytes(static_cast<int64_t>(grown.size_bytes));
  return absl::OkStatus();
}

}  // namespace syncblock::csi
