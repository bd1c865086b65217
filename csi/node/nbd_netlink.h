// The messages of the kernel NBD driver's generic-netlink family "nbd"
// (linux/nbd-netlink.h), built and parsed by hand: netlink needs no library
// for five commands, and pure functions over bytes can be tested byte by byte
// where the nbd module is missing. NetlinkNbd is the socket that sends them.
//
// Message layout (all integers in host byte order, attributes 4-byte aligned):
//   nlmsghdr{len, type=family id, flags=REQUEST|ACK, seq, pid=0}
//   genlmsghdr{cmd, version=NBD_GENL_VERSION, 0}
//   nlattr{len, type} payload ...   NBD_ATTR_SOCKETS nests
//   NBD_SOCK_ITEM{ NBD_SOCK_FD u32 } per socket.
//
// NetlinkNbd is not thread-safe: one per caller (they are cheap).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::csi::nbdnl {

struct ConnectParams {
  int index = -1;  // -1: the kernel picks a free device
  uint64_t size_bytes = 0;
  uint64_t block_size = 4096;
  uint64_t server_flags = 0;  // transmission flags from the handshake
  uint64_t client_flags = 0;  // NBD_CFLAG_*
  uint64_t timeout_seconds = 0;
  uint64_t dead_conn_timeout_seconds = 0;
  std::vector<int> socket_fds;
};

// nlctrl CTRL_CMD_GETFAMILY for `name` (the nbd family unless told).
std::string BuildGetFamily(uint32_t seq, const std::string& name = "nbd");
std::string BuildConnect(uint16_t family, uint32_t seq, const ConnectParams& params);
std::string BuildReconfigure(uint16_t family, uint32_t seq, uint32_t index,
                             const std::vector<int>& socket_fds, uint64_t timeout_seconds);
// NBD_CMD_RECONFIGURE with only a new size: the kernel's nbd_genl_reconfigure
// passes NBD_ATTR_SIZE_BYTES to nbd_genl_size_set (Linux 5.3+), which resizes
// the live device; the sockets are left alone.
std::string BuildResize(uint16_t family, uint32_t seq, uint32_t index, uint64_t size_bytes);
std::string BuildDisconnect(uint16_t family, uint32_t seq, uint32_t index);
std::string BuildStatus(uint16_t family, uint32_t seq, uint32_t index);

// A parsed reply stream: the attributes of each generic-netlink message, and
// the error of the final NLMSG_ERROR (0 for the acknowledgement).
struct Attr {
  uint16_t type = 0;
  std::string payload;
};
struct Reply {
  std::vector<std::vector<Attr>> messages;
  int error = 0;      // negative errno from the kernel
  bool done = false;  // an NLMSG_ERROR (ack or error) was seen
};
// Appends what `bytes` holds (one recv's worth) to `reply`.
absl::Status ParseReply(const std::string& bytes, uint32_t seq, Reply& reply);
std::vector<Attr> ParseAttrs(const std::string& bytes);

absl::StatusOr<uint16_t> FamilyIdFrom(const Reply& reply);  // CTRL_ATTR_FAMILY_ID
absl::StatusOr<uint32_t> IndexFrom(const Reply& reply);     // NBD_ATTR_INDEX
// Whether device `index` is connected, from NBD_CMD_STATUS's device list;
// NOT_FOUND when the list does not name it.
absl::StatusOr<bool> ConnectedFrom(const Reply& reply, uint32_t index);

// Asks the kernel for the id of generic-netlink family `name`: NOT_FOUND when
// it has none (for "nbd": the module is not loaded).
absl::StatusOr<uint16_t> ResolveGenlFamily(const std::string& name);

// A NETLINK_GENERIC socket bound to the "nbd" family.
class NetlinkNbd {
 public:
  // UNAVAILABLE when the family is missing (no nbd module).
  static absl::StatusOr<NetlinkNbd> Open();
  ~NetlinkNbd();
  NetlinkNbd(NetlinkNbd&& other) noexcept;
  NetlinkNbd& operator=(NetlinkNbd&&) = delete;
  NetlinkNbd(const NetlinkNbd&) = delete;

  uint16_t family() const { return family_; }
  uint32_t NextSeq() { return ++seq_; }
  // Sends `message` (built with sequence `seq`) and reads to the ack.
  absl::StatusOr<Reply> Transact(const std::string& message, uint32_t seq);

 private:
  explicit NetlinkNbd(int fd) : fd_(fd) {}
  friend absl::StatusOr<uint16_t> ResolveGenlFamily(const std::string& name);
  // Opens a NETLINK_GENERIC socket with a receive timeout.
  static absl::StatusOr<NetlinkNbd> OpenSocket();
  absl::StatusOr<uint16_t> Resolve(const std::string& name);
  int fd_ = -1;
  uint16_t family_ = 0;
  uint32_t seq_ = 0;
};

}  // namespace syncblock::csi::nbdnl
