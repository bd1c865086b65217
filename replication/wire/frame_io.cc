#include "replication/wire/frame_io.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/util/socket.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

absl::Status ReadFrame(int fd, Frame* frame, uint32_t max_payload) {
  uint8_t header[kFrameHeaderSize];
  RETURN_IF_ERROR(ReadFull(fd, header, sizeof(header)));
  ASSIGN_OR_RETURN(frame->header, DecodeHeader(header));
  if (frame->header.payload_len > max_payload) {
    return absl::InvalidArgumentError(absl::StrCat(
        FrameTypeName(frame->header.type), " frame with a payload of ", frame->header.payload_len,
        " bytes, more than the ", max_payload, " allowed here"));
  }
  frame->payload.resize(frame->header.payload_len);
  if (!frame->payload.empty()) {
    RETURN_IF_ERROR(ReadFull(fd, frame->payload.data(), frame->payload.size()));
  }
  return VerifyPayload(frame->header, frame->payload);
}

FrameReader::FrameReader(int fd, size_t buffer_bytes) : fd_(fd), buf_(buffer_bytes, '\0') {}

absl::Status FrameReader::Fill(size_t n) {
  if (end_ - begin_ >= n) return absl::OkStatus();
  if (buf_.size() - begin_ < n) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (end_ - begin_ < n) {
    ssize_t r = recv(fd_, buf_.data() + end_, buf_.size() - end_, 0);
    if (r == 0) return absl::UnavailableError("connection closed by peer");
    if (r < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(absl::StrCat("recv: ", std::strerror(errno)));
    }
    end_ += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

bool FrameReader::HasFrame() const {
  if (end_ - begin_ < kFrameHeaderSize) return false;
  auto h = DecodeHeader(reinterpret_cast<const uint8_t*>(buf_.data() + begin_));
  return !h.ok() || end_ - begin_ >= kFrameHeaderSize + h->payload_len;
}

absl::Status FrameReader::Next(Frame* frame, uint32_t max_payload) {
  RETURN_IF_ERROR(Fill(kFrameHeaderSize));
  ASSIGN_OR_RETURN(frame->header,
                   DecodeHeader(reinterpret_cast<const uint8_t*>(buf_.data() + begin_)));
  begin_ += kFrameHeaderSize;
  uint32_t len = frame->header.payload_len;
  if (len > max_payload) {
    return absl::InvalidArgumentError(
        absl::StrCat(FrameTypeName(frame->header.type), " frame with a payload of ", len,
                     " bytes, more than the ", max_payload, " allowed here"));
  }
  if (len <= buf_.size()) {
    RETURN_IF_ERROR(Fill(len));
    frame->payload.assign(buf_.data() + begin_, len);
    begin_ += len;
  } else {
    // Larger than the buffer: what is buffered, then the rest directly.
    size_t have = end_ - begin_;
    frame->payload.resize(len);
    std::memcpy(frame->payload.data(), buf_.data() + begin_, have);
    begin_ = end_ = 0;
    RETURN_IF_ERROR(ReadFull(fd_, frame->payload.data() + have, len - have));
  }
  return VerifyPayload(frame->header, frame->payload);
}

absl::Status WriteFrame(int fd, FrameHeader h, std::string_view payload) {
  h.payload_len = static_cast<uint32_t>(payload.size());
  h.payload_crc = PayloadCrc(payload);
  uint8_t header[kFrameHeaderSize];
  EncodeHeader(h, header);
  iovec iov[2] = {{header, kFrameHeaderSize}, {const_cast<char*>(payload.data()), payload.size()}};
  return WritevFull(fd, iov, payload.empty() ? 1 : 2);
}

}  // namespace syncblock::repl
