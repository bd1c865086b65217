#include "replication/initiator/fuse_export.h"

#define FUSE_USE_VERSION 312
#include <fcntl.h>
#include <fuse3/fuse.h>
#include <fuse3/fuse_lowlevel.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/initiator/nbd_pool.h"
#include "replication/initiator/primary_follower.h"
#include "replication/initiator/primary_resolver.h"
#include "replication/util/status_macros.h"
#include "spdlog/spdlog.h"

namespace syncblock::repl::initiator {
namespace {

constexpr char kDiskPath[] = "/disk";

// The FUSE callbacks' shared state, reached through fuse_get_context().
struct ExportState {
  NbdPool* pool = nullptr;              // size and flags
  PrimaryFollower* follower = nullptr;  // IO
  bool readonly = false;
};

ExportState* State() { return static_cast<ExportState*>(fuse_get_context()->private_data); }

bool IsDisk(const char* path) { return std::strcmp(path, kDiskPath) == 0; }

void* OnInit(fuse_conn_info* conn, fuse_config* cfg) {
  // Nothing cached in the kernel: every stat() sees the current export size
  // (after a grow) and all data goes straight to NBD.
  cfg->attr_timeout = 0;
  cfg->entry_timeout = 0;
  cfg->negative_timeout = 0;
  cfg->direct_io = 1;
  cfg->kernel_cache = 0;
  cfg->use_ino = 1;
  // Room for the loop device's parallel direct IO, which the kernel sends as
  // background requests.
  conn->max_write = 1 << 20;
  conn->max_background = 64;
  conn->congestion_threshold = 48;
  conn->want |= FUSE_CAP_ASYNC_DIO;
  conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  return fuse_get_context()->private_data;
}

int OnGetattr(const char* path, struct stat* st, fuse_file_info*) {
  std::memset(st, 0, sizeof(*st));
  if (std::strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    st->st_ino = 1;
    return 0;
  }
  if (!IsDisk(path)) return -ENOENT;
  const uint64_t size = State()->pool->size();
  st->st_mode = S_IFREG | (State()->readonly ? 0400 : 0600);
  st->st_nlink = 1;
  st->st_ino = 2;
  st->st_size = static_cast<off_t>(size);
  st->st_blksize = 4096;
  st->st_blocks = static_cast<blkcnt_t>((size + 511) / 512);
  return 0;
}

int OnReaddir(const char* path, void* buf, fuse_fill_dir_t fill, off_t, fuse_file_info*,
              fuse_readdir_flags) {
  if (std::strcmp(path, "/") != 0) return -ENOTDIR;
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, kDiskPath + 1, nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  return 0;
}

int OnOpen(const char* path, fuse_file_info* fi) {
  if (!IsDisk(path)) return -ENOENT;
  if (State()->readonly && (fi->flags & O_ACCMODE) != O_RDONLY) return -EROFS;
  fi->direct_io = 1;
  fi->keep_cache = 0;
  return 0;
}

// The part of [offset, offset+size) inside the export.
size_t Clamp(off_t offset, size_t size) {
  const uint64_t end = State()->pool->size();
  if (offset < 0 || static_cast<uint64_t>(offset) >= end) return 0;
  return static_cast<size_t>(std::min<uint64_t>(size, end - static_cast<uint64_t>(offset)));
}

int OnRead(const char*, char* buf, size_t size, off_t offset, fuse_file_info*) {
  const size_t len = Clamp(offset, size);
  if (len == 0) return 0;
  absl::Status st = State()->follower->Run([&](NbdIoConnection& c) {
    return c.Read(static_cast<uint64_t>(offset), static_cast<uint32_t>(len), buf);
  });
  if (!st.ok()) {
    spdlog::warn("read {} bytes at {}: {}", len, offset, st.ToString());
    return -ErrnoOf(st);
  }
  return static_cast<int>(len);
}

int OnWrite(const char*, const char* buf, size_t size, off_t offset, fuse_file_info* fi) {
  if (State()->readonly) return -EROFS;
  const size_t len = Clamp(offset, size);
  if (len == 0) return size == 0 ? 0 : -ENOSPC;
  // O_DSYNC/O_SYNC writers get FUA, so one request makes the data durable.
  const bool fua = (fi->flags & O_DSYNC) != 0;
  absl::Status st = State()->follower->Run([&](NbdIoConnection& c) {
    return c.Write(static_cast<uint64_t>(offset), static_cast<uint32_t>(len), buf, fua);
  });
  if (!st.ok()) {
    spdlog::warn("write {} bytes at {}: {}", len, offset, st.ToString());
    return -ErrnoOf(st);
  }
  return static_cast<int>(len);
}

int Flush() {
  if (State()->readonly) return 0;
  absl::Status st = State()->follower->Run([](NbdIoConnection& c) { return c.Flush(); });
  if (!st.ok()) {
    spdlog::warn("flush: {}", st.ToString());
    return -ErrnoOf(st);
  }
  return 0;
}

int OnFsync(const char*, int, fuse_file_info*) { return Flush(); }
int OnFlush(const char*, fuse_file_info*) { return Flush(); }

int OnFallocate(const char*, int mode, off_t offset, off_t length, fuse_file_info*) {
  if (State()->readonly) return -EROFS;
  if (offset < 0 || length <= 0) return -EINVAL;
  const size_t len = Clamp(offset, static_cast<size_t>(length));
  const uint16_t flags = State()->pool->transmission_flags();
  if (mode == 0) {
    // Allocation: the file cannot grow, and space is the storage's business.
    return len == static_cast<size_t>(length) ? 0 : -EFBIG;
  }
  if (len == 0) return 0;
  std::function<absl::Status(NbdIoConnection&)> op;
  if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)) {
    // A punched hole reads back as zeroes, which NBD_CMD_TRIM does not
    // promise; WRITE_ZEROES without NO_HOLE does, and lets the server trim.
    // A server without WRITE_ZEROES gets TRIM.
    if (flags & nbd::kFlagSendWriteZeroes) {
      op = [&](NbdIoConnection& c) {
        return c.WriteZeroes(static_cast<uint64_t>(offset), static_cast<uint32_t>(len), false);
      };
    } else {
      op = [&](NbdIoConnection& c) {
        return c.Trim(static_cast<uint64_t>(offset), static_cast<uint32_t>(len));
      };
    }
  } else if ((mode & ~FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE) {
    op = [&](NbdIoConnection& c) {
      return c.WriteZeroes(static_cast<uint64_t>(offset), static_cast<uint32_t>(len), true);
    };
  } else {
    return -EOPNOTSUPP;
  }
  absl::Status st = State()->follower->Run(op);
  if (!st.ok()) {
    if (!absl::IsUnimplemented(st)) spdlog::warn("fallocate mode {}: {}", mode, st.ToString());
    return -ErrnoOf(st);
  }
  return 0;
}

int OnTruncate(const char* path, off_t size, fuse_file_info*) {
  if (path != nullptr && !IsDisk(path)) return -ENOENT;
  // The size is the export's; only a no-op truncate succeeds.
  return static_cast<uint64_t>(size) == State()->pool->size() ? 0 : -EPERM;
}

int OnStatfs(const char*, struct statvfs* st) {
  std::memset(st, 0, sizeof(*st));
  st->f_bsize = 4096;
  st->f_frsize = 4096;
  st->f_blocks = State()->pool->size() / 4096;
  st->f_files = 1;
  st->f_namemax = 255;
  return 0;
}

fuse_operations Operations() {
  fuse_operations ops{};
  ops.init = OnInit;
  ops.getattr = OnGetattr;
  ops.readdir = OnReaddir;
  ops.open = OnOpen;
  ops.read = OnRead;
  ops.write = OnWrite;
  ops.fsync = OnFsync;
  ops.flush = OnFlush;
  ops.fallocate = OnFallocate;
  ops.truncate = OnTruncate;
  ops.statfs = OnStatfs;
  return ops;
}

// SIGHUP is turned into a byte on this pipe, read by the refresh thread
// (write(2) is async-signal-safe; reconnecting is not).
int g_hup_pipe[2] = {-1, -1};

void OnHup(int) {
  char c = 'h';
  ssize_t ignored = write(g_hup_pipe[1], &c, 1);
  (void)ignored;
}

void RefreshLoop(NbdPool* pool, PrimaryFollower* follower) {
  char c;
  for (;;) {
    ssize_t n = read(g_hup_pipe[0], &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == 'q') return;
    const uint64_t before = pool->size();
    absl::Status st = follower->Refresh();
    if (st.ok()) {
      spdlog::info("SIGHUP: reconnected; export size {} -> {}", before, pool->size());
    } else {
      spdlog::error("SIGHUP: reconnecting failed, keeping size {}: {}", before, st.ToString());
    }
  }
}

absl::Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << "\n";
    if (!out.flush()) return absl::InternalError(absl::StrCat("write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::InternalError(absl::StrCat("rename ", tmp, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunFuseExport(const FuseExportOptions& options) {
  prctl(PR_SET_NAME, kFuseExportProcessName, 0, 0, 0);
  ASSIGN_OR_RETURN(NbdUri uri, ParseNbdUri(options.uri));
  NbdPool pool(options.connections);
  // The control addresses come as hints: the resolver's own list is empty.
  GrpcPrimaryResolver resolver(nullptr);
  PrimaryFollowerOptions follow;
  follow.volume_id = options.volume_id;
  follow.control_addresses = options.control_addresses;
  follow.failover_timeout = options.failover_timeout;
  if (!options.uri_file.empty()) {
    follow.on_connected = [path = options.uri_file](const std::string& now) {
      absl::Status st = WriteFileAtomically(path, now);
      if (!st.ok()) spdlog::error("recording the URI served: {}", st.ToString());
    };
  }
  PrimaryFollower follower(&pool, &resolver, std::move(follow));
  RETURN_IF_ERROR(follower.Start(uri.ToString()));
  spdlog::info("export {}: {} bytes, flags {:#x}, up to {} connections; {}", uri.ToString(),
               pool.size(), pool.transmission_flags(), pool.max_connections(),
               options.volume_id.empty()
                   ? std::string("reconnects to this URI only")
                   : absl::StrCat("follows the primary of volume ", options.volume_id, " via ",
                                  options.control_addresses.size(), " control address(es)"));

  ExportState state{&pool, &follower, options.readonly};
  const std::string fsname = absl::StrCat("fsname=syncblock:", uri.export_name);
  std::vector<std::string> arg_text = {"syncblock-fuse", "-o", fsname, "-o", "subtype=syncblock"};
  if (options.readonly) arg_text.insert(arg_text.end(), {"-o", "ro"});
  std::vector<char*> argv;
  for (auto& a : arg_text) argv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_operations ops = Operations();
  fuse* f = fuse_new(&args, &ops, sizeof(ops), &state);
  if (f == nullptr) return absl::InternalError("fuse_new failed (see the messages above)");
  if (fuse_mount(f, options.mountpoint.c_str()) != 0) {
    fuse_destroy(f);
    return absl::InternalError(absl::StrCat("mounting FUSE at ", options.mountpoint, " failed"));
  }
  fuse_session* se = fuse_get_session(f);
  // libfuse ends the loop on SIGTERM, SIGINT and SIGHUP; SIGHUP is ours.
  fuse_set_signal_handlers(se);
  if (pipe2(g_hup_pipe, O_CLOEXEC) != 0) {
    fuse_unmount(f);
    fuse_destroy(f);
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  struct sigaction sa {};
  sa.sa_handler = OnHup;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGHUP, &sa, nullptr);
  std::thread refresher(RefreshLoop, &pool, &follower);

  absl::Status result;
  if (!options.pidfile.empty())
    result = WriteFileAtomically(options.pidfile, std::to_string(getpid()));
  if (result.ok()) {
    spdlog::info("serving {}/{}", options.mountpoint, kFuseExportFileName);
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    fuse_loop_cfg_set_clone_fd(cfg, 0);
    fuse_loop_cfg_set_max_threads(cfg, 32);
    fuse_loop_cfg_set_idle_threads(cfg, static_cast<unsigned>(2 * pool.max_connections() + 2));
    int rc = fuse_loop_mt(f, cfg);
    fuse_loop_cfg_destroy(cfg);
    if (rc != 0 && fuse_session_exited(se) == 0) {
      result = absl::InternalError(absl::StrCat("FUSE loop ended with ", rc));
    }
  }
  spdlog::info("unmounting {}", options.mountpoint);
  fuse_remove_signal_handlers(se);
  signal(SIGHUP, SIG_IGN);
  char q = 'q';
  ssize_t ignored = write(g_hup_pipe[1], &q, 1);
  (void)ignored;
  refresher.join();
  fuse_unmount(f);
  fuse_destroy(f);
  fuse_opt_free_args(&args);
  return result;
}

}  // namespace syncblock::repl::initiator
