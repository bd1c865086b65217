// The seam between a replica's store and the operating system for the live
// data file (in the spirit of leveldb's Env): positional reads and writes,
// durability, hole punching. PosixEnv is the real one; tests put a
// FaultInjectionEnv (tests/support/fault_injection_env.h) in its place to make
// writes fail with ENOSPC or EIO, fsync fail, or a crash drop what was never
// synced. Replication connections have their own seam (engine/dialer.h).
//
// Implementations are thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace syncblock::repl {

class Env {
 public:
  virtual ~Env() = default;
  // As file_util.h's PwriteFull / PreadFull: RESOURCE_EXHAUSTED for no
  // space, INTERNAL for other errors.
  virtual absl::Status Write(int fd, const char* data, size_t len, uint64_t offset) = 0;
  virtual absl::Status Read(int fd, char* data, size_t len, uint64_t offset) = 0;
  // fdatasync.
  virtual absl::Status Sync(int fd) = 0;
  // fallocate PUNCH_HOLE (zero = false) or ZERO_RANGE (zero = true), keeping
  // the size; UNIMPLEMENTED when the filesystem cannot zero a range.
  virtual absl::Status Deallocate(int fd, uint64_t offset, uint64_t len, bool zero) = 0;

  // Identifies the machine's current boot (the kernel's boot_id): page cache
  // survives a process kill, not a new boot.
  virtual std::string BootId() = 0;

  // The real one, shared.
  static Env* Posix();
};

}  // namespace syncblock::repl
