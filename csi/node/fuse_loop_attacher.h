// Attaches a volume where the kernel has no nbd module: `syncblock
// fuse-export` (fuse_export.h, our libfuse3 server) exposes the export as the
// file `<dir>/disk`, and a loop device (direct IO, so the page cache is not
// doubled) turns the file into a block device.
//
// The FUSE server is a process of its own, started detached (in a session of
// its own, logging to `<dir>.log`): it must outlive the plugin (a restarted
// plugin must not take the volumes of running pods down), and a multithreaded
// gRPC server cannot fork one safely. It replaced nbdfuse because nbdfuse's
// file cannot grow; attachments made by nbdfuse before are still checked,
// detached and reconnected (on our server), but not resized in place.
//
// Failover: our server follows the volume's primary by itself (it is given
// the volume id and the storage nodes' control addresses; fuse_export.h):
// IO is held while the primary moves, and the loop device, the mounts on it
// and the application's open files stay. It records the URI it serves in
// `<dir>.uri`; Check probes that URI, and Reconnect leaves a live following
// server alone (it returns the same device). Only a server that died, a loop
// device that lost its file, or a server that cannot follow (nbdfuse, ours
// from an older plugin without `<dir>.uri`, or one given no control
// addresses) is replaced: Reconnect
// kills the old server (so nothing more reaches the old primary through it),
// then starts a new one and a new loop device; the caller remounts.
//
// Resize: SIGHUP makes the server re-read the export's size, the next stat()
// of the file shows it, and `losetup -c` (LOOP_SET_CAPACITY) passes it to the
// loop device, with no IO stopped.
//
// Thread-safe: no mutable state.
#pragma once

#include <chrono>
#include <string>

#include "csi/node/attacher.h"

namespace syncblock::csi {

class FuseLoopAttacher : public Attacher {
 public:
  // Mount directories and FUSE server logs go under `<state_dir>/fuse/`.
  // `syncblock_binary` runs the FUSE server (`<it> fuse-export`); "" means
  // this process's own executable (the plugin is `syncblock csi`).
  // `failover_timeout` is how long the server holds IO without a primary
  // before failing it (`fuse-export --failover-timeout`, whole seconds).
  explicit FuseLoopAttacher(std::string state_dir,
                            std::chrono::milliseconds ready_timeout = std::chrono::seconds(30),
                            std::string syncblock_binary = "",
                            std::chrono::milliseconds failover_timeout = std::chrono::seconds(120));

  std::string Mode() const override { return "fuse"; }
  absl::StatusOr<Attachment> Attach(const AttachRequest& request) override;
  absl::Status Detach(const Attachment& attachment) override;
  absl::Status Check(const Attachment& attachment) override;
  absl::StatusOr<Attachment> Reconnect(const Attachment& attachment,
                                       const std::string& nbd_uri) override;
  absl::StatusOr<Attachment> Resize(const Attachment& attachment) override;

  // The file a loop device shows as its backing file ("" when unbound), without
  // the kernel's " (deleted)" mark.
  static std::string LoopBackingFile(const std::string& device);
  // The URI the attachment's server is connected to now (it may have
  // followed the primary since Attach), or a.nbd_uri.
  static std::string CurrentUri(const Attachment& a);

 private:
  static std::string UriFile(const std::string& fuse_dir);
  // Whether the server was started to follow the primary (a URI file and
  // control addresses to ask).
  static bool FollowsPrimary(const Attachment& a);
  // The server runs and the loop device still sits on its file.
  static bool ServingFile(const Attachment& a);

  // Unmounts the FUSE directory and waits for its server to exit.
  absl::Status StopFuse(const std::string& dir, pid_t pid);

  std::string root_;
  std::chrono::milliseconds ready_timeout_;
  std::string binary_;
  std::chrono::milliseconds failover_timeout_;
};

// Whether `pid` is a FUSE server of ours (or an nbdfuse of an older plugin),
// not an unrelated process that reused the pid.
bool IsFuseServer(pid_t pid);

}  // namespace syncblock::csi
