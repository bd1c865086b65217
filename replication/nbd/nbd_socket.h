// Blocking socket IO for the NBD server: a buffered reader (so a 28-byte
// request header does not cost a system call of its own) and vectored sends
// that write a reply whole. The reader reads through a security::ByteStream,
// the bare socket (PlainStream) until NBD_OPT_STARTTLS and TLS after it.
//
// With TLS, the reader never leaves decrypted bytes inside the TLS stream:
// every read asks for at least a whole record (16 KiB) or more than is left
// of it, so "nothing buffered here and the socket not readable" still means
// "no input" (the connection parks on that).
//
// SocketReader is used by one thread at a time (the connection's reader).
// The send functions are stateless; callers serialise sends on one socket.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <memory>

#include "replication/security/byte_stream.h"
#include "replication/util/iovec.h"

namespace syncblock::repl::nbd {

class SocketReader {
 public:
  // `stream` is not owned; Reset() replaces it (after STARTTLS).
  explicit SocketReader(security::ByteStream* stream, size_t buffer_size = 128 * 1024);
  void Reset(security::ByteStream* stream) { stream_ = stream; }

  // Fills `dst` with exactly `n` bytes. False on EOF, error or receive
  // timeout (errno tells which; 0 on a clean EOF).
  bool ReadExact(void* dst, size_t n);
  // Reads and drops `n` bytes without buffering them all.
  bool Discard(size_t n);
  // Bytes received and not yet consumed, here or in the stream (TLS reads
  // ahead): a reader must not wait for the socket while this is true.
  bool buffered() const { return begin_ < end_ || stream_->HasBufferedInput(); }
  // Frees the buffer while nothing is buffered (an idle connection); the
  // next read allocates it again.
  void ReleaseBuffer();

 private:
  bool Fill();

  security::ByteStream* stream_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_;
  size_t begin_ = 0;
  size_t end_ = 0;
};

// Sends all of `iov` (blocking; honours SO_SNDTIMEO). False on error.
bool SendAll(int fd, struct iovec* iov, int iovcnt);
// Sends as much of `iov` as the socket takes now, without blocking. Returns
// the bytes sent (0 when the buffer is full), or -1 on a socket error.
long SendSome(int fd, struct iovec* iov, int iovcnt);

}  // namespace syncblock::repl::nbd
