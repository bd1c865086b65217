// An Env whose faults are switched from outside the process, for fault tests
// that run the real storage daemon: `syncblock storage` uses it only when the
// environment variable SYNCBLOCK_FAILPOINTS names a file, and says so in its
// log. Each line of that file switches one fault on while it is there:
//
//   sync=EIO        every fdatasync of a data file fails with EIO
//   write=EIO       every write (and hole punch) fails with EIO
//   write=ENOSPC    every write (and hole punch) fails with ENOSPC
//
// The file is read at each operation; no file means no fault. Thread-safe.
#pragma once

#include <string>

#include "replication/store/env.h"

namespace syncblock::repl {

class FailpointEnv : public Env {
 public:
  explicit FailpointEnv(std::string path) : path_(std::move(path)) {}

  absl::Status Write(int fd, const char* data, size_t len, uint64_t offset) override;
  absl::Status Read(int fd, char* data, size_t len, uint64_t offset) override;
  absl::Status Sync(int fd) override;
  absl::Status Deallocate(int fd, uint64_t offset, uint64_t len, bool zero) override;
  std::string BootId() override { return Env::Posix()->BootId(); }

 private:
  // The fault configured for `op` ("write", "sync"), OK when none.
  absl::Status Fault(const std::string& op) const;

  const std::string path_;
};

}  // namespace syncblock::repl
