#include "csi/node/fuse_loop_attacher.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "csi/node/exec.h"
#include "csi/node/linux_mounter.h"
#include "replication/initiator/fuse_export.h"
#include "replication/initiator/nbd_client.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/security/grpc_credentials.h"
#include "replication/security/tls_args.h"
#include "replication/util/status_macros.h"
#include "spdlog/spdlog.h"

namespace syncblock::csi {
namespace {

using repl::initiator::NbdConnect;
using repl::initiator::NbdConnection;
using repl::initiator::NbdUri;
using repl::initiator::ParseNbdUri;

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string SafeName(const std::string& volume_id) {
  std::string out;
  for (unsigned char c : volume_id) {
    out += (std::isalnum(c) || c == '-' || c == '_') ? static_cast<char>(c) : '_';
  }
  // Different IDs may map to one safe name; a hash keeps them apart.
  return absl::StrCat(out.substr(0, 64), "-", std::hash<std::string>{}(volume_id) % 1000000007);
}

std::string LogTail(const std::string& path) {
  std::string text = ReadSmallFile(path);
  if (text.size() > 2000) text = text.substr(text.size() - 2000);
  return std::string(absl::StripAsciiWhitespace(text));
}

absl::StatusOr<uint64_t> FileSize(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return absl::UnavailableError(absl::StrCat("stat ", path, ": ", std::strerror(errno)));
  }
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<uint64_t> BlockDeviceSize(const std::string& device) {
  int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("open ", device, ": ", std::strerror(errno)));
  }
  uint64_t size = 0;
  int rc = ioctl(fd, BLKGETSIZE64, &size);
  int err = errno;
  close(fd);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("BLKGETSIZE64 ", device, ": ", std::strerror(err)));
  }
  return size;
}

std::string OwnExecutable() {
  std::error_code ec;
  auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "syncblock" : path.string();
}

}  // namespace

bool IsFuseServer(pid_t pid) {
  if (pid <= 0) return false;
  std::string comm(absl::StripAsciiWhitespace(ReadSmallFile(absl::StrCat("/proc/", pid, "/comm"))));
  return comm == repl::initiator::kFuseExportProcessName || comm == "nbdfuse";
}

FuseLoopAttacher::FuseLoopAttacher(std::string state_dir, std::chrono::milliseconds ready_timeout,
                                   std::string syncblock_binary,
                                   std::chrono::milliseconds failover_timeout)
    : root_(std::move(state_dir) + "/fuse"),
      ready_timeout_(ready_timeout),
      binary_(syncblock_binary.empty() ? OwnExecutable() : std::move(syncblock_binary)),
      failover_timeout_(failover_timeout) {}

std::string FuseLoopAttacher::LoopBackingFile(const std::string& device) {
  std::string name = std::filesystem::path(device).filename();
  std::string text = ReadSmallFile(absl::StrCat("/sys/block/", name, "/loop/backing_file"));
  // A dead FUSE server's file has its dentry invalidated (we never let the
  // kernel cache one), and the kernel then shows it " (deleted)": still ours,
  // and still to be detached.
  return std::string(absl::StripSuffix(absl::StripAsciiWhitespace(text), " (deleted)"));
}

