#include "replication/wire/frame_io.h"

#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

// A payload at least this large that is not buffered yet is read straight
// into the frame rather than through the reader's buffer (one copy less).
constexpr size_t kDirectRead = 64 << 10;

absl::Status ReadAll(security::ByteStream& stream, void* buf, size_t n) {
  if (stream.ReadFull(buf, n)) return absl::OkStatus();
  return StreamError(stream, "read", errno);
}

absl::Status CheckLength(const FrameHeader& h, uint32_t max_payload) {
  if (h.payload_len <= max_payload) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(FrameTypeName(h.type), " frame with a payload of ",
                                                 h.payload_len, " bytes, more than the ",
                                                 max_payload, " allowed here"));
}

}  // namespace

absl::Status StreamError(const security::ByteStream& stream, const char* what, int err) {
  if (err == 0) return absl::UnavailableError("connection closed by peer");
  if (err == EAGAIN || err == EWOULDBLOCK) {
    return absl::UnavailableError(absl::StrCat(what, std::string_view(what) == "write"
                                                         ? " timed out: the peer is not reading"
                                                         : " timed out: the peer sends nothing"));
  }
  return absl::UnavailableError(absl::StrCat(what, ": ", stream.ErrorText(err)));
}

absl::Status ReadFrame(security::ByteStream& stream, Frame* frame, uint32_t max_payload) {
  uint8_t header[kFrameHeaderSize];
  RETURN_IF_ERROR(ReadAll(stream, header, sizeof(header)));
  ASSIGN_OR_RETURN(frame->header, DecodeHeader(header));
  RETURN_IF_ERROR(CheckLength(frame->header, max_payload));
  frame->payload.resize(frame->header.payload_len);
  if (!frame->payload.empty()) {
    RETURN_IF_ERROR(ReadAll(stream, frame->payload.data(), frame->payload.size()));
  }
  return VerifyPayload(frame->header, frame->payload);
}

absl::Status ReadFrame(int fd, Frame* frame, uint32_t max_payload) {
  security::PlainStream stream(fd);
  return ReadFrame(stream, frame, max_payload);
}

FrameReader::FrameReader(security::ByteStream& stream, size_t buffer_bytes)
    : stream_(stream), buf_(buffer_bytes, '\0') {}

absl::Status FrameReader::Fill(size_t n) {
  if (end_ - begin_ >= n) return absl::OkStatus();
  if (buf_.size() - begin_ < n) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  while (end_ - begin_ < n) {
    ssize_t r = stream_.Read(buf_.data() + end_, buf_.size() - end_);
    if (r == 0) return absl::UnavailableError("connection closed by peer");
    if (r < 0) {
      if (errno == EINTR) continue;
      return StreamError(stream_, "read", errno);
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
  RETURN_IF_ERROR(CheckLength(frame->header, max_payload));
  const size_t len = frame->header.payload_len;
  const size_t have = end_ - begin_;
  if (have >= len || (len < kDirectRead && len <= buf_.size())) {
    RETURN_IF_ERROR(Fill(len));
    frame->payload.assign(buf_.data() + begin_, len);
    begin_ += len;
  } else {
    // A large payload: what is buffered, then the rest straight into the
    // frame (a 1 MiB write is not copied through the buffer).
    frame->payload.resize(len);
    std::memcpy(frame->payload.data(), buf_.data() + begin_, have);
    begin_ = end_ = 0;
    RETURN_IF_ERROR(ReadAll(stream_, frame->payload.data() + have, len - have));
  }
  return VerifyPayload(frame->header, frame->payload);
}

absl::Status WriteFrame(security::ByteStream& stream, FrameHeader h, std::string_view payload) {
  h.payload_len = static_cast<uint32_t>(payload.size());
  h.payload_crc = PayloadCrc(payload);
  uint8_t header[kFrameHeaderSize];
  EncodeHeader(h, header);
  iovec iov[2] = {{header, kFrameHeaderSize}, {const_cast<char*>(payload.data()), payload.size()}};
  if (stream.Writev(iov, payload.empty() ? 1 : 2)) return absl::OkStatus();
  return StreamError(stream, "write", errno);
}

absl::Status WriteFrame(int fd, FrameHeader h, std::string_view payload) {
  security::PlainStream stream(fd);
  return WriteFrame(stream, h, payload);
}

absl::Status WriteBytes(security::ByteStream& stream, std::string_view bytes) {
  if (stream.Write(bytes.data(), bytes.size())) return absl::OkStatus();
  return StreamError(stream, "write", errno);
}

}  // namespace syncblock::repl
