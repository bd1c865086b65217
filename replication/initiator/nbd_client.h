// The initiator's own client half of the NBD fixed-newstyle handshake
// (NetworkBlockDevice doc/proto.md), on the codec the server shares
// (replication/nbd/nbd_protocol.h): connect a blocking TCP socket, negotiate
// NBD_OPT_GO for one export, and stop at the start of the transmission phase.
// It exists beside libnbd (nbd_io.h) for what libnbd cannot do: hand the
// negotiated socket over. The kernel NBD driver takes the socket from here (it
// does not handshake itself, csi/node/nbd_netlink_attacher.h); the primary
// resolver and the FUSE attacher use it to ask a storage node whether it
// serves a volume (NOT_FOUND when not).
//
// Thread-safe: no shared state.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "replication/nbd/nbd_protocol.h"
#include "replication/security/byte_stream.h"

namespace syncblock::repl::initiator {

// nbd://host[:port]/export (port 10809 when absent; [v6] hosts in brackets);
// nbds:// is the same with TLS required (libnbd's and qemu's spelling).
struct NbdUri {
  std::string host;
  int port = 10809;
  std::string export_name;
  bool tls = false;
  std::string ToString() const;
};
absl::StatusOr<NbdUri> ParseNbdUri(std::string_view uri);

// What NBD_OPT_GO told us about the export.
struct NbdExportInfo {
  uint64_t size = 0;
  uint16_t transmission_flags = 0;  // NBD_FLAG_* of linux/nbd.h
  uint32_t min_block = 1;
  uint32_t preferred_block = 4096;
  uint32_t max_block = 32 * 1024 * 1024;
};

// A connected socket in the transmission phase, over TLS when the process
// has a certificate (nbd_tls.h). Closes it on destruction.
class NbdConnection {
 public:
  NbdConnection(int fd, NbdExportInfo info, std::unique_ptr<security::ByteStream> tls = nullptr);
  ~NbdConnection();
  NbdConnection(NbdConnection&& other) noexcept;
  NbdConnection& operator=(NbdConnection&& other) noexcept;
  NbdConnection(const NbdConnection&) = delete;
  NbdConnection& operator=(const NbdConnection&) = delete;

  const NbdExportInfo& info() const { return info_; }
  bool tls() const { return tls_ != nullptr || kernel_fd_ >= 0; }
  // The socket to hand the kernel's NBD client: the TCP socket itself, or,
  // with TLS, the plain end of a TLS proxy (tls_proxy.h) started now. Still
  // owned (closed) by this object; the kernel holds its own reference.
  absl::StatusOr<int> KernelSocket();
  // Sends NBD_CMD_DISC and closes: the polite end of a probe.
  void Disconnect();

 private:
  friend absl::StatusOr<NbdConnection> NbdConnect(const NbdUri&, std::chrono::milliseconds);
  void Reset();

  int fd_ = -1;
  int kernel_fd_ = -1;
  NbdExportInfo info_;
  std::unique_ptr<security::ByteStream> tls_;
};

// Connects and negotiates (NBD_OPT_STARTTLS first when the process has a
// certificate). NOT_FOUND when the server does not serve the export
// (NBD_REP_ERR_UNKNOWN: not the volume's primary), PERMISSION_DENIED when it
// refuses this client (NBD_REP_ERR_POLICY: not published to this node),
// UNAUTHENTICATED when TLS fails on a certificate, FAILED_PRECONDITION when
// the server requires TLS and we have no certificate, UNAVAILABLE when it
// cannot be reached, INVALID_ARGUMENT/INTERNAL for a protocol violation. The socket's
// timeouts are cleared before it is returned: the kernel's own apply then.
absl::StatusOr<NbdConnection> NbdConnect(
    const NbdUri& uri, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace syncblock::repl::initiator
