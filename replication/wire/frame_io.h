// Reading and writing whole replication frames on a connected stream (plain
// or TLS, replication/security/byte_stream.h): the one implementation the
// primary's peer links and the replicas' replication server share. The `int
// fd` forms run over the bare socket (tests, tools). Thread-compatible
// (plain functions; a FrameReader belongs to one reader thread).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "replication/security/byte_stream.h"
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
absl::Status ReadFrame(security::ByteStream& stream, Frame* frame,
                       uint32_t max_payload = kMaxPayload);
absl::Status ReadFrame(int fd, Frame* frame, uint32_t max_payload = kMaxPayload);

// Reads frames from a stream through a buffer, so that a stream of small
// frames costs one read (one TLS record) for many of them. A payload larger
// than the buffer is read straight into the frame. Thread-compatible.
class FrameReader {
 public:
  // `stream` must outlive the reader.
  explicit FrameReader(security::ByteStream& stream, size_t buffer_bytes = 256 << 10);

  // As ReadFrame.
  absl::Status Next(Frame* frame, uint32_t max_payload = kMaxPayload);
  // True when a whole frame is buffered: Next() returns without blocking.
  bool HasFrame() const;

 private:
  // Reads until at least `n` bytes are buffered (n <= capacity).
  absl::Status Fill(size_t n);

  security::ByteStream& stream_;
  std::string buf_;
  size_t begin_ = 0;  // first unread byte
  size_t end_ = 0;    // one past the last buffered byte
};

// Fills in the payload's length and checksum and writes header and payload.
absl::Status WriteFrame(security::ByteStream& stream, FrameHeader h, std::string_view payload);
absl::Status WriteFrame(int fd, FrameHeader h, std::string_view payload);

// Writes bytes already framed (a batch of encoded frames).
absl::Status WriteBytes(security::ByteStream& stream, std::string_view bytes);

// The error of a failed read or write on `stream` (errno `err`), as
// UNAVAILABLE: "connection closed by peer", or the stream's reason.
absl::Status StreamError(const security::ByteStream& stream, const char* what, int err);

}  // namespace syncblock::repl
