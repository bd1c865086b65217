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
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "replication/nbd/nbd_protocol.h"

namespace syncblock::repl::initiator {

// nbd://host[:port]/export (port 10809 when absent; [v6] hosts in brackets).
struct NbdUri {
  std::string host;
  int port = 10809;
  std::string export_name;
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

// A connected socket in the transmission phase. Closes it on destruction
// unless Release()d.
class NbdConnection {
 public:
  NbdConnection(int fd, NbdExportInfo info) : fd_(fd), info_(info) {}
  ~NbdConnection();
  NbdConnection(NbdConnection&& other) noexcept;
  NbdConnection& operator=(NbdConnection&& other) noexcept;
  NbdConnection(const NbdConnection&) = delete;
  NbdConnection& operator=(const NbdConnection&) = delete;

  int fd() const { return fd_; }
  const NbdExportInfo& info() const { return info_; }
  // Gives up ownership of the socket (handed to the kernel).
  int Release();
  // Sends NBD_CMD_DISC and closes: the polite end of a probe.
  void Disconnect();

 private:
  int fd_ = -1;
  NbdExportInfo info_;
};

// Connects and negotiates. NOT_FOUND when the server does not serve the export
// (NBD_REP_ERR_UNKNOWN: not the volume's primary), UNAVAILABLE when it cannot be
// reached, INVALID_ARGUMENT/INTERNAL for a protocol violation. The socket's
// timeouts are cleared before it is returned: the kernel's own apply then.
absl::StatusOr<NbdConnection> NbdConnect(
    const NbdUri& uri, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace syncblock::repl::initiator
