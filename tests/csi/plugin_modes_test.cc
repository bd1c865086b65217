// `syncblock csi` as a process: which services each --mode serves, readiness
// while no storage node answers, the stale socket left by a crash, bad flags,
// and a clean stop on SIGTERM. No storage nodes are started: the storage
// address points at a closed port.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "csi/proto/csi.grpc.pb.h"
#include "replication/security/certificates.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"
#include "tests/support/tls_command_line.h"

namespace syncblock::csi {
namespace {

using syncblock::testing::FreePort;
using syncblock::testing::RunCommand;
using syncblock::testing::Subprocess;
using syncblock::testing::SyncblockBinary;
using syncblock::testing::TempDir;
using syncblock::testing::WaitFor;

// What a crashed plugin leaves: a socket file nobody listens on.
void MakeStaleSocket(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << std::strerror(errno);
  close(fd);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  ASSERT_TRUE(S_ISSOCK(st.st_mode));
}

class PluginModesTest : public ::testing::Test {
 protected:
  std::unique_ptr<Subprocess> Start(const std::string& mode,
                                    const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {SyncblockBinary(), "csi",
                                     "--mode",          mode,
                                     "--endpoint",      "unix://" + socket_,
                                     "--storage-nodes", absl::StrCat("127.0.0.1:", FreePort()),
                                     "--log-level",     "debug"};
    if (mode != "controller") {
      argv.insert(argv.end(),
                  {"--node-id", "node-1", "--attach", "fuse", "--state-dir", dir_.Join("state")});
    } else {
      argv.insert(argv.end(), {"--known-nodes", "node-1,node-2"});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv = syncblock::testing::WithTls(std::move(argv), Tls(mode));
    auto p = std::make_unique<Subprocess>(argv, dir_.Join(mode + ".log"));
    // A channel made before the socket exists backs off for seconds.
    // A stale socket may be there already, so wait for the plugin to say so.
    EXPECT_TRUE(WaitFor([&] {
      return syncblock::testing::ReadFile(dir_.Join(mode + ".log")).find("serving") !=
             std::string::npos;
    }));
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    identity_ = ::csi::v1::Identity::NewStub(channel_);
    bool up = WaitFor([&] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      ::csi::v1::GetPluginInfoResponse resp;
      return identity_->GetPluginInfo(&ctx, {}, &resp).ok();
    });
    EXPECT_TRUE(up) << syncblock::testing::ReadFile(dir_.Join(mode + ".log"));
    return p;
  }

  // Stops the plugin with SIGTERM, as the kubelet does. The client's
  // connection goes first: gRPC lets open connections drain up to the
  // plugin's shutdown deadline.
  int Stop(Subprocess* plugin) {
    identity_.reset();
    channel_.reset();
    plugin->Kill(SIGTERM);
    return plugin->Wait();
  }

  bool Advertises(::csi::v1::PluginCapability::Service::Type type) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    ::csi::v1::GetPluginCapabilitiesResponse caps;
    EXPECT_TRUE(identity_->GetPluginCapabilities(&ctx, {}, &caps).ok());
    for (const auto& c : caps.capabilities()) {
      if (c.has_service() && c.service().type() == type) return true;
    }
    return false;
  }

  template <typename Fn>
  grpc::StatusCode CodeOf(Fn call) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return call(&ctx).error_code();
  }

  // The plugin's certificate: role node for --mode node, controller else.
  syncblock::security::TlsFiles Tls(const std::string& mode) {
    return mode == "node" ? pki_.Issue("node-1", syncblock::security::kRoleNode)
                          : pki_.Issue("controller", syncblock::security::kRoleController);
  }

  TempDir dir_;
  syncblock::testing::TestPki pki_{dir_.path()};
  std::string socket_ = dir_.Join("plugin/csi.sock");
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<::csi::v1::Identity::Stub> identity_;
};

