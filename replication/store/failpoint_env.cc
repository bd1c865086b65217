#include "replication/store/failpoint_env.h"

#include <fstream>

#include "absl/strings/str_cat.h"

namespace syncblock::repl {

absl::Status FailpointEnv::Fault(const std::string& op) const {
  std::ifstream in(path_);
  std::string line;
  while (std::getline(in, line)) {
    if (line == op + "=EIO") {
      return absl::InternalError(absl::StrCat(op, ": Input/output error (failpoint)"));
    }
    if (line == op + "=ENOSPC") {
      return absl::ResourceExhaustedError(
          absl::StrCat(op, ": No space left on device (failpoint)"));
    }
  }
  return absl::OkStatus();
}

absl::Status FailpointEnv::Write(int fd, const char* data, size_t len, uint64_t offset) {
  if (absl::Status s = Fault("write"); !s.ok()) return s;
  return Env::Posix()->Write(fd, data, len, offset);
}

absl::Status FailpointEnv::Read(int fd, char* data, size_t len, uint64_t offset) {
  return Env::Posix()->Read(fd, data, len, offset);
}

absl::Status FailpointEnv::Sync(int fd) {
  if (absl::Status s = Fault("sync"); !s.ok()) return s;
  return Env::Posix()->Sync(fd);
}

absl::Status FailpointEnv::Deallocate(int fd, uint64_t offset, uint64_t len, bool zero) {
  if (absl::Status s = Fault("write"); !s.ok()) return s;
  return Env::Posix()->Deallocate(fd, offset, len, zero);
}

}  // namespace syncblock::repl
