// A persistent bitmap with one bit per region of a volume: the dirty bitmap a
// primary keeps for each absent replica, and the activity log of regions with
// writes in flight. Setting a bit writes the changed byte to the file at once
// (page cache), so marks survive the process being killed; format in
// replication/doc/replica_format.md.
//
// Not thread-safe: the owner serializes calls.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::repl {

class DirtyBitmap {
 public:
  // Opens `path`, creating it (all clear) when missing. A file made for fewer
  // regions (the volume grew) is extended; a corrupt one is DATA_LOSS.
  static absl::StatusOr<std::unique_ptr<DirtyBitmap>> Open(const std::string& path,
                                                           uint64_t regions);
  ~DirtyBitmap();
  DirtyBitmap(const DirtyBitmap&) = delete;
  DirtyBitmap& operator=(const DirtyBitmap&) = delete;

  uint64_t regions() const { return regions_; }
  uint64_t count() const { return count_; }
  bool Test(uint64_t region) const;

  // Sets regions [first, last]; only bytes that change are written.
  absl::Status Mark(uint64_t first, uint64_t last);
  absl::Status MarkAll();
  absl::Status Clear(uint64_t region);
  absl::Status ClearAll();
  // Sets every bit set in `other` (same size).
  absl::Status Merge(const DirtyBitmap& other);

  // Makes every mark so far durable (fdatasync), not just crash-of-process safe.
  absl::Status Sync();

  // The first set region at or after `from`.
  std::optional<uint64_t> NextSet(uint64_t from) const;

 private:
  DirtyBitmap(int fd, uint64_t regions, std::vector<uint8_t> bits);
  absl::Status Persist(uint64_t first_byte, uint64_t last_byte);

  int fd_;
  uint64_t regions_;
  std::vector<uint8_t> bits_;
  uint64_t count_ = 0;
};

}  // namespace syncblock::repl
