// TLS on the NBD export (NBD_OPT_STARTTLS, FORCEDTLS mode) and the access
// control that follows it: the option haggling as a socket-free state
// machine; the access rules; then the real NbdServer with TLS against clients
// we did not write (nbdinfo, nbdcopy, qemu-io with certificates) and a raw
// TLS client where exact bytes matter (error codes, EPERM on a read-only
// publication).
#include <gtest/gtest.h>
#include <unistd.h>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "replication/nbd/nbd_access.h"
#include "replication/nbd/nbd_handshake.h"
#include "replication/nbd/nbd_protocol.h"
#include "replication/nbd/nbd_server.h"
#include "replication/security/certificate_dir.h"
#include "replication/security/tls_context.h"
#include "tests/replication/nbd_raw_client.h"
#include "tests/replication/nbd_test_device.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using nbd::Access;
using nbd::Handshake;
using nbdtest::FileBlockDevice;
using nbdtest::MapExportProvider;
using nbdtest::RawNbdClient;
using security::PeerIdentity;
using syncblock::testing::RunCommand;
using syncblock::testing::TempDir;
using syncblock::testing::TestPki;

constexpr uint64_t kMiB = 1 << 20;

nbd::OptionHeader Header(uint32_t option, size_t length = 0) {
  return nbd::OptionHeader{option, static_cast<uint32_t>(length)};
}

// The reply type of the first option reply in `bytes`.
uint32_t ReplyType(const std::string& bytes) {
  auto h = nbd::ParseOptionReplyHeader(bytes);
  EXPECT_TRUE(h.ok()) << h.status();
  return h.ok() ? h->type : 0;
}

// Attributes as the CSI controller records publications (csi/publications.h).
std::map<std::string, std::string> Published(
    std::initializer_list<std::pair<std::string, std::string>> pubs) {
  std::map<std::string, std::string> out{{"qos.max_iops", "0"}};
  for (const auto& [node, value] : pubs) out["csi.pub." + node] = value;
  return out;
}

// ---- the access rules ----

TEST(NbdAccessTest, PublishedAccessReadsTheRwField) {
  auto attrs = Published({{"n1", "rw,block,MULTI_NODE_MULTI_WRITER"},
                          {"n2", "ro,mount,SINGLE_NODE_READER_ONLY"},
                          {"n3", "garbage"}});
  EXPECT_EQ(nbd::PublishedAccess(attrs, "n1"), Access::kReadWrite);
  EXPECT_EQ(nbd::PublishedAccess(attrs, "n2"), Access::kReadOnly);
  EXPECT_EQ(nbd::PublishedAccess(attrs, "n3"), Access::kNone);
  EXPECT_EQ(nbd::PublishedAccess(attrs, "n4"), Access::kNone);
  EXPECT_EQ(nbd::PublishedAccess(attrs, ""), Access::kNone);
}

TEST(NbdAccessTest, RolesDecide) {
  auto attrs = Published({{"n1", "rw,block,MULTI_NODE_MULTI_WRITER"}, {"n2", "ro,block,X"}});
  PeerIdentity n1{"n1", "node"}, n2{"n2", "node"}, n9{"n9", "node"};
  PeerIdentity admin{"admin", "admin"}, storage{"n1", "storage"}, ctrl{"controller", "controller"};
  PeerIdentity odd{"n1", "nodes"};
  EXPECT_EQ(nbd::DecideAccess(&n1, "v", attrs).access, Access::kReadWrite);
  EXPECT_EQ(nbd::DecideAccess(&n2, "v", attrs).access, Access::kReadOnly);
  auto refused = nbd::DecideAccess(&n9, "v", attrs);
  EXPECT_EQ(refused.access, Access::kNone);
  EXPECT_EQ(refused.reason, "volume v is not published to node n9");
  EXPECT_EQ(nbd::DecideAccess(&admin, "v", {}).access, Access::kReadWrite);
  // A storage node's certificate with the same CN as a published node is
  // not that node.
  EXPECT_EQ(nbd::DecideAccess(&storage, "v", attrs).access, Access::kNone);
  EXPECT_EQ(nbd::DecideAccess(&ctrl, "v", attrs).access, Access::kNone);
  EXPECT_EQ(nbd::DecideAccess(&odd, "v", attrs).access, Access::kNone);
  // No TLS, no identity: --insecure allows everything.
  EXPECT_EQ(nbd::DecideAccess(nullptr, "v", {}).access, Access::kReadWrite);
}

