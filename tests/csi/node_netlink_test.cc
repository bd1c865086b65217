// The kernel NBD netlink messages, byte by byte against linux/nbd-netlink.h.
// This is how the netlink attach path is checked where the nbd module is
// missing: the bytes built here are exactly what the kernel's nbd_genl_*
// handlers parse (policy in drivers/block/nbd.c).
#include <gtest/gtest.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>

#include <cstring>
#include <filesystem>

#include "csi/node/nbd_netlink.h"

namespace syncblock::csi::nbdnl {
namespace {

// Independent little encoder: host-endian integers appended in order.
class Bytes {
 public:
  Bytes& u8(uint8_t v) { return raw(&v, 1); }
  Bytes& u16(uint16_t v) { return raw(&v, 2); }
  Bytes& u32(uint32_t v) { return raw(&v, 4); }
  Bytes& u64(uint64_t v) { return raw(&v, 8); }
  Bytes& str(const std::string& s) {
    out_ += s;
    return *this;
  }
  Bytes& pad(size_t n) {
    out_.append(n, '\0');
    return *this;
  }
  std::string done() const { return out_; }
  size_t size() const { return out_.size(); }

 private:
  Bytes& raw(const void* p, size_t n) {
    out_.append(static_cast<const char*>(p), n);
    return *this;
  }
  std::string out_;
};

std::string Header(uint32_t total_len, uint16_t type, uint32_t seq, uint8_t cmd, uint8_t version) {
  return Bytes()
      .u32(total_len)
      .u16(type)
      .u16(NLM_F_REQUEST | NLM_F_ACK)
      .u32(seq)
      .u32(0)
      .u8(cmd)
      .u8(version)
      .u16(0)
      .done();
}

std::string U32Attr(uint16_t type, uint32_t v) { return Bytes().u16(8).u16(type).u32(v).done(); }
std::string U64Attr(uint16_t type, uint64_t v) { return Bytes().u16(12).u16(type).u64(v).done(); }
std::string SocketsAttr(const std::vector<int>& fds) {
  // [NBD_ATTR_SOCKETS] { [NBD_SOCK_ITEM] { [NBD_SOCK_FD] u32 } ... }
  std::string items;
  for (int fd : fds) {
    items += Bytes().u16(4 + 8).u16(NBD_SOCK_ITEM).done() + U32Attr(NBD_SOCK_FD, fd);
  }
  return Bytes().u16(static_cast<uint16_t>(4 + items.size())).u16(NBD_ATTR_SOCKETS).done() + items;
}

std::string Hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
    out += ' ';
  }
  return out;
}

TEST(NodeNetlinkTest, ConnectMatchesKernelLayout) {
  ConnectParams p;
  p.size_bytes = 256ULL << 20;
  p.block_size = 4096;
  p.server_flags = 0x12d;
  p.timeout_seconds = 60;
  p.dead_conn_timeout_seconds = 120;
  p.socket_fds = {7, 9};
  std::string attrs = U64Attr(NBD_ATTR_SIZE_BYTES, 256ULL << 20) +
                      U64Attr(NBD_ATTR_BLOCK_SIZE_BYTES, 4096) +
                      U64Attr(NBD_ATTR_SERVER_FLAGS, 0x12d) + U64Attr(NBD_ATTR_TIMEOUT, 60) +
                      U64Attr(NBD_ATTR_DEAD_CONN_TIMEOUT, 120) + SocketsAttr({7, 9});
  std::string want = Header(static_cast<uint32_t>(16 + 4 + attrs.size()), 0x1234, 42,
                            NBD_CMD_CONNECT, NBD_GENL_VERSION) +
                     attrs;
  std::string got = BuildConnect(0x1234, 42, p);
  EXPECT_EQ(Hex(got), Hex(want));
  // The sizes the kernel checks: header 16 + genl 4, each u64 attribute 12.
  EXPECT_EQ(got.size(), 16u + 4u + 5 * 12u + 4u + 2 * 12u);
}

