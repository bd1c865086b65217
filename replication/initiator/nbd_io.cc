#include "replication/initiator/nbd_io.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace syncblock::repl::initiator {
namespace {

using namespace nbdproto;

void PutBe(char* p, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

uint64_t GetBe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

absl::Status Broken(const char* what) {
  return absl::UnavailableError(
      absl::StrCat("NBD connection: ", what, ": ", errno == 0 ? "closed" : std::strerror(errno)));
}

absl::Status SendAll(int fd, iovec* iov, int count) {
  while (count > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Broken("send");
    size_t left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return absl::OkStatus();
}

absl::Status RecvAll(int fd, char* out, size_t len) {
  size_t done = 0;
  while (done < len) {
    errno = 0;
    ssize_t n = recv(fd, out + done, len - done, MSG_WAITALL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Broken("recv");
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

// The NBD error values are Linux errno numbers (doc/proto.md "Error values").
absl::Status ServerError(uint32_t error, uint16_t type) {
  std::string what = absl::StrCat("NBD server error ", error, " on command ", type);
  switch (error) {
    case kEperm:
      return absl::PermissionDeniedError(what);
    case kEnospc:
      return absl::ResourceExhaustedError(what);
    case kEinval:
      return absl::InvalidArgumentError(what);
    case kEoverflow:
      return absl::OutOfRangeError(what);
    case kEnotsup:
      return absl::UnimplementedError(what);
    case kEshutdown:
      // The server is going away: the connection is as good as broken.
      return absl::UnavailableError(what);
    default:
      return absl::DataLossError(what);  // EIO and anything unknown
  }
}

}  // namespace

NbdIoConnection::NbdIoConnection(NbdConnection conn, std::chrono::milliseconds io_timeout)
    : conn_(std::move(conn)) {
  timeval tv{};
  tv.tv_sec = io_timeout.count() / 1000;
  tv.tv_usec = (io_timeout.count() % 1000) * 1000;
  setsockopt(conn_.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(conn_.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

absl::Status NbdIoConnection::Transact(uint16_t type, uint16_t flags, uint64_t offset,
                                       uint32_t length, const char* payload, char* out) {
  if (conn_.fd() < 0) return absl::UnavailableError("NBD connection is closed");
  const uint64_t cookie = next_cookie_++;
  char header[kRequestHeaderSize];
  PutBe(header, kRequestMagic, 4);
  PutBe(header + 4, flags, 2);
  PutBe(header + 6, type, 2);
  PutBe(header + 8, cookie, 8);
  PutBe(header + 16, offset, 8);
  PutBe(header + 24, length, 4);
  iovec iov[2] = {{header, sizeof(header)}, {const_cast<char*>(payload), payload ? length : 0}};
  absl::Status st = SendAll(conn_.fd(), iov, payload ? 2 : 1);
  if (!st.ok()) return st;

  char reply[kSimpleReplySize];
  st = RecvAll(conn_.fd(), reply, sizeof(reply));
  if (!st.ok()) return st;
  if (GetBe(reply, 4) != kSimpleReplyMagic) {
    return absl::InternalError("NBD connection: bad reply magic (structured reply?)");
  }
  if (GetBe(reply + 8, 8) != cookie) {
    return absl::InternalError("NBD connection: reply to a request we did not send");
  }
  const uint32_t error = static_cast<uint32_t>(GetBe(reply + 4, 4));
  // A read's payload follows its reply only when the reply is not an error.
  if (error != 0) return ServerError(error, type);
  if (out != nullptr) return RecvAll(conn_.fd(), out, length);
  return absl::OkStatus();
}

absl::Status NbdIoConnection::Read(uint64_t offset, uint32_t length, char* out) {
  return Transact(kCmdRead, 0, offset, length, nullptr, out);
}

absl::Status NbdIoConnection::Write(uint64_t offset, uint32_t length, const char* data, bool fua) {
  uint16_t flags = fua && (info().transmission_flags & kFlagSendFua) ? kCmdFlagFua : 0;
  return Transact(kCmdWrite, flags, offset, length, data, nullptr);
}

absl::Status NbdIoConnection::Flush() {
  if (!(info().transmission_flags & kFlagSendFlush)) return absl::OkStatus();
  return Transact(kCmdFlush, 0, 0, 0, nullptr, nullptr);
}

absl::Status NbdIoConnection::Trim(uint64_t offset, uint32_t length) {
  if (!(info().transmission_flags & kFlagSendTrim)) {
    return absl::UnimplementedError("the NBD server does not take TRIM");
  }
  return Transact(kCmdTrim, 0, offset, length, nullptr, nullptr);
}

absl::Status NbdIoConnection::WriteZeroes(uint64_t offset, uint32_t length, bool no_hole) {
  if (!(info().transmission_flags & kFlagSendWriteZeroes)) {
    return absl::UnimplementedError("the NBD server does not take WRITE_ZEROES");
  }
  return Transact(kCmdWriteZeroes, no_hole ? kCmdFlagNoHole : 0, offset, length, nullptr, nullptr);
}

bool IsConnectionBroken(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsInternal(status);
}

int ErrnoOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 0;
    case absl::StatusCode::kPermissionDenied:
      return EPERM;
    case absl::StatusCode::kResourceExhausted:
      return ENOSPC;
    case absl::StatusCode::kInvalidArgument:
      return EINVAL;
    case absl::StatusCode::kOutOfRange:
      return EOVERFLOW;
    case absl::StatusCode::kUnimplemented:
      return EOPNOTSUPP;
    default:
      return EIO;
  }
}

}  // namespace syncblock::repl::initiator
