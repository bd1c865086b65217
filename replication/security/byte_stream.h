// A connected byte stream, plain or TLS: what the NBD server and the
// replication links read and write through, so that they run the same over
// TLS (TlsStream) and, with --insecure, over the bare socket (PlainStream).
//
// Semantics follow the socket's: Read like read(2) (blocks until some bytes,
// 0 at the end, -1 with errno; SO_RCVTIMEO gives EAGAIN), Writev sends all or
// fails (SO_SNDTIMEO bounds a stalled send), WritevSome sends what fits now.
// One reader and several writers may use a stream at once (writers
// serialise their own messages). A stream does not own its socket.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <string>

#include "replication/security/certificates.h"

namespace syncblock::security {

class ByteStream {
 public:
  virtual ~ByteStream() = default;
  virtual int fd() const = 0;
  virtual ssize_t Read(void* buf, size_t n) = 0;
  virtual bool Writev(const struct iovec* iov, int iovcnt) = 0;
  // The bytes taken (0 when the socket is full), or -1 with errno. After a
  // short count the next call must start with the bytes not taken. Bytes
  // taken may still wait in the stream (HasPendingOutput): a Writev, even of
  // nothing, sends them.
  virtual long WritevSome(const struct iovec* iov, int iovcnt) = 0;
  // Bytes WritevSome took that have not reached the socket yet.
  virtual bool HasPendingOutput() = 0;
  // Ends the stream for the peer (TLS close_notify; nothing for plain).
  virtual void Close() = 0;
  // The peer's verified identity, or null on a plain stream.
  virtual const PeerIdentity* peer() const = 0;
  // Input the stream already holds (TLS reads ahead of what was asked), so
  // the next Read returns without the socket becoming readable: a reader
  // must not wait for the socket while this is true.
  virtual bool HasBufferedInput() = 0;
  // Why the last Read or Write failed with `err` (its errno): strerror, or
  // for TLS what the session said (a peer's alert names why it refused us).
  virtual std::string ErrorText(int err) const;

  bool Write(const void* buf, size_t n) {
    struct iovec iov {
      const_cast<void*>(buf), n
    };
    return Writev(&iov, 1);
  }
  // Reads exactly n bytes: false at the end or on error (errno; 0 at a
  // clean end).
  bool ReadFull(void* buf, size_t n);
};

class PlainStream final : public ByteStream {
 public:
  explicit PlainStream(int fd) : fd_(fd) {}
  int fd() const override { return fd_; }
  ssize_t Read(void* buf, size_t n) override;
  bool Writev(const struct iovec* iov, int iovcnt) override;
  long WritevSome(const struct iovec* iov, int iovcnt) override;
  void Close() override {}
  const PeerIdentity* peer() const override { return nullptr; }
  bool HasBufferedInput() override { return false; }
  bool HasPendingOutput() override { return false; }

 private:
  const int fd_;
};

}  // namespace syncblock::security