// ---- the option haggling, without sockets ----

class HaggleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    provider_.Add("vol", std::make_shared<FileBlockDevice>(dir_.Join("vol.img"), kMiB, false));
    provider_.Add("other", std::make_shared<FileBlockDevice>(dir_.Join("o.img"), kMiB, false));
    attrs_["vol"] = Published({{"n1", "rw,block,MULTI_NODE_MULTI_WRITER"}, {"n2", "ro,block,X"}});
    attrs_["other"] = {};
    authorizer_ = std::make_unique<nbd::PublicationAuthorizer>(
        [this](const std::string& name) -> std::optional<std::map<std::string, std::string>> {
          auto it = attrs_.find(name);
          if (it == attrs_.end()) return std::nullopt;
          return it->second;
        });
  }
  std::unique_ptr<Handshake> Make(bool tls) {
    nbd::HandshakeConfig config;
    config.tls = tls;
    config.authorizer = authorizer_.get();
    auto h = std::make_unique<Handshake>(&provider_, config);
    EXPECT_EQ(h->OnClientFlags(nbd::kClientFlagFixedNewstyle).next, Handshake::Next::kContinue);
    return h;
  }
  Handshake::Outcome Option(Handshake& h, uint32_t option, const std::string& data = "") {
    return h.OnOption(Header(option, data.size()), data);
  }
  static std::string Go(const std::string& name) { return nbd::EncodeInfoRequest(name, {}); }

  TempDir dir_;
  MapExportProvider provider_;
  std::map<std::string, std::map<std::string, std::string>> attrs_;
  std::unique_ptr<nbd::PublicationAuthorizer> authorizer_;
};

TEST_F(HaggleTest, OptionsBeforeStartTlsGetTlsRequired) {
  auto h = Make(true);
  for (uint32_t option : {nbd::kOptList, nbd::kOptInfo, nbd::kOptGo, nbd::kOptStructuredReply,
                          nbd::kOptSetMetaContext, 77u}) {
    std::string data = (option == nbd::kOptInfo || option == nbd::kOptGo) ? Go("vol") : "";
    auto out = Option(*h, option, data);
    EXPECT_EQ(out.next, Handshake::Next::kContinue) << option;
    EXPECT_EQ(ReplyType(out.reply), nbd::kRepErrTlsReqd) << option;
  }
  EXPECT_FALSE(h->tls_active());
}

TEST_F(HaggleTest, ExportNameBeforeStartTlsCloses) {
  auto h = Make(true);
  auto out = Option(*h, nbd::kOptExportName, "vol");
  EXPECT_EQ(out.next, Handshake::Next::kClose);
  EXPECT_TRUE(out.reply.empty());
  EXPECT_EQ(h->device(), nullptr);
}

TEST_F(HaggleTest, AbortBeforeStartTlsIsAcknowledged) {
  auto h = Make(true);
  auto out = Option(*h, nbd::kOptAbort);
  EXPECT_EQ(out.next, Handshake::Next::kClose);
  EXPECT_EQ(ReplyType(out.reply), nbd::kRepAck);
}

