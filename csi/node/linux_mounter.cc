#include "csi/node/linux_mounter.h"

#include <sys/mount.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "csi/node/exec.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

absl::StatusOr<std::string> ReadMountInfo() {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return absl::InternalError("cannot read /proc/self/mountinfo");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The canonical path, or "" when it does not exist.
absl::StatusOr<std::string> Canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return std::string();
    // A dead FUSE mount answers ENOTCONN: it is still a mount point.
    if (errno == ENOTCONN || errno == EIO) return path;
    return absl::InternalError(absl::StrCat("realpath ", path, ": ", std::strerror(errno)));
  }
  return std::string(buf);
}

}  // namespace

absl::Status LinuxMounter::Mount(const std::string& source, const std::string& target,
                                 const std::string& fstype,
                                 const std::vector<std::string>& options) {
  std::vector<std::string> argv = {"mount"};
  if (!fstype.empty()) argv.insert(argv.end(), {"-t", fstype});
  if (!options.empty()) argv.insert(argv.end(), {"-o", absl::StrJoin(options, ",")});
  argv.insert(argv.end(), {source, target});
  return ExecChecked(argv).status();
}

absl::Status LinuxMounter::BindMount(const std::string& source, const std::string& target,
                                     bool readonly, const std::vector<std::string>& options) {
  RETURN_IF_ERROR(ExecChecked({"mount", "--bind", source, target}).status());
  if (!readonly && options.empty()) return absl::OkStatus();
  // A bind mount ignores flags on the first call; they take a remount.
  std::vector<std::string> remount = {"remount", "bind"};
  if (readonly) remount.push_back("ro");
  remount.insert(remount.end(), options.begin(), options.end());
  absl::Status st = ExecChecked({"mount", "-o", absl::StrJoin(remount, ","), target}).status();
  if (!st.ok()) {
    // Never leave a writable bind where a read-only one was asked for.
    umount2(target.c_str(), MNT_DETACH);
    return st;
  }
  return absl::OkStatus();
}

absl::Status LinuxMounter::Unmount(const std::string& target) {
  if (umount2(target.c_str(), 0) == 0) return absl::OkStatus();
  int err = errno;
  if (err == EINVAL || err == ENOENT) {
    return absl::NotFoundError(absl::StrCat("nothing mounted at ", target));
  }
  if (err == EBUSY) {
    return absl::FailedPreconditionError(absl::StrCat("unmount ", target, ": still in use"));
  }
  return absl::InternalError(absl::StrCat("unmount ", target, ": ", std::strerror(err)));
}

absl::Status LinuxMounter::DetachMount(const std::string& target) {
  if (umount2(target.c_str(), MNT_DETACH) == 0 || errno == EINVAL || errno == ENOENT) {
    return absl::OkStatus();
  }
  return absl::InternalError(absl::StrCat("unmount -l ", target, ": ", std::strerror(errno)));
}

absl::StatusOr<bool> LinuxMounter::IsMountPoint(const std::string& path) {
  ASSIGN_OR_RETURN(std::string source, MountSource(path));
  return !source.empty();
}

absl::StatusOr<std::string> LinuxMounter::MountSource(const std::string& path) {
  ASSIGN_OR_RETURN(std::string canonical, Canonical(path));
  if (canonical.empty()) return std::string();
  ASSIGN_OR_RETURN(std::string text, ReadMountInfo());
  std::string source;
  bool found = false;
  // The last entry for a path is the one on top.
  for (const auto& e : ParseMountInfo(text)) {
    if (e.mount_point == canonical) {
      source = e.source;
      found = true;
    }
  }
  if (found && source.empty()) source = "none";
  return source;
}

absl::StatusOr<std::string> LinuxMounter::DetectFilesystem(const std::string& device) {
  // -p probes the device itself rather than the blkid cache, which may be stale.
  ASSIGN_OR_RETURN(ExecResult r, Exec({"blkid", "-p", "-o", "export", device}));
  // blkid exits 2 when it finds no signature at all.
  if (r.exit_code == 2) return std::string();
  if (r.exit_code != 0) {
    return absl::InternalError(
        absl::StrCat("blkid ", device, " failed (exit ", r.exit_code, "): ", r.output));
  }
  std::string type, pttype;
  for (absl::string_view line : absl::StrSplit(r.output, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "TYPE=")) type = std::string(line.substr(5));
    if (absl::StartsWith(line, "PTTYPE=")) pttype = std::string(line.substr(7));
  }
  if (!type.empty()) return type;
  // A partition table is data too: never format over it.
  if (!pttype.empty()) return absl::StrCat("partition-table:", pttype);
  return std::string("unknown");
}

absl::Status LinuxMounter::MakeFilesystem(const std::string& device, const std::string& fstype) {
  // No discard pass: the volume is new, so it is already zeros on every replica.
  if (fstype == "ext4") {
    return ExecChecked({"mkfs.ext4", "-F", "-q", "-E", "nodiscard", device},
                       std::chrono::minutes(10))
        .status();
  }
  if (fstype == "xfs") {
    return ExecChecked({"mkfs.xfs", "-f", "-q", "-K", device}, std::chrono::minutes(10)).status();
  }
  return absl::InvalidArgumentError(absl::StrCat("unsupported filesystem type \"", fstype, "\""));
}

absl::Status LinuxMounter::CheckFilesystem(const std::string& device, const std::string& fstype) {
  if (fstype == "xfs") {
    // XFS replays its log at mount time and has no safe automatic repair.
    return absl::OkStatus();
  }
  if (fstype == "ext4" || fstype == "ext3" || fstype == "ext2") {
    ASSIGN_OR_RETURN(ExecResult r, Exec({"e2fsck", "-p", device}, std::chrono::minutes(30)));
    // 1 and 2: errors were corrected. 4 and up: left uncorrected, or failed.
    if (r.exit_code >= 0 && r.exit_code < 4) return absl::OkStatus();
    return absl::DataLossError(absl::StrCat(
        "e2fsck -p ", device, " found errors it cannot fix (exit ", r.exit_code, "): ", r.output));
  }
  return absl::OkStatus();
}

absl::Status LinuxMounter::ResizeFilesystem(const std::string& device,
                                            const std::string& mount_path,
                                            const std::string& fstype) {
  if (fstype == "xfs") return ExecChecked({"xfs_growfs", mount_path}).status();
  if (fstype == "ext4" || fstype == "ext3") return ExecChecked({"resize2fs", device}).status();
  return absl::InvalidArgumentError(absl::StrCat("cannot resize filesystem type \"", fstype, "\""));
}

}  // namespace syncblock::csi
