// Progress of a filesystem or block device growing under NodeExpandVolume.
// Neither resize2fs nor xfs_growfs reports progress on a mounted filesystem,
// so what is shown is what the kernel says of the target's size now
// (statvfs for a mount, BLKGETSIZE64 for a block device) against the size
// asked for, with the rate and the time spent.
//
// Thread-safe: functions of their arguments; MeasuredSize reads the system.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "driver/terminal.h"

namespace syncblock::driver {

struct Growth {
  uint64_t from = 0;     // the size measured before the node grew it
  uint64_t now = 0;      // the size measured last
  uint64_t to = 0;       // the capacity asked for
  double elapsed_s = 0;  // since the node was asked
  bool done = false;     // the node answered
};

// The size the kernel gives `path` now: a block device's bytes, or a mounted
// filesystem's (blocks times fragment size, so a little less than its device).
absl::StatusOr<uint64_t> MeasuredSize(const std::string& path);

// 0..1. While the node works it stops at 0.99: a filesystem never reaches its
// device's size (its metadata takes some), so only the answer means done.
double GrowthFraction(const Growth& g);

// One line for a terminal, fitted to style.width:
//   growing /mnt/x  [=========>      ]  45%  1.1 GiB / 1.5 GiB  40.0 MiB/s  3 s
std::string RenderGrowthLine(const std::string& path, const Growth& g, const TermStyle& style);

// The same without a bar, for logs and pipes:
//   growing /mnt/x: 45%, 1.1 GiB of 1.5 GiB, 40.0 MiB/s, 3 s so far
std::string RenderGrowthPlain(const std::string& path, const Growth& g);

}  // namespace syncblock::driver
