// Attaches a volume through the kernel NBD client (/dev/nbdN), configured over
// generic netlink: the initiator's handshake connects and negotiates each TCP
// socket (replication/initiator/nbd_client.h), then the sockets are handed to
// the kernel with NBD_CMD_CONNECT.
// After a lost connection or a change of primary, Reconnect hands it fresh
// sockets with NBD_CMD_RECONFIGURE; the device, and whatever is mounted on
// it, stays. The kernel holds IO for dead_conn_timeout while no connection is
// alive, which is the window a failover must fit in.
//
// Needs the nbd module: NbdModuleAvailable() says whether it is there.
// Thread-safe: each call opens its own netlink socket.
#pragma once

#include <chrono>
#include <string>

#include "csi/node/attacher.h"

namespace syncblock::csi {

struct NbdNetlinkOptions {
  int connections = 4;  // used when the export allows multi-connection
  std::chrono::seconds io_timeout{60};
  std::chrono::seconds dead_conn_timeout{120};
};

class NbdNetlinkAttacher : public Attacher {
 public:
  explicit NbdNetlinkAttacher(NbdNetlinkOptions options = {}) : options_(options) {}

  std::string Mode() const override { return "nbd"; }
  absl::StatusOr<Attachment> Attach(const AttachRequest& request) override;
  absl::Status Detach(const Attachment& attachment) override;
  absl::Status Check(const Attachment& attachment) override;
  absl::StatusOr<Attachment> Reconnect(const Attachment& attachment,
                                       const std::string& nbd_uri) override;
  // NBD_CMD_RECONFIGURE with the size a fresh handshake reports.
  absl::StatusOr<Attachment> Resize(const Attachment& attachment) override;

 private:
  NbdNetlinkOptions options_;
};

// True when /sys/module/nbd exists, or `modprobe nbd` loads it.
bool NbdModuleAvailable();

}  // namespace syncblock::csi
