// NodeGetInfo, NodeGetCapabilities and NodeGetVolumeStats.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "csi/node/node_service_impl.h"
#include "replication/util/grpc_status.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

std::string Hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

absl::StatusOr<uint64_t> DeviceSize(const std::string& device) {
  int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::UnavailableError(absl::StrCat("open ", device, ": ", std::strerror(errno)));
  uint64_t size = 0;
  int rc = ioctl(fd, BLKGETSIZE64, &size);
  int err = errno;
  close(fd);
  if (rc != 0)
    return absl::UnavailableError(absl::StrCat("BLKGETSIZE64 ", device, ": ", std::strerror(err)));
  return size;
}

}  // namespace

grpc::Status NodeServiceImpl::NodeGetInfo(grpc::ServerContext*,
                                          const ::csi::v1::NodeGetInfoRequest*,
                                          ::csi::v1::NodeGetInfoResponse* resp) {
  resp->set_node_id(options_.node_id);
  resp->set_max_volumes_per_node(options_.max_volumes);
  auto* segments = resp->mutable_accessible_topology()->mutable_segments();
  if (!options_.zone.empty()) (*segments)[kTopologyZoneKey] = options_.zone;
  std::string host = options_.hostname.empty() ? Hostname() : options_.hostname;
  if (!host.empty()) (*segments)[kTopologyHostnameKey] = host;
  return grpc::Status::OK;
}

grpc::Status NodeServiceImpl::NodeGetCapabilities(grpc::ServerContext*,
                                                  const ::csi::v1::NodeGetCapabilitiesRequest*,
                                                  ::csi::v1::NodeGetCapabilitiesResponse* resp) {
  using Rpc = ::csi::v1::NodeServiceCapability::RPC;
  for (auto type : {Rpc::STAGE_UNSTAGE_VOLUME, Rpc::GET_VOLUME_STATS, Rpc::VOLUME_CONDITION,
                    Rpc::SINGLE_NODE_MULTI_WRITER, Rpc::EXPAND_VOLUME}) {
    resp->add_capabilities()->mutable_rpc()->set_type(type);
  }
  return grpc::Status::OK;
}

grpc::Status NodeServiceImpl::NodeGetVolumeStats(grpc::ServerContext*,
                                                 const ::csi::v1::NodeGetVolumeStatsRequest* req,
                                                 ::csi::v1::NodeGetVolumeStatsResponse* resp) {
  return ToGrpcStatus(Stats(*req, resp));
}

absl::StatusOr<Attachment> NodeServiceImpl::FindAt(const std::string& volume_id,
                                                   const std::string& path) {
  auto a = Find(volume_id);
  if (!a) return absl::NotFoundError(absl::StrCat("volume ", volume_id, " is not on this node"));
  const bool known =
      path == a->staging_path ||
      std::find(a->publish_paths.begin(), a->publish_paths.end(), path) != a->publish_paths.end();
  std::error_code ec;
  if (!known || !std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        absl::StrCat("volume ", volume_id, " is not staged or published at ", path));
  }
  return *std::move(a);
}

absl::Status NodeServiceImpl::Stats(const ::csi::v1::NodeGetVolumeStatsRequest& req,
                                    ::csi::v1::NodeGetVolumeStatsResponse* resp) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  if (req.volume_path().empty()) return absl::InvalidArgumentError("volume_path is required");
  const std::string& path = req.volume_path();
  ASSIGN_OR_RETURN(Attachment a, FindAt(req.volume_id(), path));
  absl::Status health = attacher_->Check(a);
  auto* condition = resp->mutable_volume_condition();
  condition->set_abnormal(!health.ok());
  if (health.ok()) {
    condition->set_message("attached");
  } else if (!a.control_addresses.empty() && absl::IsUnavailable(health)) {
    // The attachment follows the primary: its IO waits for the next one.
    condition->set_message(absl::StrCat("failing over: ", health.message(),
                                        "; IO waits for a primary to serve the volume"));
  } else {
    condition->set_message(std::string(health.message()));
  }

  if (a.block) {
    auto* bytes = resp->add_usage();
    bytes->set_unit(::csi::v1::VolumeUsage::BYTES);
    auto size = DeviceSize(a.device);
    bytes->set_total(static_cast<int64_t>(size.ok() ? *size : a.size_bytes));
    return absl::OkStatus();
  }
  struct statvfs vfs {};
  if (statvfs(path.c_str(), &vfs) != 0) {
    // A mount on a dead attachment: the condition says why; no usage to report.
    if (!health.ok()) return absl::OkStatus();
    return absl::InternalError(absl::StrCat("statvfs ", path, ": ", std::strerror(errno)));
  }
  auto* bytes = resp->add_usage();
  bytes->set_unit(::csi::v1::VolumeUsage::BYTES);
  bytes->set_total(static_cast<int64_t>(vfs.f_blocks * vfs.f_frsize));
  bytes->set_available(static_cast<int64_t>(vfs.f_bavail * vfs.f_frsize));
  bytes->set_used(static_cast<int64_t>((vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize));
  auto* inodes = resp->add_usage();
  inodes->set_unit(::csi::v1::VolumeUsage::INODES);
  inodes->set_total(static_cast<int64_t>(vfs.f_files));
  inodes->set_available(static_cast<int64_t>(vfs.f_favail));
  inodes->set_used(static_cast<int64_t>(vfs.f_files - vfs.f_ffree));
  return absl::OkStatus();
}

}  // namespace syncblock::csi
