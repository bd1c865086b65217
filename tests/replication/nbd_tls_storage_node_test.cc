// A storage node started with TLS files (from a test CA, as `local up` makes
// them) serves its volumes' NBD export over TLS only, and opens a volume to
// the nodes its publications name: the real StorageNode and primary engine,
// with nbdinfo and qemu-io as the clients.
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "replication/node/storage_node.h"
#include "replication/security/certificate_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::RunCommand;
using syncblock::testing::TempDir;
using syncblock::testing::TestPki;

class NbdTlsStorageNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(dir_.Join("pki").c_str(), 0700), 0);
    pki_ = std::make_unique<TestPki>(dir_.Join("pki"));
    StorageNodeOptions opts;
    opts.node_id = "s1";
    opts.data_dir = dir_.Join("data");
    opts.replication_listen = {"127.0.0.1", 0};
    opts.nbd_listen = {"127.0.0.1", 0};
    opts.tls = pki_->Issue("s1", "storage");
    node_ = std::make_unique<StorageNode>(opts);
    ASSERT_TRUE(node_->Start().ok());
    Manifest m;
    m.volume_id = "vol";
    m.size_bytes = 16 << 20;
    m.primary_node_id = "s1";
    m.members = {node_->Self()};
    // As ControllerPublishVolume records them (csi/publications.h).
    m.attributes = {{"csi.pub.n1", "rw,block,MULTI_NODE_MULTI_WRITER"},
                    {"csi.pub.n2", "ro,block,MULTI_NODE_READER_ONLY"}};
    auto r = node_->CreateReplica(m);
    ASSERT_TRUE(r.ok()) << r.status();
  }
  void TearDown() override { node_->Stop(); }

  std::string Dir(const std::string& name, const std::string& role) {
    auto d = security::ClientCertificateDir(pki_->Issue(name, role));
    EXPECT_TRUE(d.ok()) << d.status();
    return d.ok() ? *d : "";
  }
  static void RequireTool(const std::string& tool) {
    if (!syncblock::testing::HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
  }
  std::string Qemu(const std::string& dir) const {
    return absl::StrCat("--object tls-creds-x509,id=tls0,dir=", dir,
                        ",endpoint=client --image-opts driver=nbd,host=127.0.0.1,port=",
                        node_->nbd().port(), ",export=vol,tls-creds=tls0");
  }

  TempDir dir_;
  std::unique_ptr<TestPki> pki_;
  std::unique_ptr<StorageNode> node_;
};

TEST_F(NbdTlsStorageNodeTest, TheUriSaysTlsAndOnlyPublishedNodesOpen) {
  const std::string uri = node_->NbdUri("vol");
  ASSERT_EQ(uri.rfind("nbds://127.0.0.1:", 0), 0u) << uri;
  RequireTool("nbdinfo");
  auto r = RunCommand(
      absl::StrCat("nbdinfo --size '", uri, "?tls-certificates=", Dir("n1", "node"), "'"),
      std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, absl::StrCat(16 << 20, "\n"));
  r = RunCommand(
      absl::StrCat("nbdinfo --size '", uri, "?tls-certificates=", Dir("n9", "node"), "'"),
      std::chrono::seconds(60));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("policy"), std::string::npos) << r.output;
  // Plaintext: refused, with TLS named as the reason.
  r = RunCommand(absl::StrCat("nbdinfo --size nbd://127.0.0.1:", node_->nbd().port(), "/vol"),
                 std::chrono::seconds(60));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("TLS"), std::string::npos) << r.output;
}

TEST_F(NbdTlsStorageNodeTest, QemuIoWritesAsAPublishedNodeAndReadOnlyIsReadOnly) {
  RequireTool("qemu-io");
  auto r = RunCommand(absl::StrCat("qemu-io ", Qemu(Dir("n1", "node")),
                                   " -c 'write -P 0x6b 0 1M' -c 'read -P 0x6b 0 1M' -c flush"),
                      std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("failed"), std::string::npos) << r.output;
  const std::string ro = Dir("n2", "node");
  r = RunCommand(absl::StrCat("qemu-io -r ", Qemu(ro), " -c 'read -P 0x6b 0 1M'"),
                 std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("failed"), std::string::npos) << r.output;
  r = RunCommand(absl::StrCat("qemu-io ", Qemu(ro), " -c 'write 0 4096'"),
                 std::chrono::seconds(60));
  EXPECT_TRUE(r.exit_code != 0 || r.output.find("read-only") != std::string::npos ||
              r.output.find("not permitted") != std::string::npos)
      << r.output;
  // The admin (a person's ctl) opens every volume.
  r = RunCommand(absl::StrCat("qemu-io -r ", Qemu(Dir("admin", "admin")), " -c 'read 0 4096'"),
                 std::chrono::seconds(60));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

}  // namespace
}  // namespace syncblock::repl
