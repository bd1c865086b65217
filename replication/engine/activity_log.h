// The primary's activity log: the regions that have writes in flight, kept
// in a persistent bitmap so that a primary that restarts resyncs them on
// every peer (a write in flight may have reached some replicas and not
// others). A region's bit is written (page cache) before its first write is
// sequenced, and cleared by Trim() once no write holds the region any more.
//
// A write holds its regions through an ActivityHold, shared by everything
// that still carries the write (the local apply, each peer's queue until the
// peer acknowledges it or its regions are in the peer's dirty bitmap); the
// last one to let go releases the regions.
//
// Thread-safe. The bitmap's file writes happen under the log's own mutex
// (one byte of page cache when a region's bit changes, a few times a second
// at most per region); no other lock is held then.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/store/dirty_bitmap.h"
#include "replication/util/mutex.h"

namespace syncblock::repl {

class ActivityLog;

// Regions [first, last] held in the log while this object lives.
class ActivityHold {
 public:
  ActivityHold(std::shared_ptr<ActivityLog> log, uint64_t first, uint64_t last)
      : log_(std::move(log)), first_(first), last_(last) {}
  ~ActivityHold();
  ActivityHold(const ActivityHold&) = delete;
  ActivityHold& operator=(const ActivityHold&) = delete;

 private:
  std::shared_ptr<ActivityLog> log_;
  uint64_t first_;
  uint64_t last_;
};

class ActivityLog : public std::enable_shared_from_this<ActivityLog> {
 public:
  static absl::StatusOr<std::shared_ptr<ActivityLog>> Open(const std::string& path,
                                                           uint64_t regions);

  // Marks [first, last] in flight; the write may be sequenced only if this
  // succeeds.
  absl::StatusOr<std::shared_ptr<ActivityHold>> Hold(uint64_t first, uint64_t last)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Clears the bits of the regions no write holds.
  absl::Status Trim() ABSL_LOCKS_EXCLUDED(mu_);
  // The regions whose bits are set.
  std::vector<uint64_t> Regions() const ABSL_LOCKS_EXCLUDED(mu_);
  // Reopens the bitmap for a grown volume (every bit kept).
  absl::Status Grow(uint64_t regions) ABSL_LOCKS_EXCLUDED(mu_);
  // Clears every bit (at start, once merged into the peers' bitmaps).
  absl::Status ClearAll() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class ActivityHold;
  ActivityLog(std::string path, std::unique_ptr<DirtyBitmap> bits)
      : path_(std::move(path)), bits_(std::move(bits)) {}
  void Release(uint64_t first, uint64_t last) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string path_;
  mutable Mutex mu_;
  std::unique_ptr<DirtyBitmap> bits_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<uint64_t, uint32_t> holds_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::repl