TEST_F(HaggleTest, StartTlsIsAcknowledgedOnceThenInvalid) {
  auto h = Make(true);
  auto out = Option(*h, nbd::kOptStartTls);
  EXPECT_EQ(out.next, Handshake::Next::kStartTls);
  EXPECT_EQ(ReplyType(out.reply), nbd::kRepAck);
  h->OnTlsEstablished(PeerIdentity{"admin", "admin"});
  EXPECT_TRUE(h->tls_active());
  out = Option(*h, nbd::kOptStartTls);
  EXPECT_EQ(out.next, Handshake::Next::kContinue);
  EXPECT_EQ(ReplyType(out.reply), nbd::kRepErrInvalid);
  // Never TLS_REQD once TLS is up.
  out = Option(*h, nbd::kOptInfo, Go("vol"));
  EXPECT_EQ(ReplyType(out.reply), nbd::kRepInfo);
}

TEST_F(HaggleTest, StartTlsWithDataIsInvalid) {
  auto h = Make(true);
  auto out = Option(*h, nbd::kOptStartTls, "x");
  EXPECT_EQ(out.next, Handshake::Next::kContinue);
  EXPECT_EQ(ReplyType(out.reply), nbd::kRepErrInvalid);
  EXPECT_FALSE(h->tls_active());
}

TEST_F(HaggleTest, StartTlsWithoutTlsConfiguredIsUnsupported) {
  auto h = Make(false);
  auto out = Option(*h, nbd::kOptStartTls);
  EXPECT_EQ(out.next, Handshake::Next::kContinue);
  EXPECT_EQ(ReplyType(out.reply), nbd::kRepErrUnsup);
  // NOTLS: no TLS_REQD, and no identity means everything is open.
  out = Option(*h, nbd::kOptGo, Go("vol"));
  EXPECT_EQ(out.next, Handshake::Next::kTransmission);
}

TEST_F(HaggleTest, ClientWithoutFixedNewstyleIsClosedWhenTlsIsRequired) {
  nbd::HandshakeConfig config;
  config.tls = true;
  Handshake h(&provider_, config);
  EXPECT_EQ(h.OnClientFlags(0).next, Handshake::Next::kClose);
}

TEST_F(HaggleTest, PublishedNodeOpensUnpublishedIsRefusedWithPolicy) {
  auto h = Make(true);
  Option(*h, nbd::kOptStartTls);
  h->OnTlsEstablished(PeerIdentity{"n9", "node"});
  auto out = Option(*h, nbd::kOptGo, Go("vol"));
  EXPECT_EQ(out.next, Handshake::Next::kContinue);
  EXPECT_EQ(ReplyType(out.reply), nbd::kRepErrPolicy);
  EXPECT_NE(out.refused.find("n9 (node)"), std::string::npos) << out.refused;
  EXPECT_NE(out.refused.find("vol"), std::string::npos) << out.refused;
  // An export not served here stays UNKNOWN (the initiator looks elsewhere).
  out = Option(*h, nbd::kOptInfo, Go("nope"));
  EXPECT_EQ(ReplyType(out.reply), nbd::kRepErrUnknown);
  // EXPORT_NAME cannot carry an error: refused means closed.
  out = Option(*h, nbd::kOptExportName, "vol");
  EXPECT_EQ(out.next, Handshake::Next::kClose);

  auto ok = Make(true);
  Option(*ok, nbd::kOptStartTls);
  ok->OnTlsEstablished(PeerIdentity{"n1", "node"});
  out = Option(*ok, nbd::kOptGo, Go("vol"));
  EXPECT_EQ(out.next, Handshake::Next::kTransmission);
  EXPECT_FALSE(ok->transmission_flags() & nbd::kFlagReadOnly);
}

TEST_F(HaggleTest, ReadOnlyPublicationIsAdvertisedReadOnly) {
  auto h = Make(true);
  Option(*h, nbd::kOptStartTls);
  h->OnTlsEstablished(PeerIdentity{"n2", "node"});
  auto out = Option(*h, nbd::kOptGo, Go("vol"));
  ASSERT_EQ(out.next, Handshake::Next::kTransmission);
  EXPECT_TRUE(h->transmission_flags() & nbd::kFlagReadOnly);
  EXPECT_TRUE(h->device()->ReadOnly());
}

