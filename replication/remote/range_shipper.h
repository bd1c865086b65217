// Copies byte ranges of a snapshot to a volume: the data path of a remote
// sync cycle (replication/doc/remote_sync.md). Reads go through `read` (a
// snapshot on the source cluster) and writes through a ChunkSink (the target
// volume's NBD export), a chunk at a time, in ascending offsets, so that
// "every range below X is on the target" is one number: the checkpoint that
// an interrupted transfer resumes from. A chunk of zeros travels as
// WRITE_ZEROES (holes stay holes, and zeros cost no bandwidth).
//
// Thread-compatible: one call at a time per sink.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/remote/byte_ranges.h"
#include "replication/util/clock.h"

namespace syncblock::repl {

// Where the chunks go. Errors are returned as they are; the shipper stops at
// the first.
class ChunkSink {
 public:
  virtual ~ChunkSink() = default;
  virtual absl::Status Write(uint64_t offset, const std::string& data) = 0;
  virtual absl::Status WriteZeroes(uint64_t offset, uint64_t length) = 0;
  // Makes every write before it durable on the target.
  virtual absl::Status Flush() = 0;
};

struct ShipOptions {
  // Under gRPC's 4 MiB message limit with room for the answer's other fields.
  uint32_t chunk_bytes = 2u << 20;
  // A checkpoint (flush, then `checkpoint`) after this much data or time.
  uint64_t checkpoint_bytes = 64ull << 20;
  std::chrono::milliseconds checkpoint_interval{2000};
  uint64_t rate_bytes_per_second = 0;  // data sent; 0: no limit
  // A write goes only this soon after a successful checkpoint (whose
  // callback checks that the target is still ours to write); later, a
  // checkpoint comes first. So a process frozen mid-transfer (SIGSTOP, a
  // stalled VM) checks again before its next write, rather than writing
  // into a target that a promotion or another controller has taken since.
  std::chrono::milliseconds write_validity{4000};
};

struct ShipTotals {
  uint64_t through_offset = 0;  // every range below it is written and flushed
  uint64_t bytes_shipped = 0;   // data sent
  uint64_t zero_bytes = 0;      // written as zeros
};

using ChunkReader = std::function<absl::StatusOr<std::string>(uint64_t offset, uint32_t length)>;
// Called at each checkpoint, before the first write and at the end, after a
// flush; an error stops the shipper (the target is no longer ours to write,
// say).
using Checkpoint = std::function<absl::Status(const ShipTotals&)>;

// Ships `ranges` read from the source, and writes `zeroes` (disjoint from
// them: known to read as zeros there) as WRITE_ZEROES without reading, both
// in one ascending pass, at or past `start.through_offset`, counting on from
// `start`'s totals. `stopping` is asked between chunks: CANCELLED when it
// says so. `clock` paces the rate limit (sleeping on it).
absl::StatusOr<ShipTotals> ShipRanges(const ByteRanges& ranges, const ByteRanges& zeroes,
                                      const ShipTotals& start, const ChunkReader& read,
                                      ChunkSink& sink, const ShipOptions& options,
                                      const Checkpoint& checkpoint,
                                      const std::function<bool()>& stopping, Clock& clock);

}  // namespace syncblock::repl
