// `syncblock fuse-export`: our own FUSE front end for an NBD export, used by
// the fuse attach path (fuse_loop_attacher.h) in place of nbdfuse because its
// file can grow. The mount directory holds one regular file, `disk`, whose
// size is the export's; reads, writes, fsync/flush and fallocate
// (PUNCH_HOLE -> NBD_CMD_TRIM, ZERO_RANGE -> NBD_CMD_WRITE_ZEROES) go to the
// export through a pool of NBD connections (nbd_pool.h), served by libfuse's
// multithreaded loop. Every file is opened direct_io and attributes are never
// cached, so the loop device's O_DIRECT IO reaches NBD without a page cache in
// between and every stat() asks us for the size.
//
// Growing: on SIGHUP the process reconnects to the export and re-reads its
// size; the next stat() of `disk` shows it (then `losetup -c` lets the loop
// device see it). It does not follow a moving primary itself: the attacher
// restarts it on the new URI, as it did nbdfuse.
//
// Runs in the foreground (the attacher starts it detached, in a session of its
// own, logging to a file); writes --pidfile once the mount is in place; exits
// 0 when the mount is unmounted or on SIGTERM/SIGINT (unmounting then).
// The process names itself "syncblock-fuse" (/proc/PID/comm), so the attacher
// can tell it from an unrelated process that reused its pid.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace syncblock::csi {

inline constexpr char kFuseExportProcessName[] = "syncblock-fuse";
inline constexpr char kFuseExportFileName[] = "disk";

struct FuseExportOptions {
  std::string mountpoint;
  std::string uri;  // nbd://host:port/export
  // 8 keeps up with nbdfuse's pipelined requests on 4K random IO at queue
  // depth 32 (fio figures in the issue 4 report).
  int connections = 8;
  bool readonly = false;
  std::string pidfile;  // "" = none
};

// Connects, mounts and serves until unmounted or signalled. Errors: the
// export cannot be reached (UNAVAILABLE/NOT_FOUND), the mount fails
// (INTERNAL).
absl::Status RunFuseExport(const FuseExportOptions& options);

}  // namespace syncblock::csi
