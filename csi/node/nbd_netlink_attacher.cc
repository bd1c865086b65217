#include "csi/node/nbd_netlink_attacher.h"

#include <linux/nbd.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "csi/node/exec.h"
#include "csi/node/nbd_netlink.h"
#include "replication/initiator/nbd_client.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

using repl::initiator::NbdConnect;
using repl::initiator::NbdConnection;
using repl::initiator::NbdExportInfo;
using repl::initiator::NbdUri;
using repl::initiator::ParseNbdUri;

// Connected, handshaken sockets for one export; closed when this goes away
// (the kernel holds its own references once it has them). With TLS the
// kernel gets the plain end of a userspace TLS proxy per connection
// (tls_proxy.h): the kernel's NBD client cannot speak TLS.
struct Sockets {
  std::vector<NbdConnection> conns;
  absl::StatusOr<std::vector<int>> fds() {
    std::vector<int> out;
    for (auto& c : conns) {
      ASSIGN_OR_RETURN(int fd, c.KernelSocket());
      out.push_back(fd);
    }
    return out;
  }
};

absl::StatusOr<Sockets> OpenSockets(const std::string& uri_text, int wanted) {
  ASSIGN_OR_RETURN(NbdUri uri, ParseNbdUri(uri_text));
  Sockets s;
  ASSIGN_OR_RETURN(NbdConnection first, NbdConnect(uri));
  // More than one connection only where the server promises they are coherent.
  int n = (first.info().transmission_flags & NBD_FLAG_CAN_MULTI_CONN) ? wanted : 1;
  s.conns.push_back(std::move(first));
  for (int i = 1; i < n; ++i) {
    ASSIGN_OR_RETURN(NbdConnection c, NbdConnect(uri));
    s.conns.push_back(std::move(c));
  }
  return s;
}

absl::Status KernelError(const nbdnl::Reply& reply, const std::string& what) {
  if (reply.error == 0) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(-reply.error)));
}

uint64_t BlockSizeFor(const NbdExportInfo& info) {
  // The kernel takes a power of two from 512 to the page size.
  uint64_t b = info.preferred_block;
  if (b < 512 || b > 4096 || (b & (b - 1)) != 0) b = 4096;
  if (info.min_block > b) b = 4096;
  return b;
}

}  // namespace

bool NbdModuleAvailable() {
  if (std::filesystem::exists("/sys/module/nbd")) return true;
  auto r = Exec({"modprobe", "nbd"}, std::chrono::seconds(30));
  return r.ok() && r->exit_code == 0 && std::filesystem::exists("/sys/module/nbd");
}

absl::StatusOr<Attachment> NbdNetlinkAttacher::Attach(const AttachRequest& request) {
  ASSIGN_OR_RETURN(nbdnl::NetlinkNbd nl, nbdnl::NetlinkNbd::Open());
  ASSIGN_OR_RETURN(Sockets socks, OpenSockets(request.nbd_uri, options_.connections));
  const NbdExportInfo& info = socks.conns.front().info();
  nbdnl::ConnectParams p;
  p.size_bytes = info.size;
  p.block_size = BlockSizeFor(info);
  p.server_flags = info.transmission_flags | (request.readonly ? NBD_FLAG_READ_ONLY : 0);
  p.timeout_seconds = static_cast<uint64_t>(options_.io_timeout.count());
  p.dead_conn_timeout_seconds = static_cast<uint64_t>(options_.dead_conn_timeout.count());
  ASSIGN_OR_RETURN(p.socket_fds, socks.fds());
  uint32_t seq = nl.NextSeq();
  ASSIGN_OR_RETURN(nbdnl::Reply reply, nl.Transact(nbdnl::BuildConnect(nl.family(), seq, p), seq));
  RETURN_IF_ERROR(
      KernelError(reply, absl::StrCat("NBD_CMD_CONNECT for volume ", request.volume_id)));
  ASSIGN_OR_RETURN(uint32_t index, nbdnl::IndexFrom(reply));
  Attachment a;
  a.volume_id = request.volume_id;
  a.mode = Mode();
  a.device = absl::StrCat("/dev/nbd", index);
  a.nbd_index = static_cast<int>(index);
  a.nbd_uri = request.nbd_uri;
  a.readonly = request.readonly;
  a.size_bytes = info.size;
  return a;
}