TEST_F(HaggleTest, ListShowsOnlyWhatTheClientMayOpen) {
  auto h = Make(true);
  Option(*h, nbd::kOptStartTls);
  h->OnTlsEstablished(PeerIdentity{"n1", "node"});
  auto out = Option(*h, nbd::kOptList);
  EXPECT_NE(out.reply.find("vol"), std::string::npos);
  EXPECT_EQ(out.reply.find("other"), std::string::npos);
}

// ---- the server over TLS, against real clients ----

class NbdTlsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_ = std::make_unique<TestPki>(dir_.path());
    other_ca_dir_ = dir_.Join("other");
    ASSERT_EQ(::mkdir(other_ca_dir_.c_str(), 0700), 0);
    other_pki_ = std::make_unique<TestPki>(other_ca_dir_, "another CA");
    server_files_ = pki_->Issue("s1", "storage");
    provider_ = std::make_shared<MapExportProvider>();
    vol_ = std::make_shared<FileBlockDevice>(dir_.Join("vol.img"), 16 * kMiB, false);
    provider_->Add("vol", vol_);
    attrs_ = Published(
        {{"n1", "rw,block,MULTI_NODE_MULTI_WRITER"}, {"n2", "ro,block,MULTI_NODE_READER_ONLY"}});
    NbdServerOptions options;
    auto ctx = security::TlsContext::Load(server_files_);
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    options.tls = *ctx;
    options.authorizer = std::make_shared<nbd::PublicationAuthorizer>(
        [this](const std::string& name) -> std::optional<std::map<std::string, std::string>> {
          if (name != "vol") return std::nullopt;
          return attrs_;
        });
    server_ = std::make_unique<NbdServer>(provider_, options);
    ASSERT_TRUE(server_->Listen("127.0.0.1", 0).ok());
  }
  void TearDown() override { server_->Stop(); }

  // The GnuTLS-style directory of a certificate issued for name/role.
  std::string CertDir(const TestPki& pki, const std::string& name, const std::string& role) {
    auto dir = security::ClientCertificateDir(pki.Issue(name, role));
    EXPECT_TRUE(dir.ok()) << dir.status();
    return dir.ok() ? *dir : "";
  }
  std::string TlsUri(const std::string& dir) const {
    return absl::StrCat("'nbds://127.0.0.1:", server_->port(), "/vol?tls-certificates=", dir, "'");
  }
  static void RequireTool(const std::string& tool) {
    if (!syncblock::testing::HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
  }
  static syncblock::testing::CommandResult Run(const std::string& command) {
    return RunCommand(command, std::chrono::seconds(60));
  }
  std::string QemuImage(const std::string& dir, const std::string& name = "vol") const {
    return absl::StrCat("--object tls-creds-x509,id=tls0,dir=", dir,
                        ",endpoint=client --image-opts driver=nbd,host=127.0.0.1,port=",
                        server_->port(), ",export=", name, ",tls-creds=tls0");
  }

  TempDir dir_;
  std::unique_ptr<TestPki> pki_, other_pki_;
  std::string other_ca_dir_;
  security::TlsFiles server_files_;
  std::shared_ptr<MapExportProvider> provider_;
  std::shared_ptr<FileBlockDevice> vol_;
  std::map<std::string, std::string> attrs_;
  std::unique_ptr<NbdServer> server_;
};

TEST_F(NbdTlsServerTest, NbdinfoAndNbdcopyWithTheRightCertificateWork) {
  RequireTool("nbdinfo");
  std::string admin = CertDir(*pki_, "admin", "admin");
  auto r = Run("nbdinfo --size " + TlsUri(admin));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, absl::StrCat(16 * kMiB, "\n"));
  // A published node copies data in and out over TLS.
  std::string n1 = CertDir(*pki_, "n1", "node");
  RequireTool("nbdcopy");
  std::string src = dir_.Join("src.img");
  ASSERT_EQ(Run("head -c 4194304 /dev/urandom > " + src).exit_code, 0);
  r = Run(absl::StrCat("nbdcopy --allocated ", src, " ", TlsUri(n1)));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string back = dir_.Join("back.img");
  r = Run(absl::StrCat("nbdcopy ", TlsUri(n1), " ", back));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Run(absl::StrCat("cmp -n 4194304 ", src, " ", back)).exit_code, 0);
}

