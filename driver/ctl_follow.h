// Following long operations: a volume's replicas while they are copied into
// (resync, the full copy of a new replica or of a clone) until every one is in
// sync, which is what `ctl resync-status --watch` and the `--wait` of `resync`,
// `replica add` and `volume create --from-...` do; and a filesystem growing
// under `ctl csi expand --path`.
//
// On a terminal the screen region is redrawn in place: the resync table (when
// asked for) and one progress bar per replica being copied. Not on a
// terminal: plain timestamped lines; with -o json one JSON document a line.
//
// Thread-compatible: runs in the command's thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "driver/ctl_dispatch.h"

namespace syncblock::driver {

struct FollowOptions {
  std::chrono::milliseconds interval{1000};
  // Give up (ABORTED, exit 1) after this long; 0 = never.
  std::chrono::seconds timeout{0};
  // Show the resync table above the progress bars (resync-status --watch).
  bool table = false;
};

// --interval-ms and --timeout of the command, checked (a usage error if bad).
absl::StatusOr<FollowOptions> FollowFlags(const Flags& flags);

// The flags FollowFlags reads, for a command's --help.
CtlCommand& WithFollowFlags(CtlCommand& command);

// Polls the volume every `options.interval` and shows its progress until its
// replicas are all in sync and its primary serves it.
absl::Status FollowVolume(CtlContext& ctx, const std::string& volume, const FollowOptions& options);

// Runs `grow` (NodeExpandVolume, which returns once the node has grown the
// device and its filesystem) on a thread of its own while showing the size of
// `path` on its way to `to` bytes. Returns what `grow` returned.
absl::Status FollowGrowth(CtlContext& ctx, const std::string& path, uint64_t to,
                          const std::function<absl::Status()>& grow);

}  // namespace syncblock::driver
