// The NBD port of a real storage daemon under many connections: idle clients
// (in the handshake or in transmission) cost no thread, a connection past
// --nbd-max-connections is refused in the handshake with NBD_REP_ERR_POLICY
// and a message, the refusal is logged, and a freed slot serves a new client
// (qemu-io, nbdinfo) again.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "replication/security/certificates.h"
#include "tests/replication/nbd_raw_client.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"
#include "tests/support/tls_command_line.h"

namespace syncblock::testing {
namespace {

using ::syncblock::repl::nbdtest::RawNbdClient;
using ::testing::HasSubstr;
namespace nbd = ::syncblock::repl::nbd;

constexpr int kMaxConnections = 120;

size_t ThreadCount(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

class NbdConnectionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    control_ = FreePort();
    nbd_port_ = FreePort();
    log_ = dir_.Join("node.log");
    std::filesystem::create_directories(dir_.Join("pki"));
    pki_ = std::make_unique<TestPki>(dir_.Join("pki"));
    // Plaintext: the raw client here counts connections and threads at the
    // NBD layer; the TLS handshake's own limits are NbdTlsTest's.
    const security::TlsFiles plaintext{"", "", "", /*insecure=*/true};
    admin_flags_ = TlsFlagString(plaintext);
    node_ = std::make_unique<Subprocess>(
        WithTls({SyncblockBinary(), "storage", "--node-id", "node-1", "--data-dir",
                 dir_.Join("data"), "--listen", "127.0.0.1:" + std::to_string(control_),
                 "--replication-listen", "127.0.0.1:" + std::to_string(FreePort()), "--nbd-listen",
                 "127.0.0.1:" + std::to_string(nbd_port_), "--metrics-listen",
                 "127.0.0.1:" + std::to_string(FreePort()), "--nbd-max-connections",
                 std::to_string(kMaxConnections)},
                plaintext),
        log_);
    ASSERT_TRUE(WaitFor([&] { return Ctl("node list").exit_code == 0; }, std::chrono::seconds(60)))
        << Tail(log_);
    auto create = Ctl("volume create vol --size 16M --replicas 1");
    ASSERT_EQ(create.exit_code, 0) << create.output << Tail(log_);
  }

  CommandResult Ctl(const std::string& args) {
    return RunCommand(SyncblockBinary() + " ctl --storage-nodes 127.0.0.1:" +
                          std::to_string(control_) + admin_flags_ + " " + args + " 2>&1",
                      std::chrono::seconds(60));
  }
  std::string Uri() const { return "nbd://127.0.0.1:" + std::to_string(nbd_port_) + "/vol"; }

  TempDir dir_;
  std::unique_ptr<TestPki> pki_;
  std::string admin_flags_;
  int control_ = 0;
  int nbd_port_ = 0;
  std::string log_;
  std::unique_ptr<Subprocess> node_;
};

TEST_F(NbdConnectionsTest, IdleConnectionsCostNoThreadAndTheCapRefusesClearly) {
  const pid_t pid = node_->pid();
  const size_t threads_before = ThreadCount(pid);

  // A third of the clients stop in the handshake (after the greeting, or
  // after their flags), the rest finish it and then do nothing.
  std::vector<std::unique_ptr<RawNbdClient>> clients;
  for (int i = 0; i < kMaxConnections; ++i) {
    auto c = std::make_unique<RawNbdClient>(nbd_port_);
    ASSERT_TRUE(c->connected()) << i;
    if (i % 3 == 0) {
      ASSERT_TRUE(c->Recv(nbd::kGreetingSize)) << i;
    } else if (i % 3 == 1) {
      ASSERT_TRUE(c->Greet()) << i;
    } else {
      ASSERT_TRUE(c->Go("vol")) << i;
    }
    clients.push_back(std::move(c));
  }
  // Before: one reader thread per connection (and a writer per transmission
  // one), so 120 idle clients made 200 threads. Now idle ones give theirs
  // back (transmission after --park_after, 1 s).
  size_t threads_idle = 0;
  EXPECT_TRUE(WaitFor(
      [&] {
        threads_idle = ThreadCount(pid);
        return threads_idle <= threads_before + 8;
      },
      std::chrono::seconds(30)))
      << "threads: " << threads_before << " before, " << threads_idle << " with " << kMaxConnections
      << " idle connections";

  // A parked connection wakes up and serves IO.
  ASSERT_TRUE(clients[2]->WriteReadBack(4096, std::string(4096, 'x')));
  ASSERT_TRUE(clients[5]->WriteReadBack(8192, std::string(4096, 'y')));

  // One more is refused in the handshake, with the reason.
  RawNbdClient refused(nbd_port_);
  ASSERT_TRUE(refused.Greet());
  ASSERT_TRUE(refused.Send(RawNbdClient::Option(nbd::kOptGo, RawNbdClient::InfoData("vol", {}))));
  auto reply = refused.ReadOptionReply();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->type, nbd::kRepErrPolicy);
  EXPECT_EQ(reply->option, nbd::kOptGo);
  EXPECT_THAT(reply->data, HasSubstr("too many connections"));
  EXPECT_THAT(reply->data, HasSubstr(std::to_string(kMaxConnections)));
  // ABORT still ends it politely.
  ASSERT_TRUE(refused.Send(RawNbdClient::Option(nbd::kOptAbort, "")));
  auto ack = refused.ReadOptionReply();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ack->type, nbd::kRepAck);
  EXPECT_TRUE(refused.WaitClosed());
  EXPECT_TRUE(WaitFor([&] {
    return ReadFile(log_).find("refusing connection") != std::string::npos;
  })) << Tail(log_);
  if (HaveTool("nbdinfo")) {
    auto info = RunCommand("nbdinfo " + Uri() + " 2>&1", std::chrono::seconds(30));
    EXPECT_NE(info.exit_code, 0) << info.output;
  }

  // Freed slots serve real clients again.
  for (int i = 0; i < 10; ++i) clients[i]->Close();
  if (HaveTool("qemu-io")) {
    CommandResult io;
    EXPECT_TRUE(WaitFor(
        [&] {
          io = RunCommand("qemu-io -f raw -c 'write -P 0x5c 1M 64k' -c 'read -P 0x5c 1M 64k' " +
                              Uri() + " 2>&1",
                          std::chrono::seconds(30));
          return io.exit_code == 0;
        },
        std::chrono::seconds(30)))
        << io.output;
    EXPECT_THAT(io.output, ::testing::Not(HasSubstr("Pattern verification failed")));
  }
  if (HaveTool("nbdinfo")) {
    auto info = RunCommand("nbdinfo " + Uri() + " 2>&1", std::chrono::seconds(30));
    EXPECT_EQ(info.exit_code, 0) << info.output;
    EXPECT_THAT(info.output, HasSubstr("16777216"));
  }
  clients.clear();
  EXPECT_TRUE(node_->Running()) << Tail(log_);
}

}  // namespace
}  // namespace syncblock::testing