TEST_F(NbdTlsServerTest, QemuIoWithTlsCredsWorks) {
  RequireTool("qemu-io");
  std::string n1 = CertDir(*pki_, "n1", "node");
  auto r = Run(absl::StrCat("qemu-io ", QemuImage(n1),
                            " -c 'write -P 0x5a 65536 65536' -c 'read -P 0x5a 65536 65536'"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("error"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Pattern verification failed"), std::string::npos) << r.output;
}

TEST_F(NbdTlsServerTest, PlaintextClientIsToldTlsIsRequired) {
  RequireTool("nbdinfo");
  auto r = Run(absl::StrCat("nbdinfo nbd://127.0.0.1:", server_->port(), "/vol"));
  EXPECT_NE(r.exit_code, 0);
  // libnbd: "handshake: server refused NBD_OPT_GO: ... server requires TLS ..."
  EXPECT_NE(r.output.find("TLS"), std::string::npos) << r.output;
  RequireTool("qemu-io");
  r = Run(
      absl::StrCat("qemu-io -f raw -r nbd://127.0.0.1:", server_->port(), "/vol -c 'read 0 512'"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("TLS"), std::string::npos) << r.output;
}

TEST_F(NbdTlsServerTest, RawPlaintextClientGetsTlsReqdAndExportNameCloses) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  ASSERT_TRUE(c.Send(RawNbdClient::Option(nbd::kOptGo, RawNbdClient::InfoData("vol", {}))));
  auto reply = c.ReadOptionReply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, nbd::kRepErrTlsReqd);
  ASSERT_TRUE(c.Send(RawNbdClient::Option(nbd::kOptExportName, "vol")));
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(NbdTlsServerTest, CertificateFromAnotherCaIsRefusedInTheHandshake) {
  RequireTool("nbdinfo");
  // A client whose certificate another CA signed, though it trusts ours:
  // the server refuses it in the TLS handshake.
  std::string forged = CertDir(*other_pki_, "admin", "admin");
  ASSERT_EQ(::unlink((forged + "/ca-cert.pem").c_str()), 0);
  ASSERT_EQ(::symlink(pki_->ca_cert().c_str(), (forged + "/ca-cert.pem").c_str()), 0);
  auto r = Run("nbdinfo --size " + TlsUri(forged));
  EXPECT_NE(r.exit_code, 0) << r.output;
  // "gnutls_record_recv: A TLS fatal alert has been received." (qemu checks
  // its own certificate against its CA file first and does not even try.)
  EXPECT_NE(r.output.find("TLS fatal alert"), std::string::npos) << r.output;
  // A client of the other CA entirely does not trust our server either.
  std::string other = CertDir(*other_pki_, "admin3", "admin");
  r = Run("nbdinfo --size " + TlsUri(other));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("certificate verification"), std::string::npos) << r.output;
  // The raw view: the TLS handshake itself fails.
  RawNbdClient c(server_->port());
  EXPECT_FALSE(c.GreetWithTls(other_pki_->Issue("admin2", "admin")).ok());
}

TEST_F(NbdTlsServerTest, UnpublishedNodeIsRefusedWithPolicy) {
  RequireTool("nbdinfo");
  std::string n9 = CertDir(*pki_, "n9", "node");
  auto r = Run("nbdinfo --size " + TlsUri(n9));
  EXPECT_NE(r.exit_code, 0);
  // libnbd 1.14: "handshake: server policy prevents NBD_OPT_GO" (our
  // message is in its debug output only).
  EXPECT_NE(r.output.find("server policy prevents NBD_OPT_GO"), std::string::npos) << r.output;
  RequireTool("qemu-io");
  r = Run(absl::StrCat("qemu-io -r ", QemuImage(n9), " -c 'read 0 512'"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("not published to node n9"), std::string::npos) << r.output;
  // A storage node's certificate does not open volumes either.
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.GreetWithTls(pki_->Issue("n1", "storage")).ok());
  ASSERT_TRUE(c.Send(RawNbdClient::Option(nbd::kOptGo, RawNbdClient::InfoData("vol", {}))));
  auto reply = c.ReadOptionReply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, nbd::kRepErrPolicy);
}

TEST_F(NbdTlsServerTest, ReadOnlyPublicationRefusesWritesWithEperm) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.GreetWithTls(pki_->Issue("n2", "node")).ok());
  ASSERT_TRUE(c.Go("vol"));
  EXPECT_TRUE(c.flags & nbd::kFlagReadOnly);
  // The client ignores the flag: the server refuses anyway.
  std::string data(4096, 'x');
  ASSERT_TRUE(c.Send(RawNbdClient::Request(nbd::kCmdWrite, 7, 0, 4096) + data));
  auto w = c.ReadReply();
  ASSERT_TRUE(w);
  EXPECT_EQ(w->handle, 7u);
  EXPECT_EQ(w->error, nbd::kEperm);
  for (uint16_t cmd : {nbd::kCmdTrim, nbd::kCmdWriteZeroes}) {
    ASSERT_TRUE(c.Send(RawNbdClient::Request(cmd, 8, 0, 4096)));
    auto reply = c.ReadReply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->error, nbd::kEperm) << cmd;
  }
  // Reads work.
  ASSERT_TRUE(c.Send(RawNbdClient::Request(nbd::kCmdRead, 9, 0, 512)));
  auto r = c.ReadReply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->error, 0u);
  EXPECT_TRUE(c.Recv(512));
  // And nothing was written.
  std::string first(4096, '\0');
  ASSERT_EQ(::pread(vol_->fd(), first.data(), first.size(), 0), 4096);
  EXPECT_EQ(first.find('x'), std::string::npos);
}

