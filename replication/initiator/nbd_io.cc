#include "replication/initiator/nbd_io.h"

#include <libnbd.h>

#include <cerrno>
#include <string>

#include "absl/strings/str_cat.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/security/certificate_dir.h"

namespace syncblock::repl::initiator {
namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline`, at least 0.
int Remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// libnbd's last error on this thread as a status. A handle that is dead or
// closed is a lost connection whatever errno libnbd chose (a command sent to
// a dead handle fails with EINVAL, "invalid state"), and so are transport
// errnos and ESHUTDOWN; otherwise the errno is the server's NBD error for
// this one request (doc/proto.md "Error values" are Linux errno numbers, and
// libnbd hands them on as such), mapped back by the codec.
absl::Status LastError(nbd_handle* h, const std::string& where) {
  const int err = nbd_get_errno();
  const char* text = nbd_get_error();
  const std::string what = absl::StrCat(where, ": ", text != nullptr ? text : "unknown error");
  if (h == nullptr || nbd_aio_is_dead(h) == 1 || nbd_aio_is_closed(h) == 1) {
    if (err == ENOENT) return absl::NotFoundError(what);  // NBD_REP_ERR_UNKNOWN
    // NBD_REP_ERR_POLICY: not published to this node (nbd_access.h).
    if (err == EPERM || err == EACCES) return absl::PermissionDeniedError(what);
    return absl::UnavailableError(what);
  }
  switch (err) {
    case ESHUTDOWN:  // the server is going away (a deposed primary)
    case ENOTCONN:
    case ECONNRESET:
    case EPIPE:
    case ETIMEDOUT:
      return absl::UnavailableError(what);
    case EPROTO:
      return absl::InternalError(what);  // a protocol violation: drop the connection
    default:
      return nbd::StatusFromError(static_cast<uint32_t>(err), what);
  }
}

// The transmission flags the export advertised, as libnbd reports them one by one.
uint16_t FlagsOf(nbd_handle* h) {
  uint16_t flags = nbd::kFlagHasFlags;
  if (nbd_is_read_only(h) == 1) flags |= nbd::kFlagReadOnly;
  if (nbd_can_flush(h) == 1) flags |= nbd::kFlagSendFlush;
  if (nbd_can_fua(h) == 1) flags |= nbd::kFlagSendFua;
  if (nbd_can_trim(h) == 1) flags |= nbd::kFlagSendTrim;
  if (nbd_can_zero(h) == 1) flags |= nbd::kFlagSendWriteZeroes;
  if (nbd_can_multi_conn(h) == 1) flags |= nbd::kFlagCanMultiConn;
  if (nbd_can_cache(h) == 1) flags |= nbd::kFlagSendCache;
  return flags;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NbdIoConnection>> NbdIoConnection::Open(
    const NbdUri& uri, std::chrono::milliseconds connect_timeout,
    std::chrono::milliseconds io_timeout, const security::TlsFiles* identity) {
  const std::string peer = uri.ToString();
  nbd_handle* h = nbd_create();
  if (h == nullptr) return LastError(nullptr, peer);
  // Simple replies only: our server does not do structured replies, and
  // asking costs a round trip per connection.
  // TLS: required (no fallback to plaintext) whenever this process has a
  // certificate, presented from the GnuTLS-style directory libnbd reads.
  const bool tls = identity != nullptr ? identity->enabled() : (NbdClientTlsEnabled() || uri.tls);
  if (tls) {
    auto dir =
        identity != nullptr ? security::ClientCertificateDir(*identity) : NbdClientCertificateDir();
    if (!dir.ok()) {
      nbd_close(h);
      return absl::FailedPreconditionError(absl::StrCat(peer, ": ", dir.status().message()));
    }
    if (nbd_set_tls(h, LIBNBD_TLS_REQUIRE) == -1 ||
        nbd_set_tls_certificates(h, dir->c_str()) == -1 || nbd_set_tls_verify_peer(h, true) == -1) {
      absl::Status st = LastError(h, peer);
      nbd_close(h);
      return absl::FailedPreconditionError(st.message());
    }
  }
  if (nbd_set_export_name(h, uri.export_name.c_str()) == -1 ||
      nbd_set_request_structured_replies(h, false) == -1) {
    absl::Status st = LastError(h, peer);
    nbd_close(h);
    return absl::UnavailableError(st.message());
  }
  if (nbd_aio_connect_tcp(h, uri.host.c_str(), std::to_string(uri.port).c_str()) == -1) {
    // A server that answers at once may have refused the export within this
    // call: the handshake's error is kept (NOT_FOUND, PERMISSION_DENIED), as
    // when it fails in the poll loop below.
    absl::Status st = LastError(h, peer);
    nbd_close(h);
    if (absl::IsNotFound(st) || absl::IsPermissionDenied(st)) return st;
    return absl::UnavailableError(st.message());
  }
  const auto deadline = Clock::now() + connect_timeout;
  while (nbd_aio_is_ready(h) != 1) {
    const int left = Remaining(deadline);
    const int r = left > 0 ? nbd_poll(h, left) : 0;
    if (r == -1 || nbd_aio_is_dead(h) == 1 || nbd_aio_is_closed(h) == 1) {
      absl::Status st = LastError(h, peer);
      nbd_close(h);
      return st;
    }
    if (r == 0 && Remaining(deadline) == 0) {
      nbd_close(h);
      return absl::UnavailableError(
          absl::StrCat(peer, ": no NBD handshake within ", connect_timeout.count(), " ms"));
    }
  }
  NbdExportInfo info;
  info.size = static_cast<uint64_t>(nbd_get_size(h));
  info.transmission_flags = FlagsOf(h);
  // 0 (or -1) when the server sent no NBD_INFO_BLOCK_SIZE: keep the defaults.
  if (int64_t v = nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM); v > 0) info.min_block = v;
  if (int64_t v = nbd_get_block_size(h, LIBNBD_SIZE_PREFERRED); v > 0) info.preferred_block = v;
  if (int64_t v = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM); v > 0) info.max_block = v;
  return std::unique_ptr<NbdIoConnection>(new NbdIoConnection(h, info, io_timeout));
}

NbdIoConnection::~NbdIoConnection() {
  if (handle_ != nullptr) nbd_close(handle_);
}

void NbdIoConnection::Disconnect() {
  if (handle_ == nullptr) return;
  if (nbd_aio_is_ready(handle_) == 1) nbd_shutdown(handle_, 0);
  nbd_close(handle_);
  handle_ = nullptr;
}

absl::Status NbdIoConnection::Wait(int64_t cookie, const char* what) {
  if (cookie == -1) return LastError(handle_, what);
  const auto deadline = Clock::now() + io_timeout_;
  for (;;) {
    const int done = nbd_aio_command_completed(handle_, static_cast<uint64_t>(cookie));
    if (done == 1) return absl::OkStatus();
    if (done == -1) return LastError(handle_, what);
    const int left = Remaining(deadline);
    if (left == 0) {
      // The command stays in flight on a connection nobody uses again.
      return absl::UnavailableError(absl::StrCat(what, ": no reply within ", io_timeout_.count(),
                                                 " ms; dropping the connection"));
    }
    if (nbd_poll(handle_, left) == -1) return LastError(handle_, what);
  }
}

absl::Status NbdIoConnection::Read(uint64_t offset, uint32_t length, char* out) {
  if (handle_ == nullptr) return absl::UnavailableError("NBD connection is closed");
  return Wait(nbd_aio_pread(handle_, out, length, offset, NBD_NULL_COMPLETION, 0), "NBD read");
}

absl::Status NbdIoConnection::Write(uint64_t offset, uint32_t length, const char* data, bool fua) {
  if (handle_ == nullptr) return absl::UnavailableError("NBD connection is closed");
  const uint32_t flags =
      fua && (info_.transmission_flags & nbd::kFlagSendFua) ? LIBNBD_CMD_FLAG_FUA : 0;
  return Wait(nbd_aio_pwrite(handle_, data, length, offset, NBD_NULL_COMPLETION, flags),
              "NBD write");
}

absl::Status NbdIoConnection::Flush() {
  if (handle_ == nullptr) return absl::UnavailableError("NBD connection is closed");
  if (!(info_.transmission_flags & nbd::kFlagSendFlush)) return absl::OkStatus();
  return Wait(nbd_aio_flush(handle_, NBD_NULL_COMPLETION, 0), "NBD flush");
}

absl::Status NbdIoConnection::Trim(uint64_t offset, uint32_t length) {
  if (handle_ == nullptr) return absl::UnavailableError("NBD connection is closed");
  if (!(info_.transmission_flags & nbd::kFlagSendTrim)) {
    return absl::UnimplementedError("the NBD server does not take TRIM");
  }
  return Wait(nbd_aio_trim(handle_, length, offset, NBD_NULL_COMPLETION, 0), "NBD trim");
}

absl::Status NbdIoConnection::WriteZeroes(uint64_t offset, uint32_t length, bool no_hole) {
  if (handle_ == nullptr) return absl::UnavailableError("NBD connection is closed");
  if (!(info_.transmission_flags & nbd::kFlagSendWriteZeroes)) {
    return absl::UnimplementedError("the NBD server does not take WRITE_ZEROES");
  }
  return Wait(nbd_aio_zero(handle_, length, offset, NBD_NULL_COMPLETION,
                           no_hole ? LIBNBD_CMD_FLAG_NO_HOLE : 0),
              "NBD write-zeroes");
}

bool IsConnectionBroken(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsInternal(status);
}

int ErrnoOf(const absl::Status& status) { return static_cast<int>(nbd::ErrorFromStatus(status)); }

}  // namespace syncblock::repl::initiator
