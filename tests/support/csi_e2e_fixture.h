// The fixture of the CSI end-to-end tests (tests/integration/
// csi_e2e_test.cc): `syncblock local up` with three storage nodes and
// `syncblock csi --mode all`, gRPC stubs on the plugin's unix socket, one
// method per CSI call the tests make, `ctl` queries on replicas, and a plugin
// restart (kill -9, then the same command line as `local up` used).
//
// The destructor kills the plugin(s) first, then undoes every mount, loop
// device and FUSE server under the test's directories (the cluster's, where the
// plugin keeps its attachments, and the test's own, where the staging and
// target paths are) before the cluster goes, even when a test failed.
//
// Thread-safety: one test thread.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "csi/csi_constants.h"
#include "csi/proto/csi.grpc.pb.h"
#include "tests/csi/node_test_cleanup.h"
#include "tests/support/csi_e2e_data.h"
#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {

class CsiE2eTest : public ::testing::Test {
 public:
  using Controller = ::csi::v1::Controller;
  using Node = ::csi::v1::Node;
  using VolumeCapability = ::csi::v1::VolumeCapability;
  using json = nlohmann::json;
  using LocalCluster = testing::LocalCluster;
  using Subprocess = testing::Subprocess;
  using TempDir = testing::TempDir;

 protected:
  ~CsiE2eTest() override {
    // The plugins first, so that nothing re-attaches while we clean up.
    restarted_csi_.reset();
    if (original_csi_pid_ > 0 && Alive(original_csi_pid_) &&
        absl::StrContains(testing::ReadFile(absl::StrCat("/proc/", original_csi_pid_, "/cmdline")),
                          socket_)) {
      kill(original_csi_pid_, SIGKILL);
    }
    if (cluster_ != nullptr) {
      if (HasFailure()) {
        std::fprintf(stderr, "----- csi.log (tail) -----\n%s\n",
                     testing::Tail(cluster_->dir() + "/logs/csi.log").c_str());
        std::fprintf(stderr, "----- csi-restarted.log (tail) -----\n%s\n",
                     testing::Tail(cluster_->dir() + "/logs/csi-restarted.log").c_str());
      }
      CleanUpNodeArtifacts(work_.path());
      CleanUpNodeArtifacts(cluster_->dir());
    }
    cluster_.reset();
  }

  void SetUp() override {
    if (!CanRun()) {
      GTEST_SKIP() << "needs root, /dev/fuse, loop devices, losetup, mkfs.ext4/xfs";
    }
    // A short IO timeout: writes after a replica is killed wait for it once.
    cluster_ = std::make_unique<LocalCluster>(3, "--require-csi --io-timeout-ms 5000");
    ASSERT_TRUE(cluster_->ok()) << cluster_->up_output();
    json file = json::parse(testing::ReadFile(cluster_->dir() + "/cluster.json"), nullptr,
                            /*allow_exceptions=*/false);
    ASSERT_TRUE(file.is_object() && file.contains("csi") && file["csi"].is_object())
        << testing::ReadFile(cluster_->dir() + "/cluster.json");
    const json& csi = file["csi"];
    ASSERT_EQ(csi.value("state", ""), "running") << csi.dump();
    original_csi_pid_ = csi.value("pid", 0);
    csi_args_ = csi.value("args", std::vector<std::string>{});
    std::string endpoint = csi.value("node", "");
    ASSERT_TRUE(absl::StartsWith(endpoint, "unix://")) << endpoint;
    ASSERT_EQ(csi.value("controller", ""), endpoint) << "mode all serves both on one socket";
    socket_ = std::string(absl::StripPrefix(endpoint, "unix://"));
    Connect();
    ::csi::v1::NodeGetInfoResponse info;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    grpc::Status s = node_->NodeGetInfo(&ctx, {}, &info);
    ASSERT_TRUE(s.ok()) << Describe(s);
    node_id_ = info.node_id();
    ASSERT_FALSE(node_id_.empty());
    EXPECT_EQ(node_id_, csi.value("node_id", ""));
  }

  static bool Alive(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    size_t paren = line.rfind(')');
    return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
  }

  void Connect() {
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    controller_ = Controller::NewStub(channel_);
    node_ = Node::NewStub(channel_);
  }

  template <typename Stub, typename Req, typename Resp>
  static grpc::Status Call(Stub* stub,
                           grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                           const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    return (stub->*method)(&ctx, req, resp);
  }

