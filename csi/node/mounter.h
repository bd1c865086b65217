// The node plugin's seam to the host's mount table and filesystem tools:
// mount, bind mount, unmount, mount-point detection, and making, checking,
// detecting and growing ext4/xfs filesystems. LinuxMounter (linux_mounter.h)
// runs the real thing; tests of the Node service use a fake.
//
// Implementations are thread-safe; callers serialise work on one path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace syncblock::csi {

class Mounter {
 public:
  virtual ~Mounter() = default;

  // mount -t fstype -o options source target.
  virtual absl::Status Mount(const std::string& source, const std::string& target,
                             const std::string& fstype,
                             const std::vector<std::string>& options) = 0;
  // Bind mounts `source` (a directory or a device file) on `target`;
  // read-only when `readonly`, with `options` added to the remount.
  virtual absl::Status BindMount(const std::string& source, const std::string& target,
                                 bool readonly, const std::vector<std::string>& options) = 0;
  // Unmounts `target`. NOT_FOUND when nothing is mounted there.
  virtual absl::Status Unmount(const std::string& target) = 0;
  // Detaches the mount at `target` now even when busy (umount -l): for mounts
  // on a device that died, whose users can only get errors from it anyway.
  virtual absl::Status DetachMount(const std::string& target) = 0;
  // Whether `path` is the mount point of some mount (per /proc/self/mountinfo).
  // A path that does not exist is not a mount point.
  virtual absl::StatusOr<bool> IsMountPoint(const std::string& path) = 0;
  // The source device of the mount at `path` ("" when not a mount point).
  virtual absl::StatusOr<std::string> MountSource(const std::string& path) = 0;

  // The filesystem type on `device` ("ext4", "xfs", ...), "" when the device is
  // blank. An unrecognised signature is reported as its type, never as blank,
  // so a volume with data is not formatted.
  virtual absl::StatusOr<std::string> DetectFilesystem(const std::string& device) = 0;
  // mkfs.<fstype> on `device`. ext4 and xfs only.
  virtual absl::Status MakeFilesystem(const std::string& device, const std::string& fstype) = 0;
  // Replays/repairs what a crash left so the mount can succeed; fails when the
  // filesystem is damaged beyond an automatic repair.
  virtual absl::Status CheckFilesystem(const std::string& device, const std::string& fstype) = 0;
  // Grows the filesystem mounted at `mount_path` (on `device`) to fill it.
  virtual absl::Status ResizeFilesystem(const std::string& device, const std::string& mount_path,
                                        const std::string& fstype) = 0;
};

// One line of /proc/self/mountinfo, the parts we use.
struct MountInfoEntry {
  std::string mount_point;  // unescaped
  std::string root;         // path inside the mounted filesystem (bind mounts)
  std::string fstype;
  std::string source;
  std::string options;  // per-mount options ("rw,relatime")
};

// Parses mountinfo text (proc(5)); lines it cannot parse are skipped.
std::vector<MountInfoEntry> ParseMountInfo(const std::string& text);

}  // namespace syncblock::csi
