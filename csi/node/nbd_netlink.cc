#include "csi/node/nbd_netlink.h"

#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi::nbdnl {
namespace {

size_t Align4(size_t n) { return (n + 3) & ~size_t{3}; }

template <typename T>
void PutRaw(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

void PutAttr(std::string& out, uint16_t type, const std::string& payload) {
  PutRaw<uint16_t>(out, static_cast<uint16_t>(NLA_HDRLEN + payload.size()));
  PutRaw<uint16_t>(out, type);
  out += payload;
  out.append(Align4(payload.size()) - payload.size(), '\0');
}

template <typename T>
void PutAttrInt(std::string& out, uint16_t type, T v) {
  std::string p;
  PutRaw<T>(p, v);
  PutAttr(out, type, p);
}

// nlmsghdr + genlmsghdr around `attrs`.
std::string Message(uint16_t type, uint32_t seq, uint8_t cmd, uint8_t version,
                    const std::string& attrs) {
  std::string out;
  PutRaw<uint32_t>(out, static_cast<uint32_t>(NLMSG_HDRLEN + GENL_HDRLEN + attrs.size()));
  PutRaw<uint16_t>(out, type);
  PutRaw<uint16_t>(out, NLM_F_REQUEST | NLM_F_ACK);
  PutRaw<uint32_t>(out, seq);
  PutRaw<uint32_t>(out, 0);  // port id: the kernel fills it in
  PutRaw<uint8_t>(out, cmd);
  PutRaw<uint8_t>(out, version);
  PutRaw<uint16_t>(out, 0);
  out += attrs;
  return out;
}

std::string Sockets(const std::vector<int>& fds) {
  std::string items;
  for (int fd : fds) {
    std::string item;
    PutAttrInt<uint32_t>(item, NBD_SOCK_FD, static_cast<uint32_t>(fd));
    PutAttr(items, NBD_SOCK_ITEM, item);
  }
  return items;
}

template <typename T>
bool ReadInt(const std::string& payload, T* out) {
  if (payload.size() < sizeof(T)) return false;
  std::memcpy(out, payload.data(), sizeof(T));
  return true;
}

}  // namespace

std::string BuildGetFamily(uint32_t seq, const std::string& name) {
  std::string attrs;
  PutAttr(attrs, CTRL_ATTR_FAMILY_NAME, std::string(name.c_str(), name.size() + 1));
  return Message(GENL_ID_CTRL, seq, CTRL_CMD_GETFAMILY, 1, attrs);
}

std::string BuildConnect(uint16_t family, uint32_t seq, const ConnectParams& p) {
  std::string attrs;
  if (p.index >= 0) PutAttrInt<uint32_t>(attrs, NBD_ATTR_INDEX, static_cast<uint32_t>(p.index));
  PutAttrInt<uint64_t>(attrs, NBD_ATTR_SIZE_BYTES, p.size_bytes);
  PutAttrInt<uint64_t>(attrs, NBD_ATTR_BLOCK_SIZE_BYTES, p.block_size);
  PutAttrInt<uint64_t>(attrs, NBD_ATTR_SERVER_FLAGS, p.server_flags);
  if (p.client_flags) PutAttrInt<uint64_t>(attrs, NBD_ATTR_CLIENT_FLAGS, p.client_flags);
  if (p.timeout_seconds) PutAttrInt<uint64_t>(attrs, NBD_ATTR_TIMEOUT, p.timeout_seconds);
  if (p.dead_conn_timeout_seconds) {
    PutAttrInt<uint64_t>(attrs, NBD_ATTR_DEAD_CONN_TIMEOUT, p.dead_conn_timeout_seconds);
  }
  PutAttr(attrs, NBD_ATTR_SOCKETS, Sockets(p.socket_fds));
  return Message(family, seq, NBD_CMD_CONNECT, NBD_GENL_VERSION, attrs);
}

std::string BuildReconfigure(uint16_t family, uint32_t seq, uint32_t index,
                             const std::vector<int>& socket_fds, uint64_t timeout_seconds) {
  std::string attrs;
  PutAttrInt<uint32_t>(attrs, NBD_ATTR_INDEX, index);
  if (timeout_seconds) PutAttrInt<uint64_t>(attrs, NBD_ATTR_TIMEOUT, timeout_seconds);
  PutAttr(attrs, NBD_ATTR_SOCKETS, Sockets(socket_fds));
  return Message(family, seq, NBD_CMD_RECONFIGURE, NBD_GENL_VERSION, attrs);
}

std::string BuildResize(uint16_t family, uint32_t seq, uint32_t index, uint64_t size_bytes) {
  std::string attrs;
  PutAttrInt<uint32_t>(attrs, NBD_ATTR_INDEX, index);
  PutAttrInt<uint64_t>(attrs, NBD_ATTR_SIZE_BYTES, size_bytes);
  return Message(family, seq, NBD_CMD_RECONFIGURE, NBD_GENL_VERSION, attrs);
}

std::string BuildDisconnect(uint16_t family, uint32_t seq, uint32_t index) {
  std::string attrs;
  PutAttrInt<uint32_t>(attrs, NBD_ATTR_INDEX, index);
  return Message(family, seq, NBD_CMD_DISCONNECT, NBD_GENL_VERSION, attrs);
}

std::string BuildStatus(uint16_t family, uint32_t seq, uint32_t index) {
  std::string attrs;
  PutAttrInt<uint32_t>(attrs, NBD_ATTR_INDEX, index);
  return Message(family, seq, NBD_CMD_STATUS, NBD_GENL_VERSION, attrs);
}

std::vector<Attr> ParseAttrs(const std::string& bytes) {
  std::vector<Attr> out;
  size_t pos = 0;
  while (pos + NLA_HDRLEN <= bytes.size()) {
    uint16_t len, type;
    std::memcpy(&len, bytes.data() + pos, 2);
    std::memcpy(&type, bytes.data() + pos + 2, 2);
    if (len < NLA_HDRLEN || pos + len > bytes.size()) break;
    out.push_back({static_cast<uint16_t>(type & NLA_TYPE_MASK),
                   bytes.substr(pos + NLA_HDRLEN, len - NLA_HDRLEN)});
    pos += Align4(len);
  }
  return out;
}

absl::Status ParseReply(const std::string& bytes, uint32_t seq, Reply& reply) {
  size_t pos = 0;
  while (pos + NLMSG_HDRLEN <= bytes.size()) {
    nlmsghdr h;
    std::memcpy(&h, bytes.data() + pos, sizeof(h));
    if (h.nlmsg_len < NLMSG_HDRLEN || pos + h.nlmsg_len > bytes.size()) {
      return absl::InternalError("truncated netlink message");
    }
    if (h.nlmsg_seq == seq) {
      if (h.nlmsg_type == NLMSG_ERROR) {
        if (h.nlmsg_len < NLMSG_HDRLEN + sizeof(int)) {
          return absl::InternalError("short netlink error message");
        }
        int err;
        std::memcpy(&err, bytes.data() + pos + NLMSG_HDRLEN, sizeof(err));
        reply.error = err;
        reply.done = true;
      } else if (h.nlmsg_type == NLMSG_DONE) {
        reply.done = true;
      } else if (h.nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN) {
        reply.messages.push_back(ParseAttrs(bytes.substr(
            pos + NLMSG_HDRLEN + GENL_HDRLEN, h.nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN)));
      }
    }
    pos += NLMSG_ALIGN(h.nlmsg_len);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> FamilyIdFrom(const Reply& reply) {
  for (const auto& msg : reply.messages) {
    for (const auto& a : msg) {
      uint16_t id;
      if (a.type == CTRL_ATTR_FAMILY_ID && ReadInt(a.payload, &id)) return id;
    }
  }
  return absl::UnavailableError("no generic netlink family \"nbd\" (is the nbd module loaded?)");
}

absl::StatusOr<uint32_t> IndexFrom(const Reply& reply) {
  for (const auto& msg : reply.messages) {
    for (const auto& a : msg) {
      uint32_t index;
      if (a.type == NBD_ATTR_INDEX && ReadInt(a.payload, &index)) return index;
    }
  }
  return absl::InternalError("NBD_CMD_CONNECT reply without NBD_ATTR_INDEX");
}

absl::StatusOr<bool> ConnectedFrom(const Reply& reply, uint32_t index) {
  for (const auto& msg : reply.messages) {
    for (const auto& list : msg) {
      if (list.type != NBD_ATTR_DEVICE_LIST) continue;
      for (const auto& item : ParseAttrs(list.payload)) {
        if (item.type != NBD_DEVICE_ITEM) continue;
        uint32_t got = UINT32_MAX;
        uint8_t connected = 0;
        for (const auto& field : ParseAttrs(item.payload)) {
          if (field.type == NBD_DEVICE_INDEX) ReadInt(field.payload, &got);
          if (field.type == NBD_DEVICE_CONNECTED) ReadInt(field.payload, &connected);
        }
        if (got == index) return connected != 0;
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("nbd device ", index, " not in the status reply"));
}

absl::StatusOr<NetlinkNbd> NetlinkNbd::OpenSocket() {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("netlink socket: ", std::strerror(errno)));
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return NetlinkNbd(fd);
}

absl::StatusOr<uint16_t> NetlinkNbd::Resolve(const std::string& name) {
  uint32_t seq = NextSeq();
  ASSIGN_OR_RETURN(Reply reply, Transact(BuildGetFamily(seq, name), seq));
  if (reply.error == -ENOENT) {
    return absl::NotFoundError(absl::StrCat("no generic netlink family \"", name, "\""));
  }
  if (reply.error != 0) {
    return absl::InternalError(absl::StrCat("resolving generic netlink family \"", name,
                                            "\": ", std::strerror(-reply.error)));
  }
  return FamilyIdFrom(reply);
}

absl::StatusOr<uint16_t> ResolveGenlFamily(const std::string& name) {
  ASSIGN_OR_RETURN(NetlinkNbd nl, NetlinkNbd::OpenSocket());
  return nl.Resolve(name);
}

absl::StatusOr<NetlinkNbd> NetlinkNbd::Open() {
  ASSIGN_OR_RETURN(NetlinkNbd nl, OpenSocket());
  auto family = nl.Resolve(NBD_GENL_FAMILY_NAME);
  if (absl::IsNotFound(family.status())) {
    return absl::UnavailableError("no generic netlink family \"nbd\" (is the nbd module loaded?)");
  }
  if (!family.ok()) return family.status();
  nl.family_ = *family;
  return nl;
}

NetlinkNbd::~NetlinkNbd() {
  if (fd_ >= 0) close(fd_);
}

NetlinkNbd::NetlinkNbd(NetlinkNbd&& other) noexcept
    : fd_(other.fd_), family_(other.family_), seq_(other.seq_) {
  other.fd_ = -1;
}

absl::StatusOr<Reply> NetlinkNbd::Transact(const std::string& message, uint32_t seq) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd_, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
             sizeof(kernel)) < 0) {
    return absl::UnavailableError(absl::StrCat("netlink send: ", std::strerror(errno)));
  }
  Reply reply;
  std::string buf(64 * 1024, '\0');
  while (!reply.done) {
    ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::UnavailableError(absl::StrCat("netlink recv: ", std::strerror(errno)));
    RETURN_IF_ERROR(ParseReply(buf.substr(0, static_cast<size_t>(n)), seq, reply));
  }
  return reply;
}

}  // namespace syncblock::csi::nbdnl
