// A frame of the write stream on its way to the peers. One object is shared
// by every peer link that carries it (a write is checksummed and encoded
// once), and by the local apply; it holds the write's regions in the
// activity log until the last of them lets go.
//
// A frame is either ready when it is queued, or reserved: queued at its place
// in the stream and filled later (resync data read after its turn, a
// snapshot record after the cut). A peer link sends nothing behind a
// reserved frame until it is filled or cancelled.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "replication/engine/activity_log.h"
#include "replication/wire/wire_format.h"

namespace syncblock::repl {

struct OutgoingFrame {
  enum State : int { kReady, kReserved, kCancelled };

  FrameHeader header;
  uint8_t wire_header[kFrameHeaderSize];  // header encoded, once ready
  std::shared_ptr<const std::string> payload;
  // The regions the frame changes on a replica: if a peer loses it, they go
  // to that peer's dirty bitmap.
  bool has_regions = false;
  uint64_t first_region = 0;
  uint64_t last_region = 0;
  std::shared_ptr<ActivityHold> activity;
  // The snapshot a snapshot frame is about (its acknowledgement records it).
  std::string snapshot;
  // Its answer may take long (a checksum list of a large volume): no stall
  // is declared while it is the oldest unacknowledged frame.
  bool slow = false;
  std::atomic<int> state{kReady};

  size_t payload_size() const { return payload ? payload->size() : 0; }
  bool settled() const { return state.load(std::memory_order_acquire) != kReserved; }

  // Sets the payload, its length and checksum (outside any lock: the
  // checksum of a large write takes time).
  void SetPayload(std::shared_ptr<const std::string> p) {
    payload = std::move(p);
    std::string_view v = payload ? std::string_view(*payload) : std::string_view();
    header.payload_len = static_cast<uint32_t>(v.size());
    header.payload_crc = PayloadCrc(v);
  }
  // Encodes the header once everything in it (the sequence number) is set.
  void Encode() { EncodeHeader(header, wire_header); }
};

}  // namespace syncblock::repl
