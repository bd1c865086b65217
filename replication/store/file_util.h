// Small positional-IO and durability helpers shared by the replica store and
// its snapshot layers: full-length pread/pwrite, hole probing, and atomic
// file replacement (tmp + fsync + rename + directory fsync).
//
// Stateless; thread-safe as far as the file descriptors passed in are.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace syncblock::repl {

// RESOURCE_EXHAUSTED for ENOSPC/EDQUOT, INTERNAL otherwise; reads errno.
absl::Status ErrnoStatus(const std::string& what);

// Reads exactly `len` bytes; bytes past the end of the file read as zeros.
absl::Status PreadFull(int fd, char* data, size_t len, uint64_t offset);
// Writes exactly `len` bytes.
absl::Status PwriteFull(int fd, const char* data, size_t len, uint64_t offset);

// True when [offset, offset+len) of `fd` holds no allocated data (SEEK_DATA).
bool RangeIsHole(int fd, uint64_t offset, uint64_t len);

// Writes `content` to path.tmp, fsyncs it, renames it over `path` and fsyncs
// the directory, so a crash leaves the old or the new file, never a torn one.
absl::Status WriteFileSynced(const std::string& path, const std::string& content);

// Makes a directory entry change (create, rename, unlink) durable.
absl::Status SyncDir(const std::string& dir);

}  // namespace syncblock::repl
