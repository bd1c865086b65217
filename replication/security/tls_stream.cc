#include "replication/security/tls_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/util/iovec.h"
#include "replication/util/status_macros.h"

namespace syncblock::security {
namespace {

// One TLS record's worth: small pieces of an iovec (an NBD reply header and
// its data) go out in one record, not one each.
constexpr size_t kRecord = 16 * 1024;
// Records are written into a buffer and leave together: a 1 MiB NBD reply is
// four system calls rather than sixty-four (each costs more than the cipher).
constexpr long kWriteBuffer = 256 * 1024;

// Puts a write buffer between the session and its socket.
bool BufferWrites(SSL* ssl) {
  BIO* socket = SSL_get_wbio(ssl);
  BIO* buffer = BIO_new(BIO_f_buffer());
  if (socket == nullptr || buffer == nullptr ||
      BIO_set_write_buffer_size(buffer, kWriteBuffer) != 1 || BIO_up_ref(socket) != 1) {
    BIO_free(buffer);
    return false;
  }
  BIO_push(buffer, socket);
  SSL_set0_wbio(ssl, buffer);
  return true;
}

int PollTimeoutMs(int fd, int option) {
  timeval tv{};
  socklen_t len = sizeof tv;
  if (getsockopt(fd, SOL_SOCKET, option, &tv, &len) != 0) return -1;
  if (tv.tv_sec == 0 && tv.tv_usec == 0) return -1;  // no timeout set: wait
  return static_cast<int>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
}

// False with errno = EAGAIN when `timeout_ms` passed (as SO_RCVTIMEO does).
bool WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = poll(&p, 1, timeout_ms);
    if (r > 0) return true;
    if (r == 0) {
      errno = EAGAIN;
      return false;
    }
    if (errno != EINTR) return false;
  }
}

absl::Status HandshakeError(SSL* ssl, bool server, const std::string& detail) {
  long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    return absl::UnauthenticatedError(
        absl::StrCat("TLS: the ", server ? "client" : "server",
                     "'s certificate is not trusted: ", X509_verify_cert_error_string(verify)));
  }
  if (detail.find("alert") != std::string::npos) {
    return absl::UnauthenticatedError(absl::StrCat("TLS: the ", server ? "client" : "server",
                                                   " refused the handshake (", detail,
                                                   "); is our certificate from its CA?"));
  }
  if (detail.find("peer did not return a certificate") != std::string::npos) {
    return absl::UnauthenticatedError("TLS: the client presented no certificate");
  }
  return absl::UnavailableError(absl::StrCat("TLS handshake failed: ", detail));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::Accept(int fd, TlsContext& context,
                                                             std::chrono::milliseconds timeout) {
  return Handshake(fd, context, /*server=*/true, timeout, std::nullopt);
}

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::Connect(
    int fd, TlsContext& context, std::chrono::milliseconds timeout,
    const std::optional<PeerIdentity>& expected) {
  return Handshake(fd, context, /*server=*/false, timeout, expected);
}

absl::StatusOr<std::unique_ptr<TlsStream>> TlsStream::Handshake(
    int fd, TlsContext& context, bool server, std::chrono::milliseconds timeout,
    const std::optional<PeerIdentity>& expected) {
  // OpenSSL writes with write(2): a peer gone away must not kill us.
  static std::once_flag sigpipe;
  std::call_once(sigpipe, [] { signal(SIGPIPE, SIG_IGN); });

  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return absl::UnavailableError(
        absl::StrCat("TLS: cannot make the socket non-blocking: ", strerror(errno)));
  }
  std::shared_ptr<SSL_CTX> ctx = context.Current();
  SSL* ssl = SSL_new(ctx.get());
  if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1 || !BufferWrites(ssl)) {
    SSL_free(ssl);
    return absl::InternalError(absl::StrCat("TLS: cannot start a session: ", OpenSslErrors()));
  }
  std::unique_ptr<TlsStream> stream(new TlsStream(fd, ssl));
  if (server) {
    SSL_set_accept_state(ssl);
  } else {
    SSL_set_connect_state(ssl);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) break;
    int err = SSL_get_error(ssl, r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      std::string detail = err == SSL_ERROR_SYSCALL
                               ? (errno != 0 ? std::string(strerror(errno)) : "the peer closed")
                               : OpenSslErrors();
      return HandshakeError(ssl, server, detail);
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !WaitFor(fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                                      static_cast<int>(left.count()))) {
      if (errno == EAGAIN) {
        return absl::DeadlineExceededError(
            absl::StrCat("TLS handshake did not finish within ", timeout.count(), " ms"));
      }
      return absl::UnavailableError(absl::StrCat("TLS handshake: ", strerror(errno)));
    }
  }
  // The verified chain, so that a role-limited signing CA is seen even when
  // it came from our own trust store rather than from the peer.
  std::vector<X509*> chain;
  if (STACK_OF(X509)* verified = SSL_get0_verified_chain(ssl)) {
    for (int i = 0; i < sk_X509_num(verified); ++i) chain.push_back(sk_X509_value(verified, i));
  }
  ASSIGN_OR_RETURN(stream->peer_, IdentityOfChain(chain));
  if (expected.has_value() && (stream->peer_.name != expected->name ||
                               (!expected->role.empty() && stream->peer_.role != expected->role))) {
    return absl::UnauthenticatedError(absl::StrCat("TLS: expected ", expected->ToString(),
                                                   " but the peer is ", stream->peer_.ToString()));
  }
  return stream;
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