TEST_F(PluginModesTest, ControllerModeWithoutStorageNodes) {
  mkdir(dir_.Join("plugin").c_str(), 0755);
  MakeStaleSocket(socket_);
  auto plugin = Start("controller");

  grpc::ClientContext probe_ctx;
  ::csi::v1::ProbeResponse probe;
  ASSERT_TRUE(identity_->Probe(&probe_ctx, {}, &probe).ok());
  ASSERT_TRUE(probe.has_ready());
  EXPECT_FALSE(probe.ready().value());

  auto controller = ::csi::v1::Controller::NewStub(channel_);
  ::csi::v1::CreateVolumeRequest create;
  create.set_name("pvc-1");
  auto* cap = create.add_volume_capabilities();
  cap->mutable_block();
  cap->mutable_access_mode()->set_mode(::csi::v1::VolumeCapability::AccessMode::SINGLE_NODE_WRITER);
  ::csi::v1::CreateVolumeResponse created;
  EXPECT_EQ(
      CodeOf([&](grpc::ClientContext* c) { return controller->CreateVolume(c, create, &created); }),
      grpc::StatusCode::UNAVAILABLE);
  ::csi::v1::DeleteVolumeRequest del;
  del.set_volume_id("pvc-1");
  ::csi::v1::DeleteVolumeResponse deleted;
  EXPECT_EQ(
      CodeOf([&](grpc::ClientContext* c) { return controller->DeleteVolume(c, del, &deleted); }),
      grpc::StatusCode::UNAVAILABLE);

  auto node = ::csi::v1::Node::NewStub(channel_);
  ::csi::v1::NodeGetInfoResponse info;
  EXPECT_EQ(CodeOf([&](grpc::ClientContext* c) { return node->NodeGetInfo(c, {}, &info); }),
            grpc::StatusCode::UNIMPLEMENTED);
  // The controller serves changed-block tracking (for the sidecar of its pod)
  // and says so.
  EXPECT_TRUE(Advertises(::csi::v1::PluginCapability::Service::SNAPSHOT_METADATA_SERVICE));
  // And group snapshots, for the csi-snapshotter beside it.
  EXPECT_TRUE(Advertises(::csi::v1::PluginCapability::Service::GROUP_CONTROLLER_SERVICE));
  auto groups = ::csi::v1::GroupController::NewStub(channel_);
  ::csi::v1::GroupControllerGetCapabilitiesResponse group_caps;
  EXPECT_EQ(CodeOf([&](grpc::ClientContext* c) {
              return groups->GroupControllerGetCapabilities(c, {}, &group_caps);
            }),
            grpc::StatusCode::OK);
  auto cbt = ::csi::v1::SnapshotMetadata::NewStub(channel_);
  ::csi::v1::GetMetadataDeltaRequest delta;
  EXPECT_EQ(CodeOf([&](grpc::ClientContext* c) {
              auto reader = cbt->GetMetadataDelta(c, delta);
              ::csi::v1::GetMetadataDeltaResponse r;
              while (reader->Read(&r)) {
              }
              return reader->Finish();
            }),
            grpc::StatusCode::INVALID_ARGUMENT);

  cbt.reset();
  controller.reset();
  node.reset();
  EXPECT_EQ(Stop(plugin.get()), 0);
  struct stat st;
  EXPECT_NE(stat(socket_.c_str(), &st), 0) << "socket left behind";
}

TEST_F(PluginModesTest, NodeModeServesNoController) {
  auto plugin = Start("node");
  auto controller = ::csi::v1::Controller::NewStub(channel_);
  ::csi::v1::ControllerGetCapabilitiesResponse caps;
  EXPECT_EQ(CodeOf([&](grpc::ClientContext* c) {
              return controller->ControllerGetCapabilities(c, {}, &caps);
            }),
            grpc::StatusCode::UNIMPLEMENTED);
  auto node = ::csi::v1::Node::NewStub(channel_);
  ::csi::v1::NodeGetInfoResponse info;
  EXPECT_EQ(CodeOf([&](grpc::ClientContext* c) { return node->NodeGetInfo(c, {}, &info); }),
            grpc::StatusCode::OK);
  EXPECT_EQ(info.node_id(), "node-1");
  // The fuse attach path's limit (node_service.h, kFuseMaxVolumes).
  EXPECT_EQ(info.max_volumes_per_node(), 128);
  EXPECT_FALSE(Advertises(::csi::v1::PluginCapability::Service::SNAPSHOT_METADATA_SERVICE));
  EXPECT_FALSE(Advertises(::csi::v1::PluginCapability::Service::GROUP_CONTROLLER_SERVICE));
  auto groups = ::csi::v1::GroupController::NewStub(channel_);
  ::csi::v1::GroupControllerGetCapabilitiesResponse group_caps;
  EXPECT_EQ(CodeOf([&](grpc::ClientContext* c) {
              return groups->GroupControllerGetCapabilities(c, {}, &group_caps);
            }),
            grpc::StatusCode::UNIMPLEMENTED);
  auto cbt = ::csi::v1::SnapshotMetadata::NewStub(channel_);
  ::csi::v1::GetMetadataAllocatedRequest allocated;
  EXPECT_EQ(CodeOf([&](grpc::ClientContext* c) {
              auto reader = cbt->GetMetadataAllocated(c, allocated);
              ::csi::v1::GetMetadataAllocatedResponse r;
              while (reader->Read(&r)) {
              }
              return reader->Finish();
            }),
            grpc::StatusCode::UNIMPLEMENTED);
  cbt.reset();
  controller.reset();
  node.reset();
  EXPECT_EQ(Stop(plugin.get()), 0);
}

