// Our initiators over TLS against the real NbdServer with TLS: the own
// handshake (NbdConnect: STARTTLS, no downgrade, refusals as statuses), the
// userspace TLS proxy the kernel NBD path sits on (driven here the way the
// kernel drives its socket: raw NBD requests on the plain end, since there
// is no nbd module here), and libnbd (NbdIoConnection/NbdPool) with the
// certificate directory.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "replication/initiator/nbd_client.h"
#include "replication/initiator/nbd_io.h"
#include "replication/initiator/nbd_pool.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/initiator/tls_proxy.h"
#include "replication/nbd/nbd_access.h"
#include "replication/nbd/nbd_protocol.h"
#include "replication/nbd/nbd_server.h"
#include "replication/security/tls_context.h"
#include "tests/replication/nbd_test_device.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"

namespace syncblock::repl::initiator {
namespace {

using nbdtest::FileBlockDevice;
using nbdtest::MapExportProvider;
using syncblock::testing::TempDir;
using syncblock::testing::TestPki;

constexpr uint64_t kMiB = 1 << 20;

class NbdTlsInitiatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<TestPki>(dir_.path());
    provider_ = std::make_shared<MapExportProvider>();
    vol_ = std::make_shared<FileBlockDevice>(dir_.Join("vol.img"), 8 * kMiB, false);
    provider_->Add("vol", vol_);
    NbdServerOptions options;
    auto ctx = security::TlsContext::Load(pki_->Issue("s1", "storage"));
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    options.tls = *ctx;
    options.authorizer = std::make_shared<nbd::PublicationAuthorizer>(
        [](const std::string& name) -> std::optional<std::map<std::string, std::string>> {
          if (name != "vol") return std::nullopt;
          return std::map<std::string, std::string>{{"csi.pub.n1", "rw,block,X"},
                                                    {"csi.pub.n2", "ro,block,X"}};
        });
    server_ = std::make_unique<NbdServer>(provider_, options);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
  }
  void TearDown() override {
    server_->Stop();
    SetNbdClientTls(security::TlsFiles{"", "", "", /*insecure=*/true});
  }
  NbdUri Uri(const std::string& name = "vol") const {
    NbdUri u;
    u.host = "127.0.0.1";
    u.port = server_->port();
    u.export_name = name;
    return u;
  }

  TempDir dir_;
  std::unique_ptr<TestPki> pki_;
  std::shared_ptr<MapExportProvider> provider_;
  std::shared_ptr<FileBlockDevice> vol_;
  std::unique_ptr<NbdServer> server_;
};

bool SendAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::optional<std::string> RecvAll(int fd, size_t n) {
  std::string out(n, '\0');
  size_t done = 0;
  while (done < n) {
    ssize_t got = ::recv(fd, out.data() + done, n - done, 0);
    if (got <= 0) return std::nullopt;
    done += static_cast<size_t>(got);
  }
  return out;
}

std::string Request(uint16_t type, uint64_t handle, uint64_t offset, uint32_t length) {
  nbd::RequestHeader h;
  h.type = type;
  h.handle = handle;
  h.offset = offset;
  h.length = length;
  return nbd::EncodeRequestHeader(h);
}

TEST_F(NbdTlsInitiatorTest, OwnHandshakeWithoutCertificateIsToldTlsIsRequired) {
  SetNbdClientTls(security::TlsFiles{"", "", "", /*insecure=*/true});
  auto c = NbdConnect(Uri(), std::chrono::seconds(5));
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(c.status())) << c.status();
  EXPECT_NE(c.status().message().find("requires TLS"), std::string::npos) << c.status();
}

TEST_F(NbdTlsInitiatorTest, OwnHandshakeRefusalsAreStatuses) {
  SetNbdClientTls(pki_->Issue("n9", "node"));
  auto c = NbdConnect(Uri(), std::chrono::seconds(5));
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(c.status())) << c.status();
  EXPECT_NE(c.status().message().find("not published to node n9"), std::string::npos);
  // Not served here: NOT_FOUND, so the resolver looks elsewhere.
  SetNbdClientTls(pki_->Issue("n1", "node"));
  c = NbdConnect(Uri("nope"), std::chrono::seconds(5));
  EXPECT_TRUE(absl::IsNotFound(c.status())) << c.status();
}

TEST_F(NbdTlsInitiatorTest, OwnHandshakeRefusesAServerThatIsNotAStorageNode) {
  // A server posing with an admin certificate from the same CA.
  NbdServerOptions options;
  auto ctx = security::TlsContext::Load(pki_->Issue("mallory", "admin"));
  ASSERT_TRUE(ctx.ok());
  options.tls = *ctx;
  NbdServer fake(provider_, options);
  ASSERT_TRUE(fake.Listen("127.0.0.1", 0).ok());
  SetNbdClientTls(pki_->Issue("n1", "node"));
  NbdUri u = Uri();
  u.port = fake.port();
  auto c = NbdConnect(u, std::chrono::seconds(5));
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsUnauthenticated(c.status())) << c.status();
  fake.Stop();
}