  // CreateVolume with 3 replicas; the volume, or an empty one after a failure.
  ::csi::v1::Volume Create(const std::string& name, const VolumeCapability& cap, int64_t bytes,
                           const std::string& fs) {
    ::csi::v1::CreateVolumeRequest req;
    req.set_name(name);
    *req.add_volume_capabilities() = cap;
    req.mutable_capacity_range()->set_required_bytes(bytes);
    (*req.mutable_parameters())[kParamReplicas] = "3";
    if (!fs.empty()) (*req.mutable_parameters())[kParamFsType] = fs;
    ::csi::v1::CreateVolumeResponse resp;
    grpc::Status s = Call(controller_.get(), &Controller::Stub::CreateVolume, req, &resp);
    EXPECT_TRUE(s.ok()) << Describe(s);
    EXPECT_GE(resp.volume().capacity_bytes(), bytes);
    return resp.volume();
  }

  grpc::Status ControllerPublish(const std::string& id, const VolumeCapability& cap,
                                 google::protobuf::Map<std::string, std::string>* context) {
    ::csi::v1::ControllerPublishVolumeRequest req;
    req.set_volume_id(id);
    req.set_node_id(node_id_);
    *req.mutable_volume_capability() = cap;
    ::csi::v1::ControllerPublishVolumeResponse resp;
    grpc::Status s =
        Call(controller_.get(), &Controller::Stub::ControllerPublishVolume, req, &resp);
    *context = resp.publish_context();
    return s;
  }

  grpc::Status ControllerUnpublish(const std::string& id) {
    ::csi::v1::ControllerUnpublishVolumeRequest req;
    req.set_volume_id(id);
    req.set_node_id(node_id_);
    ::csi::v1::ControllerUnpublishVolumeResponse resp;
    return Call(controller_.get(), &Controller::Stub::ControllerUnpublishVolume, req, &resp);
  }

  grpc::Status Delete(const std::string& id) {
    ::csi::v1::DeleteVolumeRequest req;
    req.set_volume_id(id);
    ::csi::v1::DeleteVolumeResponse resp;
    return Call(controller_.get(), &Controller::Stub::DeleteVolume, req, &resp);
  }

  grpc::Status Stage(const ::csi::v1::Volume& v, const VolumeCapability& cap,
                     const google::protobuf::Map<std::string, std::string>& context,
                     const std::string& staging) {
    // The CO makes the staging directory.
    std::filesystem::create_directories(staging);
    ::csi::v1::NodeStageVolumeRequest req;
    req.set_volume_id(v.volume_id());
    req.set_staging_target_path(staging);
    *req.mutable_volume_capability() = cap;
    *req.mutable_publish_context() = context;
    *req.mutable_volume_context() = v.volume_context();
    ::csi::v1::NodeStageVolumeResponse resp;
    return Call(node_.get(), &Node::Stub::NodeStageVolume, req, &resp);
  }

  grpc::Status Unstage(const std::string& id, const std::string& staging) {
    ::csi::v1::NodeUnstageVolumeRequest req;
    req.set_volume_id(id);
    req.set_staging_target_path(staging);
    ::csi::v1::NodeUnstageVolumeResponse resp;
    return Call(node_.get(), &Node::Stub::NodeUnstageVolume, req, &resp);
  }

  grpc::Status Publish(const ::csi::v1::Volume& v, const VolumeCapability& cap,
                       const google::protobuf::Map<std::string, std::string>& context,
                       const std::string& staging, const std::string& target) {
    // The CO makes the target's parent; the plugin makes the target.
    std::filesystem::create_directories(std::filesystem::path(target).parent_path());
    ::csi::v1::NodePublishVolumeRequest req;
    req.set_volume_id(v.volume_id());
    req.set_staging_target_path(staging);
    req.set_target_path(target);
    *req.mutable_volume_capability() = cap;
    *req.mutable_publish_context() = context;
    *req.mutable_volume_context() = v.volume_context();
    ::csi::v1::NodePublishVolumeResponse resp;
    return Call(node_.get(), &Node::Stub::NodePublishVolume, req, &resp);
  }

  grpc::Status Unpublish(const std::string& id, const std::string& target) {
    ::csi::v1::NodeUnpublishVolumeRequest req;
    req.set_volume_id(id);
    req.set_target_path(target);
    ::csi::v1::NodeUnpublishVolumeResponse resp;
    return Call(node_.get(), &Node::Stub::NodeUnpublishVolume, req, &resp);
  }

  // NodeStageVolume at `staging`, then NodePublishVolume at `target`: the
  // volume as a pod sees it. Fatal on failure (wrap in ASSERT_NO_FATAL_FAILURE).
  void StageAndPublish(const ::csi::v1::Volume& v, const VolumeCapability& cap,
                       const google::protobuf::Map<std::string, std::string>& context,
                       const std::string& staging, const std::string& target) {
    grpc::Status s = Stage(v, cap, context, staging);
    ASSERT_TRUE(s.ok()) << Describe(s);
    s = Publish(v, cap, context, staging, target);
    ASSERT_TRUE(s.ok()) << Describe(s);
  }

