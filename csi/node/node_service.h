// The CSI Node service of syncblock (spec v1: NodeStageVolume ..
// NodeGetInfo). Staging attaches the volume's NBD export as a local block
// device (kernel NBD over netlink, or our FUSE export + loop device), makes a
// filesystem on a blank volume and mounts it at the staging path; publishing
// bind-mounts that (or the device file, for block volumes) at the target path.
// Every attachment is recorded in the state directory; a restarted plugin
// re-adopts them, reconnecting what died.
//
// Thread-safe: gRPC calls arrive on many threads; calls on one volume are
// serialised by an in-flight guard (a concurrent second call gets ABORTED).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "csi/proto/csi.grpc.pb.h"

namespace syncblock::repl::initiator {
class PrimaryResolver;
}  // namespace syncblock::repl::initiator

namespace syncblock::csi {

class Attacher;
class Mounter;

struct NodeServiceOptions {
  std::string node_id;   // REQUIRED: NodeGetInfo's node_id
  std::string zone;      // topology.csi.syncblock.dev/zone ("" = none)
  std::string hostname;  // kubernetes.io/hostname; "" = gethostname()
  std::string state_dir = "/var/lib/syncblock/csi-node";
  std::string attach_mode = "auto";  // auto | nbd | fuse
  // The syncblock executable whose `fuse-export` serves fuse attachments;
  // "" = this process's own (the plugin is `syncblock csi`).
  std::string syncblock_binary;
  // host:port of the storage nodes' control API; asked for the primary when
  // the publish context's nbdUri does not answer.
  std::function<std::vector<std::string>()> storage_control_addresses;
  // NodeGetInfo's max_volumes_per_node, and the most volumes Stage attaches.
  // 0: the attach path's limit when MakeNodeService builds the attacher
  // (DefaultMaxVolumes), no limit with an injected one.
  int64_t max_volumes = 0;
  // How often attachments are checked and dead ones reconnected; 0: never
  // (start-up re-adoption still runs).
  std::chrono::milliseconds health_interval = std::chrono::seconds(10);
  // Unlocks an encrypted volume on its replicas with the secret NodeStage
  // was given (encryptionPassphrase), when its primary refuses this node
  // because it is locked: every replica restarted and none holds the key.
  // Null: a locked volume waits for ControllerPublishVolume or `ctl volume
  // unlock`.
  std::function<absl::Status(const std::string& volume_id, const std::string& secret)>
      unlock_volume;

  // Seams for tests; null means the real (Linux) implementation.
  std::shared_ptr<Mounter> mounter;
  std::shared_ptr<Attacher> attacher;
  std::shared_ptr<repl::initiator::PrimaryResolver> resolver;
};

// Builds the service and re-adopts the attachments recorded in state_dir.
// INVALID_ARGUMENT for a missing node_id or an unknown attach mode;
// FAILED_PRECONDITION for attach mode "nbd" without the nbd module.
absl::StatusOr<std::unique_ptr<::csi::v1::Node::Service>> MakeNodeService(
    const NodeServiceOptions& options);

// The most volumes an attach mode can hold on this machine: "nbd", the nbd
// devices the module made (its nbds_max parameter; each attachment takes one);
// "fuse", kFuseMaxVolumes.
int64_t DefaultMaxVolumes(const std::string& resolved_mode);
// Each fuse attachment is a `syncblock fuse-export` process (a few MiB, a
// FUSE connection and NBD sockets) plus a loop device: 128 keeps a node's
// memory and descriptors for them bounded while leaving room for a dense node.
inline constexpr int64_t kFuseMaxVolumes = 128;

// The attach mode "auto" resolves to: "nbd" when the kernel module is there
// (or loads), else "fuse".
std::string ResolveAttachMode(const std::string& mode);

}  // namespace syncblock::csi
