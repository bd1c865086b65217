// The node directories behind ControllerPublishVolume's NOT_FOUND for unknown
// nodes. The Kubernetes one is tested against an HTTPS server of ours that
// answers the CSINode list the way the API server does, over real TLS with a
// certificate made for the test.
#include "csi/node_directory.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {
namespace {

using syncblock::testing::RunCommand;
using syncblock::testing::TempDir;
using syncblock::testing::WriteFile;

TEST(StaticNodeDirectoryTest, KnowsTheListAndItsOwnNode) {
  auto dir = MakeNodeDirectory("node-a, node-b", "node-self");
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE((*dir)->Check("node-a").ok());
  EXPECT_TRUE((*dir)->Check("node-b").ok());
  EXPECT_TRUE((*dir)->Check("node-self").ok());
  EXPECT_EQ((*dir)->Check("node-c").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*dir)->Check("").code(), absl::StatusCode::kNotFound);
}

TEST(StaticNodeDirectoryTest, AControllerOutsideKubernetesMustBeToldTheNodes) {
  unsetenv("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(MakeNodeDirectory("", "").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeNodeDirectory("kubernetes", "node-self").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto own = MakeNodeDirectory("", "node-self");
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_TRUE((*own)->Check("node-self").ok());
  EXPECT_EQ((*own)->Check("node-other").code(), absl::StatusCode::kNotFound);
}

class KubernetesNodeDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto r = RunCommand(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        dir_.Join("key.pem") + " -out " + dir_.Join("cert.pem"));
    if (r.exit_code != 0) GTEST_SKIP() << "openssl cannot make a certificate: " << r.output;
    WriteFile(dir_.Join("token"), "test-token\n");
    server_ = std::make_unique<httplib::SSLServer>(dir_.Join("cert.pem").c_str(),
                                                   dir_.Join("key.pem").c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/apis/storage.k8s.io/v1/csinodes",
                 [this](const httplib::Request& req, httplib::Response& res) {
                   if (req.get_header_value("Authorization") != "Bearer test-token") {
                     res.status = 401;
                     return;
                   }
                   ++calls_;
                   res.set_content(body_, "application/json");
                 });
    port_ = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }

  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  KubernetesApi Api() {
    KubernetesApi api;
    api.host = "127.0.0.1";
    api.port = port_;
    api.token_path = dir_.Join("token");
    api.ca_path = dir_.Join("cert.pem");
    return api;
  }

  TempDir dir_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> calls_{0};
  // Two nodes: one runs our node plugin (node id "n1-id"), the other only
  // another driver.
  std::string body_ = R"({"kind":"CSINodeList","items":[
    {"metadata":{"name":"n1"},"spec":{"drivers":[
      {"name":"other.csi.example","nodeID":"n2-id"},
      {"name":"csi.syncblock.dev","nodeID":"n1-id","topologyKeys":["kubernetes.io/hostname"]}]}},
    {"metadata":{"name":"n2"},"spec":{"drivers":[{"name":"other.csi.example","nodeID":"n2-id"}]}},
    {"metadata":{"name":"n3"},"spec":{}}]})";
};

TEST_F(KubernetesNodeDirectoryTest, ANodeIsOneWhoseCsiNodeListsOurDriver) {
  KubernetesNodeDirectory dir(Api(), "csi.syncblock.dev");
  EXPECT_TRUE(dir.Check("n1-id").ok()) << dir.Check("n1-id");
  // Registered for another driver only, or not at all.
  EXPECT_EQ(dir.Check("n2-id").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(dir.Check("n3").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(dir.Check("no-such-node").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(calls_.load(), 4);
}

TEST_F(KubernetesNodeDirectoryTest, AnApiServerThatCannotBeReadIsUnavailable) {
  KubernetesApi wrong_token = Api();
  WriteFile(dir_.Join("other-token"), "nope");
  wrong_token.token_path = dir_.Join("other-token");
  EXPECT_EQ(KubernetesNodeDirectory(wrong_token, "csi.syncblock.dev").Check("n1-id").code(),
            absl::StatusCode::kUnavailable);
  KubernetesApi untrusted = Api();
  untrusted.ca_path = "/etc/ssl/certs/ca-certificates.crt";  // does not hold our test CA
  EXPECT_EQ(KubernetesNodeDirectory(untrusted, "csi.syncblock.dev").Check("n1-id").code(),
            absl::StatusCode::kUnavailable);
  body_ = "not json";
  EXPECT_EQ(KubernetesNodeDirectory(Api(), "csi.syncblock.dev").Check("n1-id").code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace syncblock::csi