  // NodeUnpublishVolume, NodeUnstageVolume, then nothing of the attachment
  // is left on the node. Fatal on failure (wrap in ASSERT_NO_FATAL_FAILURE).
  void UnpublishAndUnstage(const std::string& id, const std::string& staging,
                           const std::string& target) {
    grpc::Status s = Unpublish(id, target);
    ASSERT_TRUE(s.ok()) << Describe(s);
    s = Unstage(id, staging);
    ASSERT_TRUE(s.ok()) << Describe(s);
    ExpectNothingLeft();
  }

  // The end of a volume's life: ControllerUnpublishVolume, DeleteVolume.
  void ControllerUnpublishAndDelete(const std::string& id) {
    grpc::Status s = ControllerUnpublish(id);
    EXPECT_TRUE(s.ok()) << Describe(s);
    s = Delete(id);
    EXPECT_TRUE(s.ok()) << Describe(s);
  }

  // A replica's node that is not the volume's primary.
  std::string Secondary(const std::string& id) {
    json v = cluster_->CtlJson("volume show " + id);
    if (!v.is_object()) return "";
    std::string primary = v.value("primary", "");
    EXPECT_FALSE(primary.empty()) << v.dump();
    for (const auto& r : v.value("replicas", json::array())) {
      std::string node = r.value("node", "");
      if (!node.empty() && node != primary) return node;
    }
    ADD_FAILURE() << "no secondary replica: " << v.dump();
    return "";
  }

  // What `ctl volume show` says of the replica on `node`.
  std::string ReplicaState(const std::string& id, const std::string& node) {
    json v = cluster_->CtlJson("volume show " + id);
    if (!v.is_object()) return "";
    for (const auto& r : v.value("replicas", json::array())) {
      if (r.value("node", "") == node) return r.value("state", "");
    }
    return "";
  }

  // Waits for every replica in sync, then `ctl verify` says identical.
  void ExpectReplicasIdentical(const std::string& id) {
    ASSERT_TRUE(cluster_->WaitInSync(id)) << cluster_->Ctl("volume show " + id).output;
    json verify = cluster_->CtlJson("verify " + id);
    ASSERT_TRUE(verify.is_object()) << cluster_->Ctl("verify " + id).output;
    EXPECT_TRUE(verify.value("identical", false)) << verify.dump();
    EXPECT_EQ(verify.value("differing_regions", json::array()).size(), 0u) << verify.dump();
  }

  void ExpectNothingLeft() {
    EXPECT_TRUE(MountsUnder(work_.path()).empty());
    EXPECT_TRUE(LoopsUnder(cluster_->dir()).empty());
    EXPECT_TRUE(MountsUnder(cluster_->dir()).empty());
  }

  // Kills the running plugin with SIGKILL and starts it again, exactly as
  // `local up` did, until it answers on the same socket.
  void RestartPlugin() {
    ASSERT_GT(original_csi_pid_, 0);
    ASSERT_FALSE(csi_args_.empty());
    ASSERT_EQ(kill(original_csi_pid_, SIGKILL), 0) << std::strerror(errno);
    ASSERT_TRUE(testing::WaitFor([&] { return !Alive(original_csi_pid_); }));
    original_csi_pid_ = 0;  // gone: the number may be reused
    restarted_csi_ =
        std::make_unique<Subprocess>(csi_args_, cluster_->dir() + "/logs/csi-restarted.log");
    Connect();
    bool up = testing::WaitFor(
        [&] {
          if (!restarted_csi_->Running()) return true;  // reported below
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
          ::csi::v1::NodeGetInfoResponse info;
          return node_->NodeGetInfo(&ctx, {}, &info).ok() && info.node_id() == node_id_;
        },
        std::chrono::seconds(60));
    ASSERT_TRUE(up && restarted_csi_->Running())
        << "the restarted plugin does not answer\n"
        << testing::Tail(cluster_->dir() + "/logs/csi-restarted.log");
  }

  // Create .. Delete of one filesystem volume with a secondary killed and
  // restarted on the way (csi_e2e_test.cc).
  void MountVolumeSurvivesSecondaryLoss(const std::string& fs);

  TempDir work_;
  std::unique_ptr<LocalCluster> cluster_;
  std::unique_ptr<Subprocess> restarted_csi_;
  pid_t original_csi_pid_ = 0;
  std::vector<std::string> csi_args_;
  std::string socket_;
  std::string node_id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Controller::Stub> controller_;
  std::unique_ptr<Node::Stub> node_;
};

}  // namespace syncblock::csi
