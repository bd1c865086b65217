// Reading and writing whole replication frames on a blocking socket: the one
// implementation the primary's peer links and the replicas' replication
// server share. Thread-compatible (plain functions on a descriptor).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "replication/wire/wire_format.h"

namespace syncblock::repl {

struct Frame {
  FrameHeader header;
  std::string payload;
};

// Reads one frame and checks its header and payload checksums. UNAVAILABLE
// when the connection ends; INVALID_ARGUMENT or DATA_LOSS for a malformed or
// corrupt frame; INVALID_ARGUMENT when the payload is longer than
// `max_payload` (before reading it).
absl::Status ReadFrame(int fd, Frame* frame, uint32_t max_payload = kMaxPayload);

// Reads frames from a stream socket through a buffer, so that a stream of
// small frames costs one recv for many of them. Thread-compatible.
class FrameReader {
 public:
  explicit FrameReader(int fd, size_t buffer_bytes = 256 << 10);

  // As ReadFrame.
  absl::Status Next(Frame* frame, uint32_t max_payload = kMaxPayload);
  // True when a whole frame is buffered: Next() returns without blocking.
  bool HasFrame() const;

 private:
  // Reads until at least `n` bytes are buffered (n <= capacity).
  absl::Status Fill(size_t n);

  int fd_;
  std::string buf_;
  size_t begin_ = 0;  // first unread byte
  size_t end_ = 0;    // one past the last buffered byte
};

// Fills in the payload's length and checksum and writes header and payload.
absl::Status WriteFrame(int fd, FrameHeader h, std::string_view payload);

}  // namespace syncblock::repl
