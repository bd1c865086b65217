// ControllerService: ControllerExpandVolume.
//
// The primary grows the volume online, in the write stream, so every replica
// grows at the same point. node_expansion_required is always true, for block
// volumes too: on both attach paths (kernel NBD, FUSE + loop) the node's
// device keeps the size it was attached with until the node plugin refreshes
// it (NBD reconnect, loop set-capacity), and for mount volumes the
// filesystem is grown after that (resize2fs, xfs_growfs).
#include <string>

#include "absl/strings/str_cat.h"
#include "csi/controller_service.h"
#include "csi/status_mapping.h"
#include "csi/volume_capabilities.h"
#include "csi/volume_parameters.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {

absl::Status ControllerService::DoExpand(const ::csi::v1::ControllerExpandVolumeRequest& req,
                                         ::csi::v1::ControllerExpandVolumeResponse* resp) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (!req.has_capacity_range()) return absl::InvalidArgumentError("capacity_range is required");
  const auto& range = req.capacity_range();
  if (range.required_bytes() <= 0 && range.limit_bytes() <= 0) {
    return absl::InvalidArgumentError(
        "capacity_range needs required_bytes or limit_bytes to expand to");
  }
  if (req.has_volume_capability()) RETURN_IF_ERROR(CheckWellFormed(req.volume_capability()));
  // required_bytes 0 with a limit: grow to nothing, only check the limit.
  int64_t target = 0;
  if (range.required_bytes() > 0) {
    ASSIGN_OR_RETURN(target, ResolveCapacity(range.required_bytes(), range.limit_bytes()));
  } else if (range.limit_bytes() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit_bytes=", range.limit_bytes(), " must not be negative"));
  }

  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(req.volume_id()));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto view = cluster->GetVolume(req.volume_id());
  if (!view.ok()) return FromStorage(view.status());
  const int64_t current = static_cast<int64_t>(view->size_bytes);
  if (range.limit_bytes() > 0 && current > range.limit_bytes()) {
    // Volumes never shrink, so no size in this range is possible.
    return absl::OutOfRangeError(absl::StrCat("volume ", req.volume_id(), " has ", current,
                                              " bytes, above limit_bytes=", range.limit_bytes(),
                                              "; volumes cannot shrink"));
  }
  resp->set_node_expansion_required(true);
  if (target <= current) {
    // The spec: already at least the target is OK, with the current size.
    resp->set_capacity_bytes(current);
    return absl::OkStatus();
  }
  auto grown = cluster->ExpandVolume(req.volume_id(), static_cast<uint64_t>(target));
  if (!grown.ok()) return FromStorage(grown.status());
  resp->set_capacity_bytes(static_cast<int64_t>(grown->size_bytes));
  return absl::OkStatus();
}

}  // namespace syncblock::csi
