// The replication port's TLS with real processes (replication_tls.md): a
// storage node restarted with a certificate from another CA cannot rejoin
// its volume; the primary refuses it, `ctl volume show` says why, and IO
// goes on with the other replicas. Given its own certificate back, it
// rejoins and converges.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <memory>
#include <vector>

#include "replication/security/certificates.h"
#include "tests/fault/fault_test_base.h"
#include "tests/support/test_pki.h"

namespace syncblock::testing {
namespace {

namespace fs = std::filesystem;

class ReplicationTlsFaultTest : public FaultTestBase {};

// The message `ctl volume show` gives for `node`'s replica of `volume`.
std::string ReplicaMessage(const LocalCluster& c, const std::string& volume,
                           const std::string& node) {
  nlohmann::json v = c.CtlJson("volume show " + volume);
  if (!v.is_object()) return "";
  for (const auto& r : v["replicas"]) {
    if (r["node"] == node) return r.value("message", "");
  }
  return "";
}

TEST_F(ReplicationTlsFaultTest, ANodeWithAnotherCasCertificateCannotJoinTheReplication) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 5000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  const std::string tls = c.dir() + "/tls";
  ASSERT_TRUE(fs::exists(tls + "/ca.crt")) << "local up makes the cluster's CA under " << tls;
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  std::string uri = c.Export("v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  ASSERT_EQ(secondaries.size(), 2u);
  const std::string forged_node = secondaries[0];
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x11 0 1M'"), 0);

  // The node comes back as a forger would run it: a certificate for its own
  // name from another CA, which it also trusts (a daemon whose certificate
  // does not chain to its --tls-ca refuses to start at all).
  ASSERT_TRUE(c.Kill(forged_node));
  TempDir tmp;
  TestPki other(tmp.path(), "forger's CA");
  security::TlsFiles forged = other.Issue(forged_node, security::kRoleStorage);
  std::vector<std::string> args;
  nlohmann::json cluster = nlohmann::json::parse(ReadFile(c.dir() + "/cluster.json"));
  for (const auto& n : cluster["storage"]) {
    if (n["id"] == forged_node) args = n["args"].get<std::vector<std::string>>();
  }
  ASSERT_FALSE(args.empty()) << cluster.dump();
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--tls-ca") args[i + 1] = forged.ca;
    if (args[i] == "--tls-cert") args[i + 1] = forged.cert;
    if (args[i] == "--tls-key") args[i + 1] = forged.key;
  }
  auto forged_run = std::make_unique<Subprocess>(args, tmp.Join("forged.log"));

  // The primary refuses it and says why.
  std::string message;
  EXPECT_TRUE(WaitFor(
      [&] {
        message = ReplicaMessage(c, "v", forged_node);
        return message.find("certificate is not trusted") != std::string::npos;
      },
      std::chrono::seconds(30)))
      << message;
  EXPECT_NE(message.find("TLS: the server's certificate is not trusted"), std::string::npos)
      << message;
  CommandResult text = c.Ctl("volume show v");
  EXPECT_NE(text.output.find("certificate is not trusted"), std::string::npos) << text.output;

  // IO goes on with the other two, and the refused node stays out.
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x22 4M 1M' -c 'read -P 0x22 4M 1M'"), 0);
  nlohmann::json v = c.CtlJson("volume show v");
  ASSERT_TRUE(v.is_object());
  for (const auto& r : v["replicas"]) {
    if (r["node"] == forged_node) {
      EXPECT_NE(r["state"], "in_sync") << v.dump();
    }
  }

  // Its own certificate back (the files were never touched): it rejoins, is
  // resynced, and converges.
  forged_run->Kill(SIGKILL);
  forged_run->Wait();
  ASSERT_TRUE(c.Start(forged_node));
  ExpectIdentical(c, "v");
  std::string out;
  EXPECT_EQ(QemuIo(uri, "-c 'read -P 0x11 0 1M' -c 'read -P 0x22 4M 1M'", &out), 0) << out;
}

}  // namespace
}  // namespace syncblock::testing
