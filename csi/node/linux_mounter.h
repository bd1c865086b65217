// Mounter over the host: mount(8) for mounts (it knows every fstype's option
// syntax), umount2(2), /proc/self/mountinfo, blkid, mkfs.ext4/mkfs.xfs,
// e2fsck, resize2fs and xfs_growfs.
//
// Thread-safe: no state.
#pragma once

#include "csi/node/mounter.h"

namespace syncblock::csi {

class LinuxMounter : public Mounter {
 public:
  absl::Status Mount(const std::string& source, const std::string& target,
                     const std::string& fstype, const std::vector<std::string>& options) override;
  absl::Status BindMount(const std::string& source, const std::string& target, bool readonly,
                         const std::vector<std::string>& options) override;
  absl::Status Unmount(const std::string& target) override;
  absl::Status DetachMount(const std::string& target) override;
  absl::StatusOr<bool> IsMountPoint(const std::string& path) override;
  absl::StatusOr<std::string> MountSource(const std::string& path) override;
  absl::StatusOr<std::string> DetectFilesystem(const std::string& device) override;
  absl::Status MakeFilesystem(const std::string& device, const std::string& fstype) override;
  absl::Status CheckFilesystem(const std::string& device, const std::string& fstype) override;
  absl::Status ResizeFilesystem(const std::string& device, const std::string& mount_path,
                                const std::string& fstype) override;
};

}  // namespace syncblock::csi
