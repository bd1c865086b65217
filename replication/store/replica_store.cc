#include "replication/store/replica_store.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/util/crc32c.h"

namespace syncblock::repl {
namespace {

constexpr char kManifestName[] = "manifest.json";
constexpr char kDataName[] = "data";

absl::Status WriteFileSynced(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", tmp, ": ", std::strerror(errno)));
  bool ok = write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()) &&
            fsync(fd) == 0;
  int err = errno;
  close(fd);
  if (!ok) {
    unlink(tmp.c_str());
    if (err == ENOSPC) return absl::ResourceExhaustedError(absl::StrCat("no space for ", path));
    return absl::InternalError(absl::StrCat("write ", tmp, ": ", std::strerror(err)));
  }
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp, ": ", std::strerror(errno)));
  }
  // The rename itself must reach the disk too.
  std::string dir = std::filesystem::path(path).parent_path();
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaStore>> ReplicaStore::Create(const std::string& dir,
                                                                   const Manifest& m) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", ec.message()));
  std::string data = dir + "/" + kDataName;
  // O_TRUNC: a leftover data file (an unfinished delete) must not survive
  // into a replica that is declared identical to its all-zero peers.
  int fd = open(data.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", data, ": ", std::strerror(errno)));
  if (ftruncate(fd, static_cast<off_t>(m.size_bytes)) != 0) {
    std::string err = std::strerror(errno);
    close(fd);
    return absl::InternalError(absl::StrCat("size ", data, ": ", err));
  }
  auto store = std::unique_ptr<ReplicaStore>(new ReplicaStore(dir, fd));
  if (absl::Status s = store->SaveManifest(m); !s.ok()) return s;
  return store;
}

absl::StatusOr<std::unique_ptr<ReplicaStore>> ReplicaStore::Open(const std::string& dir,
                                                                 Manifest* manifest) {
  std::ifstream in(dir + "/" + kManifestName);
  if (!in) return absl::NotFoundError(absl::StrCat("no manifest in ", dir));
  std::stringstream ss;
  ss << in.rdbuf();
  auto m = ManifestFromJson(ss.str());
  if (!m.ok()) {
    return absl::Status(m.status().code(), absl::StrCat(dir, ": ", m.status().message()));
  }
  std::string data = dir + "/" + kDataName;
  int fd = open(data.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return absl::DataLossError(absl::StrCat("open ", data, ": ", std::strerror(errno)));
  *manifest = *std::move(m);
  return std::unique_ptr<ReplicaStore>(new ReplicaStore(dir, fd));
}

absl::Status ReplicaStore::Destroy(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

ReplicaStore::~ReplicaStore() { close(data_fd_); }

std::string ReplicaStore::BitmapPath(const std::string& name) const {
  return dir_ + "/" + name + ".bitmap";
}

absl::Status ReplicaStore::SaveManifest(const Manifest& m) {
  return WriteFileSynced(dir_ + "/" + kManifestName, ManifestToJson(m));
}

absl::Status ReplicaStore::IoError(const char* what, uint64_t offset) {
  int err = errno;
  std::string msg = absl::StrCat(what, " at ", offset, " in ", dir_, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT) return absl::ResourceExhaustedError(msg);
  return absl::InternalError(msg);
}

absl::Status ReplicaStore::Write(uint64_t offset, const char* data, size_t len) {
  while (len > 0) {
    ssize_t w = pwrite(data_fd_, data, len, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return IoError("write", offset);
    }
    data += w;
    offset += static_cast<uint64_t>(w);
    len -= static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status ReplicaStore::Read(uint64_t offset, char* data, size_t len) {
  while (len > 0) {
    ssize_t r = pread(data_fd_, data, len, static_cast<off_t>(offset));
    if (r < 0) {
      if (errno == EINTR) continue;
      return IoError("read", offset);
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

absl::Status ReplicaStore::Sync() {
  if (fdatasync(data_fd_) != 0) return IoError("fdatasync", 0);
  return absl::OkStatus();
}

absl::Status ReplicaStore::Trim(uint64_t offset, uint64_t len) {
  if (len == 0) return absl::OkStatus();
  if (fallocate(data_fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(len)) != 0) {
    return IoError("punch hole", offset);
  }
  return absl::OkStatus();
}

absl::Status ReplicaStore::Zero(uint64_t offset, uint64_t len, bool allocate) {
  if (len == 0) return absl::OkStatus();
  if (!allocate) return Trim(offset, len);
  if (fallocate(data_fd_, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                static_cast<off_t>(len)) == 0) {
    return absl::OkStatus();
  }
  if (errno != EOPNOTSUPP) return IoError("zero range", offset);
  // Filesystems without ZERO_RANGE: write the zeros.
  std::vector<char> zeros(std::min<uint64_t>(len, 1 << 20), 0);
  while (len > 0) {
    size_t n = std::min<uint64_t>(len, zeros.size());
    if (absl::Status s = Write(offset, zeros.data(), n); !s.ok()) return s;
    offset += n;
    len -= n;
  }
  return absl::OkStatus();
}

absl::Status ReplicaStore::Resize(uint64_t size) {
  if (ftruncate(data_fd_, static_cast<off_t>(size)) != 0) return IoError("resize", size);
  return absl::OkStatus();
}

bool ReplicaStore::IsHole(uint64_t offset, uint64_t len) {
  off_t data = lseek(data_fd_, static_cast<off_t>(offset), SEEK_DATA);
  if (data < 0) return errno == ENXIO;  // no data after offset
  return static_cast<uint64_t>(data) >= offset + len;
}

absl::StatusOr<uint32_t> ReplicaStore::Checksum(uint64_t offset, uint64_t len) {
  if (IsHole(offset, len)) {
    static const std::vector<char> zeros(1 << 20, 0);
    uint32_t crc = 0;
    while (len > 0) {
      size_t n = std::min<uint64_t>(len, zeros.size());
      crc = Crc32c(crc, zeros.data(), n);
      len -= n;
    }
    return crc;
  }
  std::vector<char> buf(std::min<uint64_t>(len, 1 << 20));
  uint32_t crc = 0;
  while (len > 0) {
    size_t n = std::min<uint64_t>(len, buf.size());
    if (absl::Status s = Read(offset, buf.data(), n); !s.ok()) return s;
    crc = Crc32c(crc, buf.data(), n);
    offset += n;
    len -= n;
  }
  return crc;
}

}  // namespace syncblock::repl
