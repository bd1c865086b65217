#include "replication/node/clone_copy.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

namespace {

// Big enough that a sparse 64 GiB volume costs few hole checks, small enough
// to hold little memory.
constexpr uint64_t kChunk = 1 << 20;
// The granularity of the zero test: a filesystem block.
constexpr uint64_t kBlock = 4096;

bool AllZero(const char* p, size_t n) {
  static const char zeros[kBlock] = {};
  while (n > 0) {
    size_t k = std::min<size_t>(n, kBlock);
    if (std::memcmp(p, zeros, k) != 0) return false;
    p += k;
    n -= k;
  }
  return true;
}

}  // namespace

absl::StatusOr<CloneCopyStats> CopySnapshotInto(SnapshotChain& source, const std::string& name,
                                                uint64_t size_bytes, ReplicaStore& dest) {
  CloneCopyStats stats;
  std::vector<char> buf(kChunk);
  for (uint64_t offset = 0; offset < size_bytes; offset += kChunk) {
    const uint64_t len = std::min(kChunk, size_bytes - offset);
    if (source.IsHole(name, offset, len)) continue;
    absl::Status read = source.Read(name, offset, buf.data(), len);
    if (!read.ok()) {
      return absl::Status(read.code(), absl::StrCat("reading snapshot ", name, " at ", offset, ": ",
                                                    read.message()));
    }
    stats.bytes_read += len;
    // Write runs of non-zero blocks; zeros stay holes in the new replica.
    uint64_t run_start = 0;
    uint64_t run_len = 0;
    auto flush = [&]() -> absl::Status {
      if (run_len == 0) return absl::OkStatus();
      RETURN_IF_ERROR(dest.Write(offset + run_start, buf.data() + run_start, run_len));
      stats.bytes_written += run_len;
      run_len = 0;
      return absl::OkStatus();
    };
    for (uint64_t b = 0; b < len; b += kBlock) {
      const uint64_t n = std::min(kBlock, len - b);
      if (AllZero(buf.data() + b, n)) {
        RETURN_IF_ERROR(flush());
      } else {
        if (run_len == 0) run_start = b;
        run_len += n;
      }
    }
    RETURN_IF_ERROR(flush());
  }
  RETURN_IF_ERROR(dest.Sync());
  return stats;
}

}  // namespace syncblock::repl
