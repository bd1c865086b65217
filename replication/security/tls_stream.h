// A TLS 1.3 session over a connected TCP socket, for the protocols we frame
// ourselves (NBD after STARTTLS, replication links). It reads and writes
// like the socket would, so the code above it keeps its shape: Read returns
// what is there (blocking until something is), Write/Writev send all.
//
// One reader thread and one or more writer threads may use a stream at
// once (an NBD connection's reader and its repliers, a peer link's sender
// and ack reader): every OpenSSL call runs under one mutex, and waiting for
// the socket happens outside it, on a non-blocking socket. The socket's
// SO_RCVTIMEO / SO_SNDTIMEO still bound how long a Read or Write waits
// (errno ETIMEDOUT), as they did on the plain socket.
//
// The stream does not own the socket; its owner closes it after the stream
// is gone. Thread-safe as described.
#pragma once

#include <openssl/ssl.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/security/byte_stream.h"
#include "replication/security/certificates.h"
#include "replication/security/tls_context.h"
#include "replication/util/mutex.h"

namespace syncblock::security {

class TlsStream final : public ByteStream {
 public:
  // The server side of the handshake on `fd`. UNAUTHENTICATED when the peer
  // has no certificate or one our CA did not sign (the message says which);
  // DEADLINE_EXCEEDED after `timeout`.
  static absl::StatusOr<std::unique_ptr<TlsStream>> Accept(int fd, TlsContext& context,
                                                           std::chrono::milliseconds timeout);
  // The client side. With `expected`, a server whose certificate names
  // another identity (name and, when set, role) is refused: a replication
  // link checks it reached the node it meant to.
  static absl::StatusOr<std::unique_ptr<TlsStream>> Connect(
      int fd, TlsContext& context, std::chrono::milliseconds timeout,
      const std::optional<PeerIdentity>& expected = std::nullopt);

  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Who is at the other end, from its verified certificate.
  const PeerIdentity* peer() const override { return &peer_; }
  int fd() const override { return fd_; }

  // Like read(2): > 0 bytes read, 0 at the peer's close, -1 with errno
  // (ETIMEDOUT, ECONNRESET, EIO for a TLS failure).
  ssize_t Read(void* buf, size_t n) override;
  // Sends all of `iov`, and whatever earlier calls left in the write buffer:
  // true, or false with errno.
  bool Writev(const struct iovec* iov, int iovcnt) override;
  // Takes what it can without waiting: the bytes taken (0 when the socket is
  // full), or -1 with errno. After 0, the next call must start with the same
  // bytes (OpenSSL may hold part of a record). Records taken may wait in the
  // write buffer when the socket is full (HasPendingOutput).
  long WritevSome(const struct iovec* iov, int iovcnt) override;
  bool HasPendingOutput() override;
  // Sends close_notify (best effort) so that the peer sees a clean end.
  void Close() override;
  bool HasBufferedInput() override;
  // After a TLS failure (errno EIO): OpenSSL's reason, and for an alert the
  // peer sent, that the peer refused the session ("tlsv1 alert unknown ca":
  // our certificate is not from its CA).
  std::string ErrorText(int err) const override;

 private:
  TlsStream(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  static absl::StatusOr<std::unique_ptr<TlsStream>> Handshake(
      int fd, TlsContext& context, bool server, std::chrono::milliseconds timeout,
      const std::optional<PeerIdentity>& expected);
  // Runs `op` (an SSL_read/SSL_write) until it makes progress or fails.
  // `wait` false: returns 0 instead of waiting for the socket.
  template <typename Op>
  long Run(Op op, bool wait, int timeout_option);
  // Sends the write buffer to the socket: true when it is empty; with
  // `wait`, waits for the socket (SO_SNDTIMEO), else false with errno EAGAIN
  // when the socket is full; false with errno on failure.
  bool Flush(bool wait);

  const int fd_;
  mutable Mutex mu_;
  SSL* const ssl_;  // every use under mu_
  PeerIdentity peer_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::string failure_ ABSL_GUARDED_BY(mu_);  // OpenSSL's reason for the last EIO
};

}  // namespace syncblock::security
