#include "csi/node/node_service.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "csi/node/fuse_loop_attacher.h"
#include "csi/node/linux_mounter.h"
#include "csi/node/nbd_netlink_attacher.h"
#include "csi/node/node_service_impl.h"
#include "replication/crypt/key_ring.h"
#include "replication/util/status_macros.h"
#include "replication/util/wipe.h"
#include "spdlog/spdlog.h"

namespace syncblock::csi {

std::string ResolveAttachMode(const std::string& mode) {
  if (mode != "auto") return mode;
  return NbdModuleAvailable() ? "nbd" : "fuse";
}

int64_t DefaultMaxVolumes(const std::string& resolved_mode) {
  if (resolved_mode != "nbd") return kFuseMaxVolumes;
  int64_t devices = 0;
  std::ifstream param("/sys/module/nbd/parameters/nbds_max");
  if (param >> devices && devices > 0) return devices;
  // Without the parameter, count the devices the module made.
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/block", ec)) {
    if (absl::StartsWith(e.path().filename().string(), "nbd")) ++devices;
  }
  return devices > 0 ? devices : kFuseMaxVolumes;
}

absl::StatusOr<std::unique_ptr<::csi::v1::Node::Service>> MakeNodeService(
    const NodeServiceOptions& options) {
  if (options.node_id.empty()) return absl::InvalidArgumentError("node service needs a node id");
  NodeServiceOptions opts = options;
  if (!opts.attacher) {
    std::string mode = ResolveAttachMode(opts.attach_mode);
    if (mode == "nbd") {
      if (!NbdModuleAvailable()) {
        return absl::FailedPreconditionError(
            "--attach nbd: the nbd kernel module is not loaded and modprobe nbd failed");
      }
      opts.attacher = std::make_shared<NbdNetlinkAttacher>();
    } else if (mode == "fuse") {
      opts.attacher = std::make_shared<FuseLoopAttacher>(opts.state_dir, std::chrono::seconds(30),
                                                         opts.syncblock_binary);
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown attach mode \"", opts.attach_mode, "\" (auto, nbd or fuse)"));
    }
    if (opts.max_volumes <= 0) opts.max_volumes = DefaultMaxVolumes(mode);
    spdlog::info("node {}: attaching volumes with {}, at most {}", opts.node_id,
                 opts.attacher->Mode(), opts.max_volumes);
  }
  if (!opts.mounter) opts.mounter = std::make_shared<LinuxMounter>();
  if (!opts.resolver) {
    opts.resolver =
        std::make_shared<repl::initiator::GrpcPrimaryResolver>(opts.storage_control_addresses);
  }
  auto service = std::make_unique<NodeServiceImpl>(opts);
  RETURN_IF_ERROR(service->Start());
  return std::unique_ptr<::csi::v1::Node::Service>(std::move(service));
}

NodeServiceImpl::NodeServiceImpl(const NodeServiceOptions& options)
    : options_(options),
      mounter_(options.mounter),
      attacher_(options.attacher),
      resolver_(options.resolver),
      store_(options.state_dir) {}

NodeServiceImpl::~NodeServiceImpl() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (health_thread_.joinable()) health_thread_.join();
}

absl::Status NodeServiceImpl::Start() {
  RETURN_IF_ERROR(store_.Init());
  for (Attachment& a : store_.LoadAll()) {
    {
      absl::MutexLock lock(&mu_);
      records_[a.volume_id] = a;
    }
    if (a.mode != attacher_->Mode()) {
      spdlog::error("volume {} was attached with {} but this plugin attaches with {}; leaving it",
                    a.volume_id, a.mode, attacher_->Mode());
      continue;
    }
    absl::Status st = Heal(a);
    if (!st.ok()) {
      // Not fatal: the health loop and the next Stage call retry.
      spdlog::warn("re-adopting volume {} on {}: {}", a.volume_id, a.device, st.ToString());
    } else {
      auto now = Find(a.volume_id);
      spdlog::info("re-adopted volume {} on {}", a.volume_id, now ? now->device : a.device);
    }
  }
  if (options_.health_interval.count() > 0) {
    health_thread_ = std::thread([this] { HealthLoop(); });
  }
  return absl::OkStatus();
}

std::optional<Attachment> NodeServiceImpl::Find(const std::string& volume_id) {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(volume_id);
  if (it == records_.end()) return std::nullopt;
  return it->second;
}

absl::Status NodeServiceImpl::Record(const Attachment& a) {
  RETURN_IF_ERROR(store_.Save(a));
  absl::MutexLock lock(&mu_);
  records_[a.volume_id] = a;
  return absl::OkStatus();
}

