#include "replication/store/replica_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/store/file_util.h"
#include "replication/util/crc32c.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

constexpr char kManifestName[] = "manifest.json";
constexpr char kDataName[] = "data";

}  // namespace

absl::StatusOr<std::unique_ptr<ReplicaStore>> ReplicaStore::Create(const std::string& dir,
                                                                   const Manifest& m, Env* env,
                                                                   bool holds_data) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", ec.message()));
  std::string data = dir + "/" + kDataName;
  // O_TRUNC: a leftover data file (an unfinished delete) must not survive
  // into a replica that is declared identical to its all-zero peers.
  int fd = open(data.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", data, ": ", std::strerror(errno)));
  if (ftruncate(fd, static_cast<off_t>(holds_data ? m.size_bytes : 0)) != 0) {
    std::string err = std::strerror(errno);
    close(fd);
    return absl::InternalError(absl::StrCat("size ", data, ": ", err));
  }
  auto store = std::unique_ptr<ReplicaStore>(new ReplicaStore(dir, fd, env));
  // Like the data, snapshots of an earlier replica here must not survive.
  std::filesystem::remove_all(dir + "/snapshots", ec);
  if (absl::Status s = store->SaveManifest(m); !s.ok()) return s;
  RETURN_IF_ERROR(store->OpenChain(m.region_size));
  return store;
}

absl::StatusOr<std::unique_ptr<ReplicaStore>> ReplicaStore::Open(const std::string& dir,
                                                                 Manifest* manifest, Env* env) {
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
  auto store = std::unique_ptr<ReplicaStore>(new ReplicaStore(dir, fd, env));
  // A v1 replica has no snapshots directory: it opens with no snapshots.
  RETURN_IF_ERROR(store->OpenChain(m->region_size));
  *manifest = *std::move(m);
  return store;
}

absl::Status ReplicaStore::Destroy(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("remove ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

void ReplicaStore::StopBackgroundWork() { chain_->StopMerging(); }

ReplicaStore::~ReplicaStore() {
  chain_.reset();  // its merge thread must stop before the data file closes
  close(data_fd_);
}

absl::Status ReplicaStore::OpenChain(uint64_t region_size) {
  ASSIGN_OR_RETURN(chain_, LayeredSnapshotChain::Open(dir_, data_fd_, region_size));
  return absl::OkStatus();
}

std::string ReplicaStore::BitmapPath(const std::string& name) const {
  return dir_ + "/" + name + ".bitmap";
}

absl::Status ReplicaStore::SaveManifest(const Manifest& m) {
  return WriteFileSynced(dir_ + "/" + kManifestName, ManifestToJson(m));
}

absl::Status ReplicaStore::IoError(const char* what, uint64_t offset) {
  return ErrnoStatus(absl::StrCat(what, " at ", offset, " in ", dir_));
}

absl::Status ReplicaStore::Write(uint64_t offset, const char* data, size_t len) {
  ASSIGN_OR_RETURN(auto guard, chain_->BeginOverwrite(offset, len));
  return WriteLive(offset, data, len);
}

absl::Status ReplicaStore::WriteLive(uint64_t offset, const char* data, size_t len) {
  absl::Status s = env_->Write(data_fd_, data, len, offset);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(dir_, ": ", s.message()));
  return s;
}

absl::Status ReplicaStore::Read(uint64_t offset, char* data, size_t len) {
  absl::Status s = env_->Read(data_fd_, data, len, offset);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(dir_, ": ", s.message()));
  return s;
}

absl::Status ReplicaStore::Sync() {
  absl::Status s = env_->Sync(data_fd_);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(dir_, ": ", s.message()));
  return s;
}

absl::Status ReplicaStore::Trim(uint64_t offset, uint64_t len) {
  if (len == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto guard, chain_->BeginOverwrite(offset, len));
  return TrimLive(offset, len);
}

absl::Status ReplicaStore::TrimLive(uint64_t offset, uint64_t len) {
  absl::Status s = env_->Deallocate(data_fd_, offset, len, /*zero=*/false);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat(dir_, ": ", s.message()));
  return s;
}

absl::Status ReplicaStore::Zero(uint64_t offset, uint64_t len, bool allocate) {
  if (len == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto guard, chain_->BeginOverwrite(offset, len));
  if (!allocate) return TrimLive(offset, len);
  absl::Status zeroed = env_->Deallocate(data_fd_, offset, len, /*zero=*/true);
  if (zeroed.code() != absl::StatusCode::kUnimplemented) {
    if (!zeroed.ok())
      return absl::Status(zeroed.code(), absl::StrCat(dir_, ": ", zeroed.message()));
    return zeroed;
  }
  // Filesystems without ZERO_RANGE: write the zeros.
  std::vector<char> zeros(std::min<uint64_t>(len, 1 << 20), 0);
  while (len > 0) {
    size_t n = std::min<uint64_t>(len, zeros.size());
    if (absl::Status s = WriteLive(offset, zeros.data(), n); !s.ok()) return s;
    offset += n;
    len -= n;
  }
  return absl::OkStatus();
}

absl::Status ReplicaStore::Resize(uint64_t size) {
  struct stat st {};
  if (fstat(data_fd_, &st) != 0) return IoError("stat", 0);
  uint64_t old_size = static_cast<uint64_t>(st.st_size);
  // Shrinking drops bytes that snapshots may still need: preserve them first.
  ASSIGN_OR_RETURN(auto guard, chain_->BeginOverwrite(size, size < old_size ? old_size - size : 0));
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
