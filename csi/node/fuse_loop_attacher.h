// Attaches a volume where the kernel has no nbd module: nbdfuse (libnbd's FUSE
// front end, from Debian) exposes the export as the file `<dir>/disk`, and a
// loop device (direct IO, so the page cache is not doubled) turns the file into
// a block device.
//
// Why nbdfuse and not our own libfuse3 server: the FUSE server must outlive
// the plugin process (a restarted plugin must not take the volumes of running
// pods down), so it has to be a process of its own, and a multithreaded gRPC
// server cannot fork one safely; nbdfuse is that process, already tested
// against every NBD server, with multi-connection. The cost: it does not
// reconnect, so a change of primary is handled by Reconnect (the old nbdfuse
// is killed so nothing more reaches the old primary through it, then a new
// nbdfuse and loop device; the caller remounts). Check probes the export with
// an NBD handshake, since nbdfuse outlives its server silently.
//
// nbdfuse is started in a session of its own and is not killed when the plugin
// exits. Thread-safe: no mutable state.
#pragma once

#include <chrono>
#include <string>

#include "csi/node/attacher.h"

namespace syncblock::csi {

class FuseLoopAttacher : public Attacher {
 public:
  // Mount directories and nbdfuse logs go under `<state_dir>/fuse/`.
  explicit FuseLoopAttacher(std::string state_dir,
                            std::chrono::milliseconds ready_timeout = std::chrono::seconds(30));

  std::string Mode() const override { return "fuse"; }
  absl::StatusOr<Attachment> Attach(const AttachRequest& request) override;
  absl::Status Detach(const Attachment& attachment) override;
  absl::Status Check(const Attachment& attachment) override;
  absl::StatusOr<Attachment> Reconnect(const Attachment& attachment,
                                       const std::string& nbd_uri) override;

  // The file a loop device shows as its backing file ("" when unbound).
  static std::string LoopBackingFile(const std::string& device);

 private:
  // Unmounts the FUSE directory and waits for nbdfuse to exit.
  absl::Status StopFuse(const std::string& dir, pid_t pid);

  std::string root_;
  std::chrono::milliseconds ready_timeout_;
};

}  // namespace syncblock::csi