absl::StatusOr<Attachment> FuseLoopAttacher::Attach(const AttachRequest& request) {
  const std::string dir = absl::StrCat(root_, "/", SafeName(request.volume_id));
  const std::string pidfile = dir + ".pid";
  const std::string log = dir + ".log";
  const std::string file = dir + "/disk";
  LinuxMounter mounter;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", dir, ": ", ec.message()));
  // A mount left by a crashed attach would hide the new one.
  ASSIGN_OR_RETURN(bool stale, mounter.IsMountPoint(dir));
  if (stale) (void)Exec({"fusermount3", "-u", "-z", dir});
  std::filesystem::remove(pidfile, ec);
  std::filesystem::remove(UriFile(dir), ec);

  std::vector<std::string> argv = {
      binary_,     "fuse-export", "--mountpoint", dir,          "--uri",       request.nbd_uri,
      "--pidfile", pidfile,       "--uri-file",   UriFile(dir), "--volume-id", request.volume_id};
  if (!request.control_addresses.empty()) {
    argv.push_back("--control-addresses");
    argv.push_back(absl::StrJoin(request.control_addresses, ","));
  }
  argv.push_back("--failover-timeout");
  argv.push_back(std::to_string(std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(failover_timeout_).count())));
  if (request.readonly) argv.push_back("--readonly");
  // The server asks the storage nodes for a new primary as this plugin does:
  // with the plugin's certificate.
  if (auto tls = repl::initiator::NbdClientTls()) {
    for (auto& arg : security::TlsArgs(*tls)) argv.push_back(std::move(arg));
  }
  ASSIGN_OR_RETURN(pid_t pid, SpawnDetached(argv, log));

  // The server writes its pid file once the file is served.
  auto deadline = std::chrono::steady_clock::now() + ready_timeout_;
  for (;;) {
    if (!absl::StripAsciiWhitespace(ReadSmallFile(pidfile)).empty()) break;
    if (ProcessGone(pid)) {
      return absl::UnavailableError(absl::StrCat("FUSE server for volume ", request.volume_id, " (",
                                                 request.nbd_uri, ") exited: ", LogTail(log)));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      (void)StopFuse(dir, pid);
      return absl::DeadlineExceededError(
          absl::StrCat("FUSE server for volume ", request.volume_id, " not ready: ", LogTail(log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  std::vector<std::string> losetup = {"losetup", "--find", "--show", "--direct-io=on"};
  if (request.readonly) losetup.push_back("--read-only");
  losetup.push_back(file);
  auto out = ExecChecked(losetup);
  if (!out.ok()) {
    (void)StopFuse(dir, pid);
    return out.status();
  }
  Attachment a;
  a.volume_id = request.volume_id;
  a.mode = Mode();
  a.device = std::string(absl::StripAsciiWhitespace(*out));
  a.nbd_uri = request.nbd_uri;
  a.readonly = request.readonly;
  a.control_addresses = request.control_addresses;
  a.fuse_pid = pid;
  a.fuse_dir = dir;
  struct stat st {};
  if (stat(file.c_str(), &st) == 0) a.size_bytes = static_cast<uint64_t>(st.st_size);
  return a;
}

absl::Status FuseLoopAttacher::StopFuse(const std::string& dir, pid_t pid) {
  LinuxMounter mounter;
  auto mounted = mounter.IsMountPoint(dir);
  if (mounted.ok() && *mounted) {
    auto r = Exec({"fusermount3", "-u", dir});
    // Busy (a loop device still clearing): detach lazily; the server exits once
    // the last user lets go.
    if (!r.ok() || r->exit_code != 0) (void)Exec({"fusermount3", "-u", "-z", dir});
  }
  if (IsFuseServer(pid)) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ProcessGone(pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!ProcessGone(pid) && IsFuseServer(pid)) {
      spdlog::warn("FUSE server pid {} did not exit after unmount of {}; killing it", pid, dir);
      kill(pid, SIGKILL);
    }
  } else {
    ProcessGone(pid);  // reap it if it is our zombie
  }
  return absl::OkStatus();
}

absl::Status FuseLoopAttacher::Detach(const Attachment& a) {
  const std::string file = a.fuse_dir + "/disk";
  if (!a.device.empty() && LoopBackingFile(a.device) == file) {
    // On a device still open the kernel defers the clear (autoclear) and says OK.
    RETURN_IF_ERROR(ExecChecked({"losetup", "--detach", a.device}).status());
  }
  if (!a.fuse_dir.empty()) {
    RETURN_IF_ERROR(StopFuse(a.fuse_dir, a.fuse_pid));
    std::error_code ec;
    std::filesystem::remove(a.fuse_dir, ec);
    std::filesystem::remove(a.fuse_dir + ".pid", ec);
    std::filesystem::remove(a.fuse_dir + ".log", ec);
    std::filesystem::remove(UriFile(a.fuse_dir), ec);
  }
  return absl::OkStatus();
}

absl::Status FuseLoopAttacher::Check(const Attachment& a) {
  if (a.fuse_pid <= 0 || ProcessGone(a.fuse_pid) || !IsFuseServer(a.fuse_pid)) {
    return absl::UnavailableError(absl::StrCat("FUSE server of volume ", a.volume_id, " (pid ",
                                               a.fuse_pid, ") is not running"));
  }
  const std::string file = a.fuse_dir + "/disk";
  if (LoopBackingFile(a.device) != file) {
    return absl::UnavailableError(absl::StrCat(a.device, " is no longer bound to ", file));
  }
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) {
    return absl::UnavailableError(absl::StrCat(file, " is not reachable: ", std::strerror(errno)));
  }
  // Ask the export the server uses now whether it still serves the volume.
  // A server that follows the primary holds IO meanwhile and finds the new
  // one by itself (Reconnect leaves it be); an older one (nbdfuse, or ours
  // without --uri-file) only fails its IO, and Reconnect replaces it.
  const std::string current = CurrentUri(a);
  ASSIGN_OR_RETURN(NbdUri uri, ParseNbdUri(current));
  auto probe = NbdConnect(uri, std::chrono::seconds(5));
  if (!probe.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "volume ", a.volume_id, ": ", current, " no longer serves it: ", probe.status().message(),
        FollowsPrimary(a) ? " (its FUSE server holds IO while it looks for the primary)" : ""));
  }
  probe->Disconnect();
  return absl::OkStatus();
}

std::string FuseLoopAttacher::UriFile(const std::string& fuse_dir) { return fuse_dir + ".uri"; }

