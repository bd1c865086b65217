#include "replication/security/byte_stream.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "replication/util/iovec.h"

namespace syncblock::security {
namespace {

// MSG_NOSIGNAL: a peer that went away must not SIGPIPE the daemon.
ssize_t SendMsg(int fd, struct iovec* iov, int iovcnt, int flags) {
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<size_t>(iovcnt);
  return ::sendmsg(fd, &msg, flags | MSG_NOSIGNAL);
}

// Sends from a copy of the vector (callers pass theirs as const).
long Send(int fd, const struct iovec* iov, int iovcnt, bool wait) {
  IovCopy rest(iov, iov + iovcnt);
  long total = 0;
  int first = AdvanceIov(rest.data(), iovcnt, 0);
  while (first < iovcnt) {
    ssize_t n = SendMsg(fd, rest.data() + first, iovcnt - first, wait ? 0 : MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (!wait && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return -1;
    }
    total += n;
    first += AdvanceIov(rest.data() + first, iovcnt - first, static_cast<size_t>(n));
  }
  return total;
}

}  // namespace

std::string ByteStream::ErrorText(int err) const { return std::strerror(err); }

bool ByteStream::ReadFull(void* buf, size_t n) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    ssize_t r = Read(p, n);
    if (r == 0) errno = 0;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

ssize_t PlainStream::Read(void* buf, size_t n) {
  for (;;) {
    ssize_t r = ::read(fd_, buf, n);
    if (r >= 0 || errno != EINTR) return r;
  }
}

bool PlainStream::Writev(const struct iovec* iov, int iovcnt) {
  return Send(fd_, iov, iovcnt, /*wait=*/true) >= 0;
}

long PlainStream::WritevSome(const struct iovec* iov, int iovcnt) {
  return Send(fd_, iov, iovcnt, /*wait=*/false);
}

}  // namespace syncblock::security
