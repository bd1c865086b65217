// One NBD connection of the initiator, in the transmission phase, driven by
// libnbd (the library behind nbdcopy and nbdfuse; Debian's libnbd-dev):
// read, write, flush, trim and write-zeroes, each waited for with a deadline.
// libnbd does the handshake (NBD_OPT_GO, falling back as the server needs),
// the request/reply framing and, later, TLS (nbd_set_tls_certificates);
// this class adds what libnbd leaves to its caller: a bound on how long a
// request may take (a hung server reads as a broken connection), and the
// split of failures into "this connection is gone" and "the server refused
// this request" that primary following rests on (primary_follower.h).
//
// Errors: UNAVAILABLE or INTERNAL mean the connection is broken (transport
// failure, protocol violation, a timeout, NBD_ESHUTDOWN) and must be
// dropped; other codes are the server's error for this one request, and
// ErrnoOf gives its errno.
//
// Not thread-safe: one caller at a time per NbdIoConnection (the pool,
// nbd_pool.h, leases each to one request).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "replication/initiator/nbd_client.h"
#include "replication/security/tls_files.h"

struct nbd_handle;

namespace syncblock::repl::initiator {

class NbdIoConnection {
 public:
  // Connects to `uri` and negotiates its export. Errors as NbdConnect:
  // NOT_FOUND when the server does not serve the export (not the volume's
  // primary), UNAVAILABLE when it cannot be reached within
  // `connect_timeout`. `io_timeout` bounds each request afterwards.
  // `identity`: the TLS identity to present instead of the process's NBD
  // one (nbd_tls.h); an insecure one means plaintext.
  static absl::StatusOr<std::unique_ptr<NbdIoConnection>> Open(
      const NbdUri& uri, std::chrono::milliseconds connect_timeout,
      std::chrono::milliseconds io_timeout, const security::TlsFiles* identity = nullptr);
  ~NbdIoConnection();
  NbdIoConnection(const NbdIoConnection&) = delete;
  NbdIoConnection& operator=(const NbdIoConnection&) = delete;

  const NbdExportInfo& info() const { return info_; }

  absl::Status Read(uint64_t offset, uint32_t length, char* out);
  absl::Status Write(uint64_t offset, uint32_t length, const char* data, bool fua = false);
  absl::Status Flush();
  absl::Status Trim(uint64_t offset, uint32_t length);
  absl::Status WriteZeroes(uint64_t offset, uint32_t length, bool no_hole);
  // Sends NBD_CMD_DISC and closes.
  void Disconnect();

 private:
  NbdIoConnection(nbd_handle* handle, NbdExportInfo info, std::chrono::milliseconds io_timeout)
      : handle_(handle), info_(info), io_timeout_(io_timeout) {}
  // Waits for the command `cookie` (or the error of submitting it, when
  // cookie is -1) until the io timeout.
  absl::Status Wait(int64_t cookie, const char* what);

  nbd_handle* handle_;
  NbdExportInfo info_;
  const std::chrono::milliseconds io_timeout_;
};

// True when a status from NbdIoConnection means the connection is unusable.
bool IsConnectionBroken(const absl::Status& status);
// The errno to give a FUSE caller for an NbdIoConnection error.
int ErrnoOf(const absl::Status& status);

}  // namespace syncblock::repl::initiator
