// The blocking-socket helpers (replication/util/socket.h) on real loopback
// sockets: address parsing, listen on port 0, connect, whole-buffer IO, and
// the errors a closed or absent peer gives.
#include "replication/util/socket.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

namespace syncblock {
namespace {

TEST(SocketTest, ParsesHostPort) {
  auto a = ParseHostPort("127.0.0.1:7000");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7000);
  EXPECT_EQ(a->ToString(), "127.0.0.1:7000");
  auto v6 = ParseHostPort("[::1]:65535");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 65535);
  EXPECT_EQ(v6->ToString(), "[::1]:65535");
  auto any = ParseHostPort(":0");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "0.0.0.0");
  EXPECT_EQ(any->port, 0);
  auto name = ParseHostPort("storage-0.svc:9000");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->host, "storage-0.svc");
}

TEST(SocketTest, RefusesMalformedAddresses) {
  for (const char* text : {"", "host", "host:", "host:port", "host:-1", "host:65536",
                           "host:99999999999", "host:1x"}) {
    auto r = ParseHostPort(text);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << text;
    if (*text) {
      EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status();
    }
  }
}

class ConnectedPair : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = ListenTcp({"127.0.0.1", 0});
    ASSERT_TRUE(l.ok()) << l.status();
    listen_fd_ = *l;
    port_ = LocalPort(listen_fd_);
    ASSERT_GT(port_, 0);
    auto c = ConnectTcp({"127.0.0.1", port_}, std::chrono::seconds(5));
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = *c;
    server_ = accept(listen_fd_, nullptr, nullptr);
    ASSERT_GE(server_, 0);
  }
  void TearDown() override {
    for (int fd : {client_, server_, listen_fd_}) {
      if (fd >= 0) close(fd);
    }
  }
  int listen_fd_ = -1, port_ = 0, client_ = -1, server_ = -1;
};

TEST_F(ConnectedPair, MovesLargeBuffersWhole) {
  std::string data(8 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31);
  std::thread writer([&] { EXPECT_TRUE(WriteFull(client_, data.data(), data.size()).ok()); });
  std::string got(data.size(), '?');
  EXPECT_TRUE(ReadFull(server_, got.data(), got.size()).ok());
  writer.join();
  EXPECT_EQ(got, data);
}

TEST_F(ConnectedPair, WritevSendsEveryPieceInOrder) {
  std::string a(100000, 'a'), b = "B", c(300000, 'c');
  iovec iov[3] = {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}};
  std::thread writer([&] { EXPECT_TRUE(WritevFull(client_, iov, 3).ok()); });
  std::string got(a.size() + b.size() + c.size(), '?');
  EXPECT_TRUE(ReadFull(server_, got.data(), got.size()).ok());
  writer.join();
  EXPECT_EQ(got, a + b + c);
}

TEST_F(ConnectedPair, ReadFullFailsUnavailableWhenThePeerCloses) {
  ASSERT_TRUE(WriteFull(client_, "abc", 3).ok());
  close(client_);
  client_ = -1;
  char buf[8];
  auto s = ReadFull(server_, buf, sizeof(buf));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("closed"), std::string::npos) << s;
}

TEST_F(ConnectedPair, WriteToAClosedPeerFailsWithoutSigpipe) {
  close(server_);
  server_ = -1;
  std::string chunk(1 << 20, 'x');
  absl::Status s;
  // The first send may still be buffered; a later one sees the reset.
  for (int i = 0; i < 64 && s.ok(); ++i) s = WriteFull(client_, chunk.data(), chunk.size());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

TEST_F(ConnectedPair, SendTimeoutStopsAWriterWhosePeerDoesNotRead) {
  SetBufferSizes(client_, 64 << 10);
  SetSendTimeout(client_, std::chrono::milliseconds(200));
  std::string chunk(64 << 20, 'x');  // far more than both socket buffers
  auto s = WriteFull(client_, chunk.data(), chunk.size());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

TEST(SocketTest, ConnectToAClosedPortIsUnavailableAndNamesTheAddress) {
  auto l = ListenTcp({"127.0.0.1", 0});
  ASSERT_TRUE(l.ok());
  int port = LocalPort(*l);
  close(*l);  // now nothing listens there
  auto c = ConnectTcp({"127.0.0.1", port}, std::chrono::seconds(2));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(c.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << c.status();
}

TEST(SocketTest, UnresolvableHostIsUnavailable) {
  auto c = ConnectTcp({"no-such-host.invalid", 80}, std::chrono::seconds(2));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kUnavailable);
}

TEST(SocketTest, ListeningTwiceOnOnePortFails) {
  auto a = ListenTcp({"127.0.0.1", 0});
  ASSERT_TRUE(a.ok());
  auto b = ListenTcp({"127.0.0.1", LocalPort(*a)});
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable);
  close(*a);
}

}  // namespace
}  // namespace syncblock