TEST(NodeNetlinkTest, ConnectWithIndexAndClientFlags) {
  ConnectParams p;
  p.index = 3;
  p.size_bytes = 1 << 20;
  p.block_size = 512;
  p.client_flags = 1;  // NBD_CFLAG_DESTROY_ON_DISCONNECT
  p.socket_fds = {5};
  std::string attrs = U32Attr(NBD_ATTR_INDEX, 3) + U64Attr(NBD_ATTR_SIZE_BYTES, 1 << 20) +
                      U64Attr(NBD_ATTR_BLOCK_SIZE_BYTES, 512) + U64Attr(NBD_ATTR_SERVER_FLAGS, 0) +
                      U64Attr(NBD_ATTR_CLIENT_FLAGS, 1) + SocketsAttr({5});
  std::string want =
      Header(static_cast<uint32_t>(20 + attrs.size()), 30, 1, NBD_CMD_CONNECT, NBD_GENL_VERSION) +
      attrs;
  EXPECT_EQ(Hex(BuildConnect(30, 1, p)), Hex(want));
}

TEST(NodeNetlinkTest, Reconfigure) {
  std::string attrs =
      U32Attr(NBD_ATTR_INDEX, 2) + U64Attr(NBD_ATTR_TIMEOUT, 30) + SocketsAttr({11});
  std::string want = Header(static_cast<uint32_t>(20 + attrs.size()), 27, 5, NBD_CMD_RECONFIGURE,
                            NBD_GENL_VERSION) +
                     attrs;
  EXPECT_EQ(Hex(BuildReconfigure(27, 5, 2, {11}, 30)), Hex(want));
}

// Growing a live device: RECONFIGURE with the index and the new size only (the
// kernel's nbd_genl_reconfigure hands NBD_ATTR_SIZE_BYTES to
// nbd_genl_size_set; no sockets, so the connections stay).
TEST(NodeNetlinkTest, ResizeIsReconfigureWithSize) {
  std::string attrs = U32Attr(NBD_ATTR_INDEX, 3) + U64Attr(NBD_ATTR_SIZE_BYTES, 3ULL << 30);
  EXPECT_EQ(attrs.size(), 8u + 12u);
  std::string want = Header(static_cast<uint32_t>(20 + attrs.size()), 27, 8, NBD_CMD_RECONFIGURE,
                            NBD_GENL_VERSION) +
                     attrs;
  EXPECT_EQ(Hex(BuildResize(27, 8, 3, 3ULL << 30)), Hex(want));
}

TEST(NodeNetlinkTest, DisconnectAndStatus) {
  std::string attrs = U32Attr(NBD_ATTR_INDEX, 4);
  EXPECT_EQ(Hex(BuildDisconnect(27, 6, 4)),
            Hex(Header(28, 27, 6, NBD_CMD_DISCONNECT, NBD_GENL_VERSION) + attrs));
  EXPECT_EQ(Hex(BuildStatus(27, 7, 4)),
            Hex(Header(28, 27, 7, NBD_CMD_STATUS, NBD_GENL_VERSION) + attrs));
}

TEST(NodeNetlinkTest, GetFamilyAsksNlctrlForNbd) {
  // "nbd\0" is 4 bytes: attribute length 8, no padding.
  std::string attrs = Bytes().u16(8).u16(CTRL_ATTR_FAMILY_NAME).str(std::string("nbd\0", 4)).done();
  EXPECT_EQ(Hex(BuildGetFamily(9)),
            Hex(Header(28, GENL_ID_CTRL, 9, CTRL_CMD_GETFAMILY, 1) + attrs));
}

std::string ReplyMessage(uint16_t type, uint32_t seq, const std::string& attrs) {
  return Bytes()
             .u32(static_cast<uint32_t>(20 + attrs.size()))
             .u16(type)
             .u16(0)
             .u32(seq)
             .u32(0)
             .u8(0)
             .u8(1)
             .u16(0)
             .done() +
         attrs;
}

std::string Ack(uint32_t seq, int error) {
  // nlmsgerr: error, then the original header.
  return Bytes()
      .u32(16 + 4 + 16)
      .u16(NLMSG_ERROR)
      .u16(0)
      .u32(seq)
      .u32(0)
      .u32(static_cast<uint32_t>(error))
      .pad(16)
      .done();
}