TEST_F(PluginModesTest, MaxVolumesPerNodeIsAFlag) {
  auto plugin = Start("node", {"--max-volumes", "7"});
  auto node = ::csi::v1::Node::NewStub(channel_);
  ::csi::v1::NodeGetInfoResponse info;
  ASSERT_EQ(CodeOf([&](grpc::ClientContext* c) { return node->NodeGetInfo(c, {}, &info); }),
            grpc::StatusCode::OK);
  EXPECT_EQ(info.max_volumes_per_node(), 7);
  node.reset();
  EXPECT_EQ(Stop(plugin.get()), 0);
}

TEST_F(PluginModesTest, BadFlagsAndPathsAreRefused) {
  std::string bin = SyncblockBinary();
  std::string tls = syncblock::testing::TlsFlagString(Tls("controller"));
  std::string common =
      absl::StrCat(" --storage-nodes 127.0.0.1:", FreePort(), " --known-nodes node-1", tls);
  EXPECT_EQ(RunCommand(bin + " csi --mode bogus --endpoint unix://" + socket_ + common).exit_code,
            2);
  EXPECT_EQ(
      RunCommand(bin + " csi --mode controller --endpoint tcp://127.0.0.1:1" + common).exit_code,
      2);
  EXPECT_EQ(RunCommand(bin + " csi --mode node --endpoint unix://" + socket_ + common).exit_code, 2)
      << "node mode needs --node-id";
  EXPECT_EQ(RunCommand(bin + " csi --mode controller --endpoint unix://" + socket_ +
                       " --storage-nodes nohostport")
                .exit_code,
            2);
  EXPECT_EQ(RunCommand(bin + " csi --mode controller --endpoint unix://" + socket_ + common +
                       " --no-such-flag 1")
                .exit_code,
            2);
  for (const char* bad : {"0", "-3", "many"}) {
    EXPECT_EQ(RunCommand(bin + " csi --mode node --node-id n1 --endpoint unix://" + socket_ +
                         common + " --max-volumes " + bad)
                  .exit_code,
              2)
        << "--max-volumes " << bad;
  }
  // Outside Kubernetes a controller must be told which nodes exist (it answers
  // NOT_FOUND for the others); `--mode all` knows its own node.
  auto no_nodes = RunCommand("env -u KUBERNETES_SERVICE_HOST " + bin +
                             " csi --mode controller --endpoint unix://" + socket_ +
                             absl::StrCat(" --storage-nodes 127.0.0.1:", FreePort(), tls));
  EXPECT_EQ(no_nodes.exit_code, 2) << no_nodes.output;
  EXPECT_TRUE(absl::StrContains(no_nodes.output, "--known-nodes")) << no_nodes.output;
  // A regular file where the socket goes is not ours to remove.
  std::string file = dir_.Join("not-a-socket");
  syncblock::testing::WriteFile(file, "data");
  auto r = RunCommand(bin + " csi --mode controller --endpoint unix://" + file + common);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_EQ(syncblock::testing::ReadFile(file), "data");
}

}  // namespace
}  // namespace syncblock::csi