absl::Status NbdNetlinkAttacher::Detach(const Attachment& a) {
  if (a.nbd_index < 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(nbdnl::NetlinkNbd nl, nbdnl::NetlinkNbd::Open());
  uint32_t seq = nl.NextSeq();
  ASSIGN_OR_RETURN(nbdnl::Reply reply,
                   nl.Transact(nbdnl::BuildDisconnect(nl.family(), seq, a.nbd_index), seq));
  // A device that is already unconfigured is detached.
  if (reply.error == -EINVAL || reply.error == -ENODEV) return absl::OkStatus();
  return KernelError(reply, absl::StrCat("NBD_CMD_DISCONNECT ", a.device));
}

absl::Status NbdNetlinkAttacher::Check(const Attachment& a) {
  ASSIGN_OR_RETURN(nbdnl::NetlinkNbd nl, nbdnl::NetlinkNbd::Open());
  uint32_t seq = nl.NextSeq();
  ASSIGN_OR_RETURN(nbdnl::Reply reply,
                   nl.Transact(nbdnl::BuildStatus(nl.family(), seq, a.nbd_index), seq));
  RETURN_IF_ERROR(KernelError(reply, absl::StrCat("NBD_CMD_STATUS ", a.device)));
  ASSIGN_OR_RETURN(bool connected, nbdnl::ConnectedFrom(reply, a.nbd_index));
  if (!connected) return absl::UnavailableError(absl::StrCat(a.device, " has no live connection"));
  return absl::OkStatus();
}

absl::StatusOr<Attachment> NbdNetlinkAttacher::Reconnect(const Attachment& a,
                                                         const std::string& nbd_uri) {
  if (a.nbd_uri == nbd_uri && Check(a).ok()) return a;
  ASSIGN_OR_RETURN(nbdnl::NetlinkNbd nl, nbdnl::NetlinkNbd::Open());
  ASSIGN_OR_RETURN(Sockets socks, OpenSockets(nbd_uri, options_.connections));
  ASSIGN_OR_RETURN(std::vector<int> fds, socks.fds());
  uint32_t seq = nl.NextSeq();
  ASSIGN_OR_RETURN(
      nbdnl::Reply reply,
      nl.Transact(nbdnl::BuildReconfigure(nl.family(), seq, a.nbd_index, fds,
                                          static_cast<uint64_t>(options_.io_timeout.count())),
                  seq));
  Attachment out = a;
  out.nbd_uri = nbd_uri;
  if (reply.error == 0) return out;
  // The kernel tore the device down (dead_conn_timeout passed): configure the
  // same index again so the device path stays the one recorded.
  const NbdExportInfo& info = socks.conns.front().info();
  nbdnl::ConnectParams p;
  p.index = a.nbd_index;
  p.size_bytes = info.size;
  p.block_size = BlockSizeFor(info);
  p.server_flags = info.transmission_flags | (a.readonly ? NBD_FLAG_READ_ONLY : 0);
  p.timeout_seconds = static_cast<uint64_t>(options_.io_timeout.count());
  p.dead_conn_timeout_seconds = static_cast<uint64_t>(options_.dead_conn_timeout.count());
  p.socket_fds = fds;
  seq = nl.NextSeq();
  ASSIGN_OR_RETURN(reply, nl.Transact(nbdnl::BuildConnect(nl.family(), seq, p), seq));
  RETURN_IF_ERROR(KernelError(reply, absl::StrCat("NBD_CMD_CONNECT (re-adopt) ", a.device)));
  return out;
}

absl::StatusOr<Attachment> NbdNetlinkAttacher::Resize(const Attachment& a) {
  // The kernel learns an export's size from us, and we from a handshake.
  ASSIGN_OR_RETURN(NbdUri uri, ParseNbdUri(a.nbd_uri));
  ASSIGN_OR_RETURN(NbdConnection probe, NbdConnect(uri));
  const uint64_t size = probe.info().size;
  probe.Disconnect();
  Attachment out = a;
  out.size_bytes = size;
  ASSIGN_OR_RETURN(nbdnl::NetlinkNbd nl, nbdnl::NetlinkNbd::Open());
  uint32_t seq = nl.NextSeq();
  ASSIGN_OR_RETURN(nbdnl::Reply reply,
                   nl.Transact(nbdnl::BuildResize(nl.family(), seq, a.nbd_index, size), seq));
  RETURN_IF_ERROR(KernelError(reply, absl::StrCat("NBD_CMD_RECONFIGURE (size) ", a.device)));
  return out;
}

}  // namespace syncblock::csi
