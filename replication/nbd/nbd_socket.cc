#include "replication/nbd/nbd_socket.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace syncblock::repl::nbd {

SocketReader::SocketReader(security::ByteStream* stream, size_t buffer_size)
    : stream_(stream), capacity_(buffer_size) {}

void SocketReader::ReleaseBuffer() {
  if (begin_ == end_) buffer_.reset();
}

bool SocketReader::Fill() {
  begin_ = end_ = 0;
  if (!buffer_) buffer_.reset(new char[capacity_]);
  while (true) {
    ssize_t n = stream_->Read(buffer_.get(), capacity_);
    if (n > 0) {
      end_ = static_cast<size_t>(n);
      return true;
    }
    if (n == 0) {
      errno = 0;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

bool SocketReader::ReadExact(void* dst, size_t n) {
  char* out = static_cast<char*>(dst);
  while (n > 0) {
    if (begin_ < end_) {
      size_t take = std::min(n, end_ - begin_);
      std::memcpy(out, buffer_.get() + begin_, take);
      begin_ += take;
      out += take;
      n -= take;
      continue;
    }
    if (n >= capacity_) {
      // Large payloads go straight to their destination: no second copy.
      ssize_t got = stream_->Read(out, n);
      if (got > 0) {
        out += got;
        n -= static_cast<size_t>(got);
      } else if (got == 0) {
        errno = 0;
        return false;
      } else if (errno != EINTR) {
        return false;
      }
      continue;
    }
    if (!Fill()) return false;
  }
  return true;
}

bool SocketReader::Discard(size_t n) {
  while (n > 0) {
    if (begin_ == end_ && !Fill()) return false;
    size_t take = std::min(n, end_ - begin_);
    begin_ += take;
    n -= take;
  }
  return true;
}

namespace {

ssize_t SendMsg(int fd, struct iovec* iov, int iovcnt, int flags) {
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<size_t>(iovcnt);
  // MSG_NOSIGNAL: a client that went away must not SIGPIPE the daemon.
  return ::sendmsg(fd, &msg, flags | MSG_NOSIGNAL);
}

}  // namespace

bool SendAll(int fd, struct iovec* iov, int iovcnt) {
  int first = 0;
  while (first < iovcnt) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    ssize_t n = SendMsg(fd, iov + first, iovcnt - first, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    first += AdvanceIov(iov + first, iovcnt - first, static_cast<size_t>(n));
  }
  return true;
}

long SendSome(int fd, struct iovec* iov, int iovcnt) {
  long total = 0;
  int first = 0;
  while (first < iovcnt) {
    if (iov[first].iov_len == 0) {
      ++first;
      continue;
    }
    ssize_t n = SendMsg(fd, iov + first, iovcnt - first, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return -1;
    }
    total += n;
    first += AdvanceIov(iov + first, iovcnt - first, static_cast<size_t>(n));
  }
  return total;
}

}  // namespace syncblock::repl::nbd