TEST(NodeNetlinkTest, ParsesConnectReplyAndAck) {
  std::string bytes = ReplyMessage(27, 42, U32Attr(NBD_ATTR_INDEX, 5)) + Ack(42, 0);
  Reply reply;
  ASSERT_TRUE(ParseReply(bytes, 42, reply).ok());
  EXPECT_TRUE(reply.done);
  EXPECT_EQ(reply.error, 0);
  auto index = IndexFrom(reply);
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(*index, 5u);
}

TEST(NodeNetlinkTest, ParsesKernelErrorAndIgnoresOtherSequences) {
  Reply reply;
  ASSERT_TRUE(ParseReply(Ack(7, -16) + Ack(8, -22), 8, reply).ok());
  EXPECT_TRUE(reply.done);
  EXPECT_EQ(reply.error, -22);
}

TEST(NodeNetlinkTest, ParsesStatusDeviceList) {
  auto item = [](uint32_t index, uint8_t connected) {
    std::string fields = U32Attr(NBD_DEVICE_INDEX, index) +
                         Bytes().u16(5).u16(NBD_DEVICE_CONNECTED).u8(connected).pad(3).done();
    return Bytes().u16(static_cast<uint16_t>(4 + fields.size())).u16(NBD_DEVICE_ITEM).done() +
           fields;
  };
  std::string items = item(0, 1) + item(3, 0);
  std::string list = Bytes()
                         .u16(static_cast<uint16_t>(4 + items.size()))
                         .u16(NLA_F_NESTED | NBD_ATTR_DEVICE_LIST)
                         .done() +
                     items;
  Reply reply;
  ASSERT_TRUE(ParseReply(ReplyMessage(27, 3, list) + Ack(3, 0), 3, reply).ok());
  EXPECT_EQ(ConnectedFrom(reply, 0).value(), true);
  EXPECT_EQ(ConnectedFrom(reply, 3).value(), false);
  EXPECT_TRUE(absl::IsNotFound(ConnectedFrom(reply, 9).status()));
}

TEST(NodeNetlinkTest, ParsesFamilyId) {
  std::string attrs = Bytes().u16(6).u16(CTRL_ATTR_FAMILY_ID).u16(33).pad(2).done();
  Reply reply;
  ASSERT_TRUE(ParseReply(ReplyMessage(GENL_ID_CTRL, 1, attrs) + Ack(1, 0), 1, reply).ok());
  EXPECT_EQ(FamilyIdFrom(reply).value(), 33);
}

TEST(NodeNetlinkTest, TruncatedMessageIsAnError) {
  std::string bytes = ReplyMessage(27, 1, U32Attr(NBD_ATTR_INDEX, 1));
  bytes.resize(bytes.size() - 2);
  Reply reply;
  EXPECT_FALSE(ParseReply(bytes, 1, reply).ok());
}

// The real kernel: nlctrl resolves itself, which checks the GETFAMILY bytes
// and the reply parser against the kernel's own answer; and "nbd" resolves
// exactly when the module is loaded (a malformed request would get EINVAL,
// not ENOENT).
TEST(NodeNetlinkTest, KernelResolvesFamilies) {
  auto ctrl = ResolveGenlFamily("nlctrl");
  ASSERT_TRUE(ctrl.ok()) << ctrl.status();
  EXPECT_EQ(*ctrl, GENL_ID_CTRL);
  auto nbd = ResolveGenlFamily(NBD_GENL_FAMILY_NAME);
  if (std::filesystem::exists("/sys/module/nbd")) {
    EXPECT_TRUE(nbd.ok()) << nbd.status();
    EXPECT_TRUE(NetlinkNbd::Open().ok());
  } else {
    EXPECT_TRUE(absl::IsNotFound(nbd.status())) << nbd.status();
    auto open = NetlinkNbd::Open();
    EXPECT_TRUE(absl::IsUnavailable(open.status())) << open.status();
  }
}

}  // namespace
}  // namespace syncblock::csi::nbdnl
