// How the node plugin turns a volume's NBD export into a local block device.
// Two implementations: NbdNetlinkAttacher (the kernel NBD client, configured
// over generic netlink) and FuseLoopAttacher (our FUSE export + a loop device, where
// the nbd module is missing). An Attachment is plain data, recorded in the
// state directory (attachment_store.h) so a restarted plugin can re-adopt it.
//
// Implementations are thread-safe; the Node service never runs two calls on
// the same volume at once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace syncblock::csi {

// How one target path was published (NodePublishVolume): what a remount of
// the target after a reconnect must restore exactly.
struct PublishOptions {
  bool readonly = false;
  std::vector<std::string> mount_flags;  // per-mount flags of the bind (noexec, ...)
  bool operator==(const PublishOptions&) const = default;
};

struct Attachment {
  std::string volume_id;
  std::string mode;     // "nbd" | "fuse"
  std::string device;   // /dev/nbdN or /dev/loopN
  std::string nbd_uri;  // where it was connected (fuse: the server may have followed the primary)
  bool readonly = false;
  // host:port of the storage nodes' control API: where a FUSE server asks
  // for the primary after a failover.
  std::vector<std::string> control_addresses;
  uint64_t size_bytes = 0;
  // fuse: the FUSE server process and its mount directory (the file is `disk` in it).
  pid_t fuse_pid = 0;
  std::string fuse_dir;
  // nbd: the kernel device index.
  int nbd_index = -1;
  // What the Node service did on top of the device.
  std::string staging_path;
  bool block = false;  // raw block volume: no filesystem
  std::string fs_type;
  std::vector<std::string> mount_flags;    // of the staging mount
  std::vector<std::string> publish_paths;  // target paths bind-mounted from it
  // Each target's own options, by target path. A record written before they
  // were kept has none: its targets get the stage's readonly and no flags.
  std::map<std::string, PublishOptions> publish_options;
};

struct AttachRequest {
  std::string volume_id;
  std::string nbd_uri;
  bool readonly = false;
  std::vector<std::string> control_addresses;  // see Attachment
};

class Attacher {
 public:
  virtual ~Attacher() = default;
  virtual std::string Mode() const = 0;
  // Connects the export and returns the attachment (device set). On failure
  // nothing is left behind.
  virtual absl::StatusOr<Attachment> Attach(const AttachRequest& request) = 0;
  // Undoes Attach. Idempotent: parts already gone are skipped.
  virtual absl::Status Detach(const Attachment& attachment) = 0;
  // OK when the device still serves IO; UNAVAILABLE saying why not.
  virtual absl::Status Check(const Attachment& attachment) = 0;
  // Brings a recorded attachment back to health, connecting to `nbd_uri` (the
  // current primary, which may have moved). Keeps the device when the
  // implementation can (netlink RECONFIGURE); otherwise returns a new device
  // and the caller must redo what sat on the old one.
  virtual absl::StatusOr<Attachment> Reconnect(const Attachment& attachment,
                                               const std::string& nbd_uri) = 0;
  // Makes the device show the export's current size (after the volume grew),
  // online, and returns the attachment with size_bytes updated. Idempotent.
  virtual absl::StatusOr<Attachment> Resize(const Attachment& /*attachment*/) {
    return absl::UnimplementedError(Mode() + " attachments cannot be resized");
  }
};

}  // namespace syncblock::csi