bool FuseLoopAttacher::FollowsPrimary(const Attachment& a) {
  // Without control addresses the server can only reconnect to its URI: a
  // primary that moved elsewhere needs a new server.
  return !a.fuse_dir.empty() && !a.control_addresses.empty() &&
         std::filesystem::exists(UriFile(a.fuse_dir));
}

std::string FuseLoopAttacher::CurrentUri(const Attachment& a) {
  if (a.fuse_dir.empty()) return a.nbd_uri;
  std::string uri(absl::StripAsciiWhitespace(ReadSmallFile(UriFile(a.fuse_dir))));
  return uri.empty() ? a.nbd_uri : uri;
}

bool FuseLoopAttacher::ServingFile(const Attachment& a) {
  if (a.fuse_pid <= 0 || ProcessGone(a.fuse_pid) || !IsFuseServer(a.fuse_pid)) return false;
  const std::string file = a.fuse_dir + "/disk";
  struct stat st {};
  return LoopBackingFile(a.device) == file && stat(file.c_str(), &st) == 0;
}

absl::StatusOr<Attachment> FuseLoopAttacher::Reconnect(const Attachment& a,
                                                       const std::string& nbd_uri) {
  if (FollowsPrimary(a) && ServingFile(a)) {
    // The server follows the primary itself: restarting it would only trade
    // the device and mounts for a new set, and fail the IO it holds.
    Attachment out = a;
    out.nbd_uri = CurrentUri(a);
    return out;
  }
  if (Check(a).ok() && a.nbd_uri == nbd_uri) return a;
  // The old FUSE server may still reach a server that takes writes (a primary not
  // yet fenced). Killing it first makes every IO on the old device fail, so
  // the old and new mounts of one filesystem never both write.
  if (a.fuse_pid > 0 && !ProcessGone(a.fuse_pid) && IsFuseServer(a.fuse_pid)) {
    kill(a.fuse_pid, SIGKILL);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ProcessGone(a.fuse_pid) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  RETURN_IF_ERROR(Detach(a));
  ASSIGN_OR_RETURN(Attachment fresh,
                   Attach({a.volume_id, nbd_uri, a.readonly, a.control_addresses}));
  Attachment out = a;
  out.device = fresh.device;
  out.nbd_uri = fresh.nbd_uri;
  out.fuse_pid = fresh.fuse_pid;
  out.fuse_dir = fresh.fuse_dir;
  out.size_bytes = fresh.size_bytes;
  return out;
}

absl::StatusOr<Attachment> FuseLoopAttacher::Resize(const Attachment& a) {
  const std::string file = a.fuse_dir + "/disk";
  if (ProcessGone(a.fuse_pid) ||
      absl::StripAsciiWhitespace(ReadSmallFile(absl::StrCat("/proc/", a.fuse_pid, "/comm"))) !=
          repl::initiator::kFuseExportProcessName) {
    // nbdfuse (an attachment of an older plugin) would die of SIGHUP.
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", a.volume_id, ": its FUSE server (pid ", a.fuse_pid,
                     ") cannot grow the device; unstage and stage the volume again"));
  }
  // The size to wait for: what a new connection is told now (where the
  // server is connected now: it may have followed the primary).
  ASSIGN_OR_RETURN(NbdUri uri, ParseNbdUri(CurrentUri(a)));
  ASSIGN_OR_RETURN(NbdConnection probe, NbdConnect(uri, std::chrono::seconds(10)));
  const uint64_t want = probe.info().size;
  probe.Disconnect();

  ASSIGN_OR_RETURN(uint64_t file_size, FileSize(file));
  if (file_size < want) {
    if (kill(a.fuse_pid, SIGHUP) != 0) {
      return absl::UnavailableError(
          absl::StrCat("signal FUSE server ", a.fuse_pid, ": ", std::strerror(errno)));
    }
    auto deadline = std::chrono::steady_clock::now() + ready_timeout_;
    for (;;) {
      ASSIGN_OR_RETURN(file_size, FileSize(file));
      if (file_size >= want) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat("volume ", a.volume_id, ": ", file,
                                                        " still has ", file_size, " bytes, not ",
                                                        want, ": ", LogTail(a.fuse_dir + ".log")));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // A loop device counts whole sectors.
  const uint64_t want_device = file_size / 512 * 512;
  ASSIGN_OR_RETURN(uint64_t device_size, BlockDeviceSize(a.device));
  if (device_size != want_device) {
    // LOOP_SET_CAPACITY takes the size the kernel has for the file, which the
    // stat() above just refreshed (attributes are never cached).
    RETURN_IF_ERROR(ExecChecked({"losetup", "--set-capacity", a.device}).status());
    auto deadline = std::chrono::steady_clock::now() + ready_timeout_;
    for (;;) {
      ASSIGN_OR_RETURN(device_size, BlockDeviceSize(a.device));
      if (device_size == want_device) break;
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat(a.device, " still has ", device_size, " bytes, not ", want_device));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  Attachment out = a;
  out.size_bytes = device_size;
  return out;
}

}  // namespace syncblock::csi
