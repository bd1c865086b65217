// The resync of one peer connection (DESIGN.md, rule 4): optionally compares
// every region by checksum and marks those that differ, then copies the
// regions marked in the peer's dirty bitmap, rate-limited, with progress,
// and ends with kResyncDone at a point of the stream after which the peer
// holds every write.
//
// Each batch takes its place in the write stream through the sequencer: its
// frame is reserved in the peer's queue, the local data is read once every
// earlier write to those regions has applied (later ones wait for the read),
// then the frame is filled. So live writes and resync data reach the peer in
// the primary's order and the copy can never overwrite a newer write.
//
// Runs on the caller's thread (one per connection); returns when done, or
// early when the connection ends.
#pragma once

#include <cstdint>
#include <functional>

#include "absl/status/status.h"
#include "replication/engine/peer_link.h"
#include "replication/engine/write_sequencer.h"
#include "replication/store/replica_store.h"

namespace syncblock::repl {

struct ResyncContext {
  ReplicaStore* store = nullptr;
  WriteSequencer* sequencer = nullptr;
  uint64_t epoch = 0;
  uint64_t region_size = 0;
  std::function<uint64_t()> size;      // the volume's current size
  uint64_t rate_bytes_per_second = 0;  // 0: unlimited
};

class Resyncer {
 public:
  Resyncer(const ResyncContext& ctx, PeerLink& link, uint64_t session)
      : ctx_(ctx), link_(link), session_(session) {}

  // Copies what the peer misses; `checksum` first compares every region.
  // OK once kResyncDone is queued (the peer is in sync when it acknowledges
  // it); ABORTED when the connection ended; else why the copy failed.
  absl::Status Run(bool full, bool checksum);

 private:
  absl::Status MarkByChecksums();
  absl::Status CopyDirty(ResyncProgress& progress);
  // Reserves a frame in the stream, waits its turn, fills it with `fill`.
  absl::Status SendInOrder(FrameType type, uint64_t offset, uint64_t length, bool has_regions,
                           uint64_t first_region, uint64_t last_region,
                           const std::function<absl::Status(OutgoingFrame&)>& fill);

  const ResyncContext ctx_;
  PeerLink& link_;
  const uint64_t session_;
};

}  // namespace syncblock::repl
