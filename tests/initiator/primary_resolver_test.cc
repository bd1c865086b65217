// GrpcPrimaryResolver against real gRPC StorageControl servers (in-process,
// answering GetReplica as a primary, a secondary or a node without the
// volume) and a real NBD server (nbdkit) to confirm candidates.
#include "replication/initiator/primary_resolver.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "replication/initiator/nbd_client.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/proto/control.grpc.pb.h"
#include "replication/security/certificates.h"
#include "replication/security/grpc_credentials.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"

namespace syncblock::repl::initiator {
namespace {

namespace ctl = ::syncblock::control::v1;

// Answers GetReplica with a fixed reply, or NOT_FOUND when none is set.
class FixedControl : public ctl::StorageControl::Service {
 public:
  explicit FixedControl(std::optional<ctl::ReplicaStatus> reply) : reply_(std::move(reply)) {}
  grpc::Status GetReplica(grpc::ServerContext*, const ctl::GetReplicaRequest* req,
                          ctl::ReplicaStatus* out) override {
    if (!reply_ || req->volume_id() != reply_->volume_id()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no replica of " + req->volume_id());
    }
    *out = *reply_;
    return grpc::Status::OK;
  }

 private:
  std::optional<ctl::ReplicaStatus> reply_;
};

// The cluster's CA for the suite: the servers are storage nodes, the
// resolver asks them as a CSI node plugin, over mutual TLS as in a cluster.
const testing::TestPki& Pki() {
  static testing::TempDir* dir = new testing::TempDir();
  static testing::TestPki* pki = new testing::TestPki(dir->path());
  return *pki;
}

class ControlServer {
 public:
  explicit ControlServer(std::optional<ctl::ReplicaStatus> reply) : service_(std::move(reply)) {
    grpc::ServerBuilder b;
    b.AddListeningPort(
        "127.0.0.1:0",
        security::GrpcServerCredentials(Pki().Issue("storage-1", security::kRoleStorage)), &port_);
    b.RegisterService(&service_);
    server_ = b.BuildAndStart();
  }
  ~ControlServer() { server_->Shutdown(); }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  FixedControl service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// A secondary's answer: the primary is member "p", whose NBD port is `port`.
ctl::ReplicaStatus SecondaryNaming(int port) {
  ctl::ReplicaStatus secondary;
  secondary.set_volume_id("vol");
  secondary.set_role(ctl::ROLE_SECONDARY);
  secondary.set_primary_node_id("p");
  auto* m = secondary.add_members();
  m->set_node_id("p");
  m->set_nbd_address("127.0.0.1:" + std::to_string(port));
  return secondary;
}

class PrimaryResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveTool("nbdkit")) GTEST_SKIP() << "needs nbdkit";
    security::SetProcessTlsFiles(Pki().Issue("node-1", security::kRoleNode));
    nbd_port_ = testing::FreePort();
    nbdkit_ = std::make_unique<testing::Subprocess>(std::vector<std::string>{
        "nbdkit", "-f", "-i", "127.0.0.1", "-p", std::to_string(nbd_port_), "memory", "1M"});
    ASSERT_TRUE(testing::WaitFor([&] {
      auto c = NbdConnect({"127.0.0.1", nbd_port_, "vol"}, std::chrono::seconds(1));
      if (c.ok()) c->Disconnect();
      return c.ok();
    }));
  }
  std::string Live() { return "nbd://127.0.0.1:" + std::to_string(nbd_port_) + "/vol"; }
  std::string Dead() { return "nbd://127.0.0.1:" + std::to_string(testing::FreePort()) + "/vol"; }

  int nbd_port_ = 0;
  std::unique_ptr<testing::Subprocess> nbdkit_;
};

TEST_F(PrimaryResolverTest, LiveHintIsUsedWithoutAskingAnyone) {
  GrpcPrimaryResolver r([] { return std::vector<std::string>{"127.0.0.1:1"}; });
  auto uri = r.Resolve("vol", Live(), {});
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(*uri, Live());
}

TEST_F(PrimaryResolverTest, StaleHintFallsBackToThePrimarysAnswer) {
  ControlServer without(std::nullopt);
  ctl::ReplicaStatus primary;
  primary.set_volume_id("vol");
  primary.set_role(ctl::ROLE_PRIMARY);
  primary.set_nbd_uri(Live());
  ControlServer with(primary);
  GrpcPrimaryResolver r([&] { return std::vector<std::string>{with.address()}; });
  auto uri = r.Resolve("vol", Dead(), {without.address()});
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(*uri, Live());
}

TEST_F(PrimaryResolverTest, SecondaryNamesThePrimarysNbdAddress) {
  ControlServer server(SecondaryNaming(nbd_port_));
  GrpcPrimaryResolver r(nullptr);
  auto uri = r.Resolve("vol", "", {server.address()});
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(*uri, Live());
}

// A process with a certificate connects over TLS, whatever the scheme it was
// given; the URI it reports for the primary a secondary named says so.
TEST_F(PrimaryResolverTest, WithACertificateTheSecondarysAnswerIsAnNbdsUri) {
  testing::TempDir creds;
  const security::TlsFiles server = Pki().Issue("storage-2", security::kRoleStorage);
  testing::WriteFile(creds.Join("ca-cert.pem"), testing::ReadFile(Pki().ca_cert()));
  testing::WriteFile(creds.Join("server-cert.pem"), testing::ReadFile(server.cert));
  testing::WriteFile(creds.Join("server-key.pem"), testing::ReadFile(server.key));
  ASSERT_EQ(chmod(creds.Join("server-key.pem").c_str(), 0600), 0);
  const int port = testing::FreePort();
  testing::Subprocess tls_nbdkit({"nbdkit", "-f", "--tls=require",
                                  "--tls-certificates=" + creds.path(), "-i", "127.0.0.1", "-p",
                                  std::to_string(port), "memory", "1M"});
  SetNbdClientTls(Pki().Issue("node-1", security::kRoleNode));
  struct Restore {
    ~Restore() { SetNbdClientTls(security::TlsFiles{"", "", "", /*insecure=*/true}); }
  } restore;
  const std::string nbds = "nbds://127.0.0.1:" + std::to_string(port) + "/vol";
  ASSERT_TRUE(testing::WaitFor([&] {
    auto u = ParseNbdUri(nbds);
    auto c = NbdConnect(*u, std::chrono::seconds(1));
    if (c.ok()) c->Disconnect();
    return c.ok();
  }));

  ControlServer control(SecondaryNaming(port));
  GrpcPrimaryResolver r(nullptr);
  auto uri = r.Resolve("vol", "", {control.address()});
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_EQ(*uri, nbds);
}

TEST_F(PrimaryResolverTest, UnknownEverywhereIsNotFoundAndNobodyIsUnavailable) {
  ControlServer a(std::nullopt), b(std::nullopt);
  GrpcPrimaryResolver r([&] { return std::vector<std::string>{a.address(), b.address()}; });
  EXPECT_TRUE(absl::IsNotFound(r.Resolve("vol", "", {}).status()));

  GrpcPrimaryResolver nobody(
      [] { return std::vector<std::string>{"127.0.0.1:" + std::to_string(testing::FreePort())}; });
  auto st = nobody.Resolve("vol", Dead(), {}).status();
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
}

}  // namespace
}  // namespace syncblock::repl::initiator