template <typename Op>
long TlsStream::Run(Op op, bool wait, int timeout_option) {
  for (;;) {
    int err;
    {
      MutexLock l(&mu_);
      ERR_clear_error();
      size_t done = 0;
      int r = op(&done);
      if (r == 1) return static_cast<long>(done);
      err = SSL_get_error(ssl_, r);
      if (err == SSL_ERROR_ZERO_RETURN) {
        // The peer ended the session (close_notify, or an EOF taken as one).
        // A read sees the end; a write can never make progress: failing it
        // here is what keeps a writer from retrying forever.
        if (timeout_option == SO_RCVTIMEO) return 0;
        errno = EPIPE;
        return -1;
      }
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        int saved = errno;
        if (err == SSL_ERROR_SSL) {
          failure_ = OpenSslErrors();
        } else {
          ERR_clear_error();
        }
        errno = err == SSL_ERROR_SYSCALL && saved != 0 ? saved : EIO;
        return -1;
      }
    }
    if (!wait) return 0;
    if (!WaitFor(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
                 PollTimeoutMs(fd_, timeout_option))) {
      return -1;
    }
  }
}

ssize_t TlsStream::Read(void* buf, size_t n) {
  if (n == 0) return 0;
  char* out = static_cast<char*>(buf);
  // SSL_read returns one record (at most 16 KiB) per call: take every record
  // already read ahead, not one per Read, so a 1 MiB request costs a few
  // calls and system calls rather than sixty-four of each.
  return Run(
      [&](size_t* done) {
        int r = SSL_read_ex(ssl_, out, n, done);
        if (r != 1) return r;
        while (*done < n && SSL_has_pending(ssl_)) {
          size_t more = 0;
          if (SSL_read_ex(ssl_, out + *done, n - *done, &more) != 1) {
            ERR_clear_error();  // returned next time, with what is read now
            break;
          }
          *done += more;
        }
        return 1;
      },
      /*wait=*/true, SO_RCVTIMEO);
}

bool TlsStream::HasBufferedInput() {
  MutexLock l(&mu_);
  return SSL_has_pending(ssl_) == 1;
}

bool TlsStream::HasPendingOutput() {
  MutexLock l(&mu_);
  return BIO_wpending(SSL_get_wbio(ssl_)) > 0;
}

bool TlsStream::Flush(bool wait) {
  for (;;) {
    {
      MutexLock l(&mu_);
      BIO* out = SSL_get_wbio(ssl_);
      errno = 0;
      if (BIO_flush(out) > 0) return true;
      if (!BIO_should_retry(out)) {
        if (errno == 0) errno = EPIPE;
        return false;
      }
    }
    if (!wait) {
      errno = EAGAIN;
      return false;
    }
    if (!WaitFor(fd_, POLLOUT, PollTimeoutMs(fd_, SO_SNDTIMEO))) return false;
  }
}

long TlsStream::WritevSome(const struct iovec* iov, int iovcnt) {
  thread_local std::array<char, kRecord> staging;
  IovCopy rest(iov, iov + iovcnt);
  long total = 0;
  int first = AdvanceIov(rest.data(), iovcnt, 0);
  while (first < iovcnt) {
    const char* src = static_cast<const char*>(rest[first].iov_base);
    size_t len = rest[first].iov_len;
    if (len < kRecord) {
      // Gather small pieces into one record.
      len = 0;
      for (int j = first; j < iovcnt && len < kRecord; ++j) {
        size_t take = std::min(rest[j].iov_len, kRecord - len);
        memcpy(staging.data() + len, rest[j].iov_base, take);
        len += take;
      }
      src = staging.data();
    }
    long n =
        Run([&](size_t* done) { return SSL_write_ex(ssl_, src, len, done); }, false, SO_SNDTIMEO);
    if (n < 0) return total > 0 ? total : -1;
    if (n == 0) return total;
    total += n;
    first += AdvanceIov(rest.data() + first, iovcnt - first, static_cast<size_t>(n));
  }
  // What stays in the buffer is sent by the next Writev (HasPendingOutput).
  if (!Flush(/*wait=*/false) && errno != EAGAIN) return total > 0 ? total : -1;
  return total;
}

bool TlsStream::Writev(const struct iovec* iov, int iovcnt) {
  IovCopy rest(iov, iov + iovcnt);
  int first = AdvanceIov(rest.data(), iovcnt, 0);
  while (first < iovcnt) {
    long n = WritevSome(rest.data() + first, iovcnt - first);
    if (n < 0) return false;
    if (n == 0) {
      if (!WaitFor(fd_, POLLOUT, PollTimeoutMs(fd_, SO_SNDTIMEO))) return false;
      continue;
    }
    first += AdvanceIov(rest.data() + first, iovcnt - first, static_cast<size_t>(n));
  }
  return Flush(/*wait=*/true);
}

std::string TlsStream::ErrorText(int err) const {
  std::string failure;
  {
    MutexLock l(&mu_);
    failure = failure_;
  }
  if (err != EIO || failure.empty()) return ByteStream::ErrorText(err);
  if (failure.find("alert") != std::string::npos) {
    // The reason is the alert's name, the last part of OpenSSL's line.
    std::string alert = failure.substr(failure.rfind(':') + 1);
    return absl::StrCat("TLS: the peer refused the session (", alert,
                        alert.find("unknown ca") != std::string::npos ||
                                alert.find("certificate") != std::string::npos
                            ? "): it does not accept our certificate"
                            : ")");
  }
  return absl::StrCat("TLS: ", failure);
}

void TlsStream::Close() {
  MutexLock l(&mu_);
  if (closed_) return;
  closed_ = true;
  ERR_clear_error();
  SSL_shutdown(ssl_);  // best effort, non-blocking: the socket closes next
  (void)BIO_flush(SSL_get_wbio(ssl_));
  ERR_clear_error();
}

}  // namespace syncblock::security
