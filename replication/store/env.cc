#include "replication/store/env.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "replication/store/file_util.h"

namespace syncblock::repl {
namespace {

class PosixEnv : public Env {
 public:
  absl::Status Write(int fd, const char* data, size_t len, uint64_t offset) override {
    return PwriteFull(fd, data, len, offset);
  }
  absl::Status Read(int fd, char* data, size_t len, uint64_t offset) override {
    return PreadFull(fd, data, len, offset);
  }
  absl::Status Sync(int fd) override {
    if (fdatasync(fd) != 0) return ErrnoStatus("fdatasync");
    return absl::OkStatus();
  }
  std::string BootId() override {
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return id;
  }
  absl::Status Deallocate(int fd, uint64_t offset, uint64_t len, bool zero) override {
    int mode = (zero ? FALLOC_FL_ZERO_RANGE : FALLOC_FL_PUNCH_HOLE) | FALLOC_FL_KEEP_SIZE;
    if (fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(len)) == 0) {
      return absl::OkStatus();
    }
    if (zero && errno == EOPNOTSUPP) return absl::UnimplementedError("zero range not supported");
    return ErrnoStatus(absl::StrCat(zero ? "zero range" : "punch hole", " at ", offset));
  }
};

}  // namespace

Env* Env::Posix() {
  static PosixEnv env;
  return &env;
}

}  // namespace syncblock::repl
