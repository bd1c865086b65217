// `syncblock fuse-export`: our own FUSE front end for an NBD export, used by
// the fuse attach path (csi/node/fuse_loop_attacher.h) in place of nbdfuse because its
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
// device see it).
//
// Failover: given the volume id and the storage nodes' control addresses, it
// follows the primary itself (primary_follower.h): IO whose connection is
// lost is held, the new primary is found and the IO resent, with the file,
// the loop device on it and the mount above unchanged; only when no primary
// appears within `failover_timeout` does a request fail with EIO. Each move
// is logged, and the URI served now is written to `uri_file` so the attacher
// knows where the volume is served without restarting anything.
//
// Runs in the foreground (the attacher starts it detached, in a session of its
// own, logging to a file); writes --pidfile once the mount is in place; exits
// 0 when the mount is unmounted or on SIGTERM/SIGINT (unmounting then).
// The process names itself "syncblock-fuse" (/proc/PID/comm), so the attacher
// can tell it from an unrelated process that reused its pid.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace syncblock::repl::initiator {

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
  // Following the primary (empty volume_id: reconnect to `uri` only).
  std::string volume_id;
  std::vector<std::string> control_addresses;  // host:port of StorageControl
  std::chrono::milliseconds failover_timeout = std::chrono::seconds(120);
  std::string uri_file;  // "" = none; the URI served now, rewritten on each move
};

// Connects, mounts and serves until unmounted or signalled. Errors: the
// export cannot be reached (UNAVAILABLE/NOT_FOUND), the mount fails
// (INTERNAL).
absl::Status RunFuseExport(const FuseExportOptions& options);

}  // namespace syncblock::repl::initiator
