#include "replication/store/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace syncblock::repl {

absl::Status ErrnoStatus(const std::string& what) {
  int err = errno;
  std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

absl::Status PreadFull(int fd, char* data, size_t len, uint64_t offset) {
  while (len > 0) {
    ssize_t r = pread(fd, data, len, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(absl::StrCat("read at ", offset));
    }
    if (r == 0) {  // past the end of the file: zeros
      std::memset(data, 0, len);
      break;
    }
    data += r;
    offset += static_cast<uint64_t>(r);
    len -= static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::Status PwriteFull(int fd, const char* data, size_t len, uint64_t offset) {
  while (len > 0) {
    ssize_t w = pwrite(fd, data, len, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(absl::StrCat("write at ", offset));
    }
    data += w;
    offset += static_cast<uint64_t>(w);
    len -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

bool RangeIsHole(int fd, uint64_t offset, uint64_t len) {
  off_t data = lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) return errno == ENXIO;  // no data after offset
  return static_cast<uint64_t>(data) >= offset + len;
}

absl::Status SyncDir(const std::string& dir) {
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return ErrnoStatus(absl::StrCat("open ", dir));
  int rc = fsync(dfd);
  absl::Status s = rc == 0 ? absl::OkStatus() : ErrnoStatus(absl::StrCat("fsync ", dir));
  close(dfd);
  return s;
}

absl::Status WriteFileSynced(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(absl::StrCat("open ", tmp));
  absl::Status s = PwriteFull(fd, content.data(), content.size(), 0);
  if (s.ok() && fsync(fd) != 0) s = ErrnoStatus(absl::StrCat("fsync ", tmp));
  close(fd);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return absl::Status(s.code(), absl::StrCat(path, ": ", s.message()));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(absl::StrCat("rename ", tmp));
  }
  // The rename itself must reach the disk too.
  return SyncDir(std::filesystem::path(path).parent_path());
}

}  // namespace syncblock::repl