TEST_F(NbdTlsServerTest, ReadOnlyNodeThroughQemuIo) {
  RequireTool("qemu-io");
  std::string n2 = CertDir(*pki_, "n2", "node");
  auto r = Run(absl::StrCat("qemu-io -r ", QemuImage(n2), " -c 'read 0 4096'"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // Opened read-write, qemu sees NBD_FLAG_READ_ONLY and refuses to open.
  r = Run(absl::StrCat("qemu-io ", QemuImage(n2), " -c 'write 0 4096'"));
  EXPECT_TRUE(r.exit_code != 0 || r.output.find("read-only") != std::string::npos ||
              r.output.find("Operation not permitted") != std::string::npos)
      << r.output;
}

TEST_F(NbdTlsServerTest, DataInjectedBeforeTheTlsHandshakeCloses) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.Greet());
  // STARTTLS and, in the same write, a plaintext option meant to be taken
  // as if it came over TLS.
  ASSERT_TRUE(c.Send(RawNbdClient::Option(nbd::kOptStartTls, "") +
                     RawNbdClient::Option(nbd::kOptGo, RawNbdClient::InfoData("vol", {}))));
  auto ack = c.ReadOptionReply();
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->type, nbd::kRepAck);
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(NbdTlsServerTest, StartTlsTwiceOverTlsIsInvalid) {
  RawNbdClient c(server_->port());
  ASSERT_TRUE(c.GreetWithTls(pki_->Issue("admin", "admin")).ok());
  ASSERT_TRUE(c.Send(RawNbdClient::Option(nbd::kOptStartTls, "")));
  auto reply = c.ReadOptionReply();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->type, nbd::kRepErrInvalid);
  // The session goes on, over TLS.
  ASSERT_TRUE(c.Go("vol"));
  EXPECT_TRUE(c.WriteReadBack(8192, std::string(4096, 'q')));
}

}  // namespace
}  // namespace syncblock::repl