TEST_F(NbdTlsInitiatorTest, KernelSocketIsAPlainProxyOverTls) {
  SetNbdClientTls(pki_->Issue("n1", "node"));
  auto c = NbdConnect(Uri(), std::chrono::seconds(5));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->tls());
  EXPECT_EQ(c->info().size, 8 * kMiB);
  const int before = RunningTlsProxies();
  auto fd = c->KernelSocket();
  ASSERT_TRUE(fd.ok()) << fd.status();
  EXPECT_EQ(RunningTlsProxies(), before + 1);
  timeval tv{10, 0};  // a failure must not hang the test
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  // What the kernel does on its socket: plain NBD requests (one at a time
  // here: replies to pipelined ones may come in any order).
  std::string data(256 * 1024, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  auto expect_reply = [&](uint64_t handle) {
    auto bytes = RecvAll(*fd, nbd::kSimpleReplySize);
    ASSERT_TRUE(bytes);
    auto reply = nbd::ParseSimpleReply(*bytes);
    ASSERT_TRUE(reply.ok());
    EXPECT_EQ(reply->handle, handle);
    EXPECT_EQ(reply->error, 0u);
  };
  ASSERT_TRUE(SendAll(*fd, Request(nbd::kCmdWrite, 1, 4096, data.size()) + data));
  expect_reply(1);
  ASSERT_TRUE(SendAll(*fd, Request(nbd::kCmdFlush, 2, 0, 0)));
  expect_reply(2);
  ASSERT_TRUE(SendAll(*fd, Request(nbd::kCmdRead, 3, 4096, data.size())));
  expect_reply(3);
  auto back = RecvAll(*fd, data.size());
  ASSERT_TRUE(back);
  EXPECT_TRUE(*back == data);
  // The data is on the device, written through TLS.
  std::string on_disk(data.size(), '\0');
  ASSERT_EQ(::pread(vol_->fd(), on_disk.data(), on_disk.size(), 4096),
            static_cast<ssize_t>(data.size()));
  EXPECT_TRUE(on_disk == data);
  // The kernel disconnects: the proxy ends.
  ASSERT_TRUE(SendAll(*fd, Request(nbd::kCmdDisc, 4, 0, 0)));
  c = absl::UnavailableError("gone");  // closes our end
  for (int i = 0; i < 100 && RunningTlsProxies() != before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(RunningTlsProxies(), before);
}

TEST_F(NbdTlsInitiatorTest, ProxyEndsWhenTheServerGoesAway) {
  SetNbdClientTls(pki_->Issue("n1", "node"));
  auto c = NbdConnect(Uri(), std::chrono::seconds(5));
  ASSERT_TRUE(c.ok()) << c.status();
  auto fd = c->KernelSocket();
  ASSERT_TRUE(fd.ok());
  timeval tv{10, 0};
  ::setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  server_->CloseExport("vol");
  // The kernel's end sees EOF: its connection is dead, and it reconnects.
  char b;
  EXPECT_EQ(::recv(*fd, &b, 1, 0), 0);
}

TEST_F(NbdTlsInitiatorTest, LibnbdConnectionsUseTheCertificateDirectory) {
  SetNbdClientTls(pki_->Issue("n1", "node"));
  NbdPool pool(4);
  ASSERT_TRUE(pool.Connect(Uri()).ok());
  EXPECT_EQ(pool.size(), 8 * kMiB);
  std::string data(65536, 'z');
  auto w = pool.Run([&](NbdIoConnection& c) { return c.Write(0, data.size(), data.data()); });
  ASSERT_TRUE(w.status.ok()) << w.status;
  std::string back(data.size(), '\0');
  auto r = pool.Run([&](NbdIoConnection& c) { return c.Read(0, back.size(), back.data()); });
  ASSERT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(back, data);
  // A read-only publication: advertised read-only, and the server says EPERM.
  SetNbdClientTls(pki_->Issue("n2", "node"));
  auto ro = NbdIoConnection::Open(Uri(), std::chrono::seconds(5), std::chrono::seconds(5));
  ASSERT_TRUE(ro.ok()) << ro.status();
  EXPECT_TRUE((*ro)->info().transmission_flags & nbd::kFlagReadOnly);
  // Unpublished: refused, not "unavailable" (no point looking elsewhere).
  SetNbdClientTls(pki_->Issue("n9", "node"));
  auto denied = NbdIoConnection::Open(Uri(), std::chrono::seconds(5), std::chrono::seconds(5));
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.status().message().find("policy"), std::string::npos) << denied.status();
}

}  // namespace
}  // namespace syncblock::repl::initiator