absl::Status NodeServiceImpl::Forget(const std::string& volume_id) {
  RETURN_IF_ERROR(store_.Remove(volume_id));
  absl::MutexLock lock(&mu_);
  records_.erase(volume_id);
  return absl::OkStatus();
}

size_t NodeServiceImpl::RecordCount() {
  absl::MutexLock lock(&mu_);
  return records_.size();
}

std::vector<std::string> NodeServiceImpl::ControlAddresses(
    const std::vector<std::string>& hints) const {
  std::vector<std::string> out = hints;
  if (options_.storage_control_addresses) {
    for (auto& address : options_.storage_control_addresses()) {
      if (std::find(out.begin(), out.end(), address) == out.end()) out.push_back(address);
    }
  }
  return out;
}

absl::StatusOr<std::string> NodeServiceImpl::ResolvePrimary(const std::string& volume_id,
                                                            const std::string& hint_uri,
                                                            const std::vector<std::string>& hints) {
  absl::StatusOr<std::string> uri = resolver_->Resolve(volume_id, hint_uri, hints);
  if (uri.ok() || !repl::IsLockedMessage(uri.status().message()) || !options_.unlock_volume) {
    return uri;
  }
  std::optional<std::string> secret = stage_secrets_.Find(volume_id);
  if (!secret) return uri;
  absl::Status unlocked = options_.unlock_volume(volume_id, *secret);
  WipeString(*secret);
  if (!unlocked.ok()) {
    // The message names the volume and the reason, never the secret.
    return absl::Status(unlocked.code(),
                        absl::StrCat("volume ", volume_id,
                                     " is locked, and unlocking it with its NodeStage secret "
                                     "failed: ",
                                     unlocked.message()));
  }
  spdlog::info("volume {}: was locked on its replicas; unlocked with its NodeStage secret",
               volume_id);
  return resolver_->Resolve(volume_id, hint_uri, hints);
}

absl::Status NodeServiceImpl::Heal(Attachment a) {
  // A FUSE server that follows the primary itself passes Check once it has
  // found it again: nothing is restarted and the device stays.
  if (attacher_->Check(a).ok()) return absl::OkStatus();
  a.control_addresses = ControlAddresses(a.control_addresses);
  ASSIGN_OR_RETURN(std::string uri, ResolvePrimary(a.volume_id, a.nbd_uri, a.control_addresses));
  const std::string old_device = a.device;
  ASSIGN_OR_RETURN(Attachment fresh, attacher_->Reconnect(a, uri));
  RETURN_IF_ERROR(Record(fresh));
  if (fresh.device == old_device) return absl::OkStatus();
  spdlog::warn("volume {} moved from {} to {}; remounting", a.volume_id, old_device, fresh.device);
  // What sat on the dead device is detached lazily: open files on it can only
  // fail now, and the new mounts take their place.
  for (const auto& target : fresh.publish_paths) RETURN_IF_ERROR(mounter_->DetachMount(target));
  if (!fresh.block && !fresh.staging_path.empty()) {
    RETURN_IF_ERROR(mounter_->DetachMount(fresh.staging_path));
    RETURN_IF_ERROR(MountStaging(fresh));
  }
  for (const auto& target : fresh.publish_paths) {
    const std::string& source = fresh.block ? fresh.device : fresh.staging_path;
    // Each target as it was published; a record from before publish options
    // were kept has only the stage's readonly.
    PublishOptions published{fresh.readonly, {}};
    if (auto it = fresh.publish_options.find(target); it != fresh.publish_options.end()) {
      published = it->second;
    }
    RETURN_IF_ERROR(mounter_->BindMount(source, target, published.readonly, published.mount_flags));
  }
  return absl::OkStatus();
}

void NodeServiceImpl::HealthLoop() {
  for (;;) {
    std::vector<Attachment> all;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                           absl::Milliseconds(options_.health_interval.count()));
      if (stopping_) return;
      for (const auto& [id, a] : records_) all.push_back(a);
    }
    for (const auto& a : all) {
      if (a.mode != attacher_->Mode()) continue;
      // A volume busy with a CSI call is that call's business.
      auto guard = inflight_.Acquire(a.volume_id);
      if (!guard.ok()) continue;
      auto current = Find(a.volume_id);
      if (!current) continue;
      absl::Status st = Heal(*current);
      if (!st.ok()) spdlog::warn("volume {}: {}", a.volume_id, st.ToString());
    }
  }
}

}  // namespace syncblock::csi
