// The Node service's logic against fakes: the spec's argument checks and
// codes, stage/publish state, idempotent retries, the in-flight guard, and
// re-adoption of recorded attachments by a restarted plugin.
#include "csi/node/node_service.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "csi/csi_constants.h"
#include "csi/node/attachment_store.h"
#include "tests/csi/node_fakes.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {
namespace {

using ::csi::v1::VolumeCapability;
using Mode = VolumeCapability::AccessMode;

VolumeCapability MountCap(const std::string& fs = "", Mode::Mode mode = Mode::SINGLE_NODE_WRITER) {
  VolumeCapability cap;
  cap.mutable_mount()->set_fs_type(fs);
  cap.mutable_access_mode()->set_mode(mode);
  return cap;
}

VolumeCapability BlockCap(Mode::Mode mode = Mode::MULTI_NODE_MULTI_WRITER) {
  VolumeCapability cap;
  cap.mutable_block();
  cap.mutable_access_mode()->set_mode(mode);
  return cap;
}

class NodeServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Restart(); }

  void Restart() {
    service_.reset();
    NodeServiceOptions o;
    o.node_id = "node-a";
    o.zone = "zone-1";
    o.hostname = "host-a";
    o.state_dir = dir_.Join("state");
    o.max_volumes = max_volumes_;
    o.health_interval = std::chrono::milliseconds(0);
    o.mounter = mounter_;
    o.attacher = attacher_;
    o.resolver = resolver_;
    o.unlock_volume = unlock_volume_;
    auto s = MakeNodeService(o);
    ASSERT_TRUE(s.ok()) << s.status();
    service_ = std::move(*s);
  }

  grpc::StatusCode Stage(const std::string& vol, const VolumeCapability& cap,
                         const std::string& staging = "") {
    ::csi::v1::NodeStageVolumeRequest req;
    req.set_volume_id(vol);
    req.set_staging_target_path(staging.empty() ? Staging(vol) : staging);
    *req.mutable_volume_capability() = cap;
    (*req.mutable_publish_context())[kPublishNbdUri] = "nbd://hint:1/" + vol;
    ::csi::v1::NodeStageVolumeResponse resp;
    return service_->NodeStageVolume(nullptr, &req, &resp).error_code();
  }
  grpc::StatusCode Unstage(const std::string& vol, const std::string& staging = "") {
    ::csi::v1::NodeUnstageVolumeRequest req;
    req.set_volume_id(vol);
    req.set_staging_target_path(staging.empty() ? Staging(vol) : staging);
    ::csi::v1::NodeUnstageVolumeResponse resp;
    return service_->NodeUnstageVolume(nullptr, &req, &resp).error_code();
  }
  grpc::StatusCode Publish(const std::string& vol, const VolumeCapability& cap,
                           const std::string& target, bool readonly = false) {
    ::csi::v1::NodePublishVolumeRequest req;
    req.set_volume_id(vol);
    req.set_staging_target_path(Staging(vol));
    req.set_target_path(target);
    req.set_readonly(readonly);
    *req.mutable_volume_capability() = cap;
    ::csi::v1::NodePublishVolumeResponse resp;
    return service_->NodePublishVolume(nullptr, &req, &resp).error_code();
  }
  grpc::StatusCode Unpublish(const std::string& vol, const std::string& target) {
    ::csi::v1::NodeUnpublishVolumeRequest req;
    req.set_volume_id(vol);
    req.set_target_path(target);
    ::csi::v1::NodeUnpublishVolumeResponse resp;
    return service_->NodeUnpublishVolume(nullptr, &req, &resp).error_code();
  }
  std::string Staging(const std::string& vol) { return dir_.Join("staging/" + vol); }
  std::string Target(const std::string& name) { return dir_.Join("pods/" + name); }

  testing::TempDir dir_;
  int64_t max_volumes_ = 0;
  std::shared_ptr<FakeMounter> mounter_ = std::make_shared<FakeMounter>();
  std::shared_ptr<FakeAttacher> attacher_ = std::make_shared<FakeAttacher>(mounter_.get());
  std::shared_ptr<FakeResolver> resolver_ = std::make_shared<FakeResolver>();
  std::function<absl::Status(const std::string&, const std::string&)> unlock_volume_;
  std::unique_ptr<::csi::v1::Node::Service> service_;
};

TEST_F(NodeServiceTest, InfoAndCapabilities) {
  ::csi::v1::NodeGetInfoResponse info;
  ASSERT_TRUE(service_->NodeGetInfo(nullptr, nullptr, &info).ok());
  EXPECT_EQ(info.node_id(), "node-a");
  EXPECT_EQ(info.accessible_topology().segments().at(kTopologyZoneKey), "zone-1");
  EXPECT_EQ(info.accessible_topology().segments().at("kubernetes.io/hostname"), "host-a");

  ::csi::v1::NodeGetCapabilitiesResponse caps;
  ASSERT_TRUE(service_->NodeGetCapabilities(nullptr, nullptr, &caps).ok());
  std::set<int> types;
  for (const auto& c : caps.capabilities()) types.insert(c.rpc().type());
  using Rpc = ::csi::v1::NodeServiceCapability::RPC;
  EXPECT_EQ(types,
            (std::set<int>{Rpc::STAGE_UNSTAGE_VOLUME, Rpc::GET_VOLUME_STATS, Rpc::VOLUME_CONDITION,
                           Rpc::SINGLE_NODE_MULTI_WRITER, Rpc::EXPAND_VOLUME}));
}

TEST_F(NodeServiceTest, MissingArgumentsAreInvalid) {
  EXPECT_EQ(Stage("", MountCap()), grpc::StatusCode::INVALID_ARGUMENT);
  {
    ::csi::v1::NodeStageVolumeRequest req;
    req.set_volume_id("v");
    *req.mutable_volume_capability() = MountCap();
    ::csi::v1::NodeStageVolumeResponse resp;
    EXPECT_EQ(service_->NodeStageVolume(nullptr, &req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    req.set_staging_target_path(Staging("v"));
    req.clear_volume_capability();
    EXPECT_EQ(service_->NodeStageVolume(nullptr, &req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(Stage("v", MountCap("btrfs")), grpc::StatusCode::INVALID_ARGUMENT);
  // A filesystem written from several nodes would be corrupted.
  EXPECT_EQ(Stage("v", MountCap("ext4", Mode::MULTI_NODE_MULTI_WRITER)),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Unstage("", Staging("v")), grpc::StatusCode::INVALID_ARGUMENT);
  {
    ::csi::v1::NodeUnstageVolumeRequest req;
    req.set_volume_id("v");
    ::csi::v1::NodeUnstageVolumeResponse resp;
    EXPECT_EQ(service_->NodeUnstageVolume(nullptr, &req, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(Publish("", MountCap(), Target("p")), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Publish("v", MountCap(), ""), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Unpublish("", Target("p")), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Unpublish("v", ""), grpc::StatusCode::INVALID_ARGUMENT);
  ::csi::v1::NodeGetVolumeStatsRequest sreq;
  ::csi::v1::NodeGetVolumeStatsResponse sresp;
  sreq.set_volume_id("v");
  EXPECT_EQ(service_->NodeGetVolumeStats(nullptr, &sreq, &sresp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // Nothing was attached by any of them.
  EXPECT_EQ(attacher_->attached_count(), 0u);
}

TEST_F(NodeServiceTest, StageMakesFilesystemOnceAndIsIdempotent) {
  ASSERT_EQ(Stage("v1", MountCap("xfs")), grpc::StatusCode::OK);
  auto m = mounter_->MountAt(Staging("v1"));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->fstype, "xfs");
  EXPECT_EQ(mounter_->mkfs_count(), 1);
  EXPECT_EQ(resolver_->last_hint(), "nbd://hint:1/v1");
  // The same call again: OK, nothing new.
  ASSERT_EQ(Stage("v1", MountCap("xfs")), grpc::StatusCode::OK);
  EXPECT_EQ(mounter_->mkfs_count(), 1);
  EXPECT_EQ(attacher_->attached_count(), 1u);
  // Same path, another capability: ALREADY_EXISTS; another path: refused.
  EXPECT_EQ(Stage("v1", BlockCap()), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Stage("v1", MountCap("xfs"), dir_.Join("elsewhere")),
            grpc::StatusCode::FAILED_PRECONDITION);

  ASSERT_EQ(Unstage("v1"), grpc::StatusCode::OK);
  EXPECT_FALSE(mounter_->MountAt(Staging("v1")).has_value());
  EXPECT_EQ(attacher_->attached_count(), 0u);
  EXPECT_EQ(Unstage("v1"), grpc::StatusCode::OK);  // already gone
}

TEST_F(NodeServiceTest, FsTypeComesFromVolumeContextWhenCapabilityHasNone) {
  ::csi::v1::NodeStageVolumeRequest req;
  req.set_volume_id("v2");
  req.set_staging_target_path(Staging("v2"));
  *req.mutable_volume_capability() = MountCap("");
  (*req.mutable_volume_context())[kParamFsType] = "xfs";
  ::csi::v1::NodeStageVolumeResponse resp;
  ASSERT_TRUE(service_->NodeStageVolume(nullptr, &req, &resp).ok());
  EXPECT_EQ(mounter_->MountAt(Staging("v2"))->fstype, "xfs");
}

TEST_F(NodeServiceTest, ExistingOtherFilesystemIsNeverFormatted) {
  mounter_->SetFilesystem("/dev/fake0", "xfs");
  EXPECT_EQ(Stage("v3", MountCap("ext4")), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(mounter_->mkfs_count(), 0);
  // The failed stage left nothing attached or recorded.
  EXPECT_EQ(attacher_->attached_count(), 0u);
  EXPECT_EQ(Publish("v3", MountCap("ext4"), Target("p")), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(NodeServiceTest, UnknownVolumeIsNotFound) {
  resolver_->MakeUnknown("ghost");
  EXPECT_EQ(Stage("ghost", MountCap()), grpc::StatusCode::NOT_FOUND);
  ::csi::v1::NodeGetVolumeStatsRequest req;
  req.set_volume_id("ghost");
  req.set_volume_path(dir_.path());
  ::csi::v1::NodeGetVolumeStatsResponse resp;
  EXPECT_EQ(service_->NodeGetVolumeStats(nullptr, &req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(NodeServiceTest, PublishNeedsStageAndHonoursReadonly) {
  EXPECT_EQ(Publish("v4", MountCap(), Target("a")), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_EQ(Stage("v4", MountCap()), grpc::StatusCode::OK);
  ASSERT_EQ(Publish("v4", MountCap(), Target("a"), /*readonly=*/true), grpc::StatusCode::OK);
  auto m = mounter_->MountAt(Target("a"));
  ASSERT_TRUE(m.has_value());
  EXPECT_TRUE(m->bind);
  EXPECT_TRUE(m->readonly);
  EXPECT_EQ(m->source, Staging("v4"));
  EXPECT_TRUE(std::filesystem::is_directory(Target("a")));
  EXPECT_EQ(Publish("v4", MountCap(), Target("a"), true), grpc::StatusCode::OK);  // retry
  EXPECT_EQ(Publish("v4", BlockCap(Mode::SINGLE_NODE_WRITER), Target("b")),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_EQ(Publish("v4", MountCap(), Target("c")), grpc::StatusCode::OK);
  EXPECT_FALSE(mounter_->MountAt(Target("c"))->readonly);

  // Unstage while published is refused; after unpublish it works.
  EXPECT_EQ(Unstage("v4"), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_EQ(Unpublish("v4", Target("a")), grpc::StatusCode::OK);
  ASSERT_EQ(Unpublish("v4", Target("c")), grpc::StatusCode::OK);
  EXPECT_FALSE(std::filesystem::exists(Target("a")));
  EXPECT_EQ(Unpublish("v4", Target("a")), grpc::StatusCode::OK);  // idempotent
  ASSERT_EQ(Unstage("v4"), grpc::StatusCode::OK);
  EXPECT_EQ(mounter_->mount_count(), 0u);
}

TEST_F(NodeServiceTest, BlockVolumePublishesTheDeviceOnAFile) {
  ASSERT_EQ(Stage("b1", BlockCap()), grpc::StatusCode::OK);
  EXPECT_EQ(mounter_->mkfs_count(), 0);
  EXPECT_FALSE(mounter_->MountAt(Staging("b1")).has_value());
  ASSERT_EQ(Publish("b1", BlockCap(), Target("dev")), grpc::StatusCode::OK);
  auto m = mounter_->MountAt(Target("dev"));
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->source, "/dev/fake0");
  EXPECT_TRUE(std::filesystem::is_regular_file(Target("dev")));
  // A second pod on the same node (SINGLE_NODE_MULTI_WRITER / live migration).
  ASSERT_EQ(Publish("b1", BlockCap(), Target("dev2")), grpc::StatusCode::OK);

  ::csi::v1::NodeGetVolumeStatsRequest req;
  req.set_volume_id("b1");
  req.set_volume_path(Target("dev"));
  ::csi::v1::NodeGetVolumeStatsResponse resp;
  ASSERT_TRUE(service_->NodeGetVolumeStats(nullptr, &req, &resp).ok());
  EXPECT_FALSE(resp.volume_condition().abnormal());
  ASSERT_EQ(resp.usage_size(), 1);
  EXPECT_EQ(resp.usage(0).unit(), ::csi::v1::VolumeUsage::BYTES);
  EXPECT_EQ(resp.usage(0).total(), 1 << 20);  // the recorded size: no real device

  attacher_->Kill("/dev/fake0");
  ASSERT_TRUE(service_->NodeGetVolumeStats(nullptr, &req, &resp).ok());
  EXPECT_TRUE(resp.volume_condition().abnormal());
  EXPECT_NE(resp.volume_condition().message().find("dead"), std::string::npos);

  req.set_volume_path(dir_.Join("not-ours"));
  EXPECT_EQ(service_->NodeGetVolumeStats(nullptr, &req, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(NodeServiceTest, MountStatsComeFromTheFilesystem) {
  ASSERT_EQ(Stage("s1", MountCap()), grpc::StatusCode::OK);
  std::filesystem::create_directories(Staging("s1"));
  ::csi::v1::NodeGetVolumeStatsRequest req;
  req.set_volume_id("s1");
  req.set_volume_path(Staging("s1"));
  ::csi::v1::NodeGetVolumeStatsResponse resp;
  ASSERT_TRUE(service_->NodeGetVolumeStats(nullptr, &req, &resp).ok());
  ASSERT_EQ(resp.usage_size(), 2);
  EXPECT_GT(resp.usage(0).total(), 0);
  EXPECT_EQ(resp.usage(1).unit(), ::csi::v1::VolumeUsage::INODES);
}

TEST_F(NodeServiceTest, ConcurrentCallOnOneVolumeIsAborted) {
  attacher_->Hold(true);
  grpc::StatusCode first = grpc::StatusCode::UNKNOWN;
  std::thread t([&] { first = Stage("c1", MountCap()); });
  attacher_->WaitForAttachCalls(1);
  EXPECT_EQ(Stage("c1", MountCap()), grpc::StatusCode::ABORTED);
  EXPECT_EQ(Unstage("c1"), grpc::StatusCode::ABORTED);
  // Another volume is not held up.
  attacher_->Hold(false);
  t.join();
  EXPECT_EQ(first, grpc::StatusCode::OK);
  EXPECT_EQ(Stage("c2", MountCap()), grpc::StatusCode::OK);
}

TEST_F(NodeServiceTest, MaxVolumesIsEnforced) {
  max_volumes_ = 1;
  Restart();
  ASSERT_EQ(Stage("m1", BlockCap()), grpc::StatusCode::OK);
  EXPECT_EQ(Stage("m2", BlockCap()), grpc::StatusCode::RESOURCE_EXHAUSTED);
  ::csi::v1::NodeGetInfoResponse info;
  ASSERT_TRUE(service_->NodeGetInfo(nullptr, nullptr, &info).ok());
  EXPECT_EQ(info.max_volumes_per_node(), 1);
}

TEST_F(NodeServiceTest, RestartReadoptsAndRepairsDeadAttachments) {
  ASSERT_EQ(Stage("r1", MountCap()), grpc::StatusCode::OK);
  ASSERT_EQ(Publish("r1", MountCap(), Target("pod")), grpc::StatusCode::OK);
  ASSERT_EQ(Stage("r2", MountCap()), grpc::StatusCode::OK);
  // r1's device dies while the plugin is down; r2's survives.
  attacher_->Kill("/dev/fake0");
  Restart();
  EXPECT_EQ(attacher_->reconnects(), 1);
  // r1 now sits on a new device, mounted again at the same staging path, with
  // its publication bound again; the filesystem was not remade.
  auto staged = mounter_->MountAt(Staging("r1"));
  ASSERT_TRUE(staged.has_value());
  EXPECT_EQ(staged->source, "/dev/fake2");
  EXPECT_EQ(mounter_->MountAt(Target("pod"))->source, Staging("r1"));
  EXPECT_EQ(mounter_->mkfs_count(), 2);
  EXPECT_EQ(mounter_->MountAt(Staging("r2"))->source, "/dev/fake1");
  // The record followed: unpublish and unstage undo the new device.
  ASSERT_EQ(Unpublish("r1", Target("pod")), grpc::StatusCode::OK);
  ASSERT_EQ(Unstage("r1"), grpc::StatusCode::OK);
  ASSERT_EQ(Unstage("r2"), grpc::StatusCode::OK);
  EXPECT_EQ(attacher_->attached_count(), 0u);
}

// Issue 13 item 8: a reconnect that changes the device rebinds every target
// as it was published (its own readonly and per-mount flags), not with the
// stage's readonly and no flags; and a restarted plugin knows them from the
// record.
TEST_F(NodeServiceTest, ReconnectRestoresEachTargetsOwnPublishOptions) {
  ASSERT_EQ(Stage("po", MountCap()), grpc::StatusCode::OK);
  VolumeCapability locked = MountCap();
  for (const char* f : {"noexec", "nosuid", "nodev"}) locked.mutable_mount()->add_mount_flags(f);
  ASSERT_EQ(Publish("po", locked, Target("ro"), /*readonly=*/true), grpc::StatusCode::OK);
  ASSERT_EQ(Publish("po", MountCap(), Target("rw")), grpc::StatusCode::OK);
  const std::vector<std::string> flags = {"noexec", "nosuid", "nodev"};
  auto before_ro = mounter_->MountAt(Target("ro"));
  ASSERT_TRUE(before_ro.has_value());
  EXPECT_TRUE(before_ro->readonly);
  EXPECT_EQ(before_ro->options, flags);

  attacher_->Kill("/dev/fake0");
  Restart();  // re-adoption finds the dead device and reconnects it
  ASSERT_EQ(attacher_->reconnects(), 1);
  EXPECT_EQ(mounter_->MountAt(Staging("po"))->source, "/dev/fake1");
  auto ro = mounter_->MountAt(Target("ro"));
  ASSERT_TRUE(ro.has_value());
  EXPECT_EQ(ro->source, Staging("po"));
  EXPECT_TRUE(ro->readonly);
  EXPECT_EQ(ro->options, flags);
  auto rw = mounter_->MountAt(Target("rw"));
  ASSERT_TRUE(rw.has_value());
  EXPECT_FALSE(rw->readonly);
  EXPECT_TRUE(rw->options.empty());

  // Unpublishing forgets the target's options with the target.
  ASSERT_EQ(Unpublish("po", Target("ro")), grpc::StatusCode::OK);
  auto record = AttachmentStore(dir_.Join("state")).Load("po");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->publish_options.count(Target("ro")), 0u);
  EXPECT_EQ(record->publish_options.count(Target("rw")), 1u);
  ASSERT_EQ(Unpublish("po", Target("rw")), grpc::StatusCode::OK);
  ASSERT_EQ(Unstage("po"), grpc::StatusCode::OK);
}

TEST(NodeServiceFactoryTest, RejectsBadOptions) {
  testing::TempDir dir;
  NodeServiceOptions o;
  o.state_dir = dir.path();
  EXPECT_TRUE(absl::IsInvalidArgument(MakeNodeService(o).status()));
  o.node_id = "n";
  o.attach_mode = "iscsi";
  EXPECT_TRUE(absl::IsInvalidArgument(MakeNodeService(o).status()));
  EXPECT_EQ(ResolveAttachMode("fuse"), "fuse");
  // "auto" follows the kernel: nbd where the module is (or loads), else fuse.
  std::string mode = ResolveAttachMode("auto");
  EXPECT_EQ(mode, std::filesystem::exists("/sys/module/nbd") ? "nbd" : "fuse");
}

// Every replica of an encrypted volume restarted: its primary is locked and
// refuses the node. A node given the volume's secret at NodeStage unlocks
// it with that secret and goes on; without one, or with a wrong one, it
// says why, never quoting the secret.
TEST_F(NodeServiceTest, ALockedVolumeIsUnlockedWithItsNodeStageSecret) {
  std::vector<std::pair<std::string, std::string>> unlocks;
  unlock_volume_ = [&](const std::string& volume, const std::string& secret) {
    unlocks.emplace_back(volume, secret);
    if (secret != "the-secret") return absl::PermissionDeniedError("the key given is not its key");
    resolver_->Unlock(volume);
    return absl::OkStatus();
  };
  Restart();
  auto stage = [&](const std::string& vol, const std::string& secret, std::string* message) {
    ::csi::v1::NodeStageVolumeRequest req;
    req.set_volume_id(vol);
    req.set_staging_target_path(Staging(vol));
    *req.mutable_volume_capability() = BlockCap();
    (*req.mutable_publish_context())[kPublishNbdUri] = "nbds://hint:1/" + vol;
    if (!secret.empty()) (*req.mutable_secrets())[kSecretEncryptionPassphrase] = secret;
    ::csi::v1::NodeStageVolumeResponse resp;
    grpc::Status s = service_->NodeStageVolume(nullptr, &req, &resp);
    *message = s.error_message();
    return s.error_code();
  };
  std::string message;

  resolver_->Lock("no-secret");
  EXPECT_EQ(stage("no-secret", "", &message), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(message.find("is encrypted and locked"), std::string::npos) << message;
  EXPECT_TRUE(unlocks.empty());

  resolver_->Lock("wrong");
  EXPECT_EQ(stage("wrong", "not-it", &message), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(message.find("volume wrong is locked, and unlocking it with its NodeStage secret "
                         "failed: the key given is not its key"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("not-it"), std::string::npos) << "the secret in a message: " << message;

  resolver_->Lock("enc");
  EXPECT_EQ(stage("enc", "the-secret", &message), grpc::StatusCode::OK) << message;
  ASSERT_EQ(unlocks.size(), 2u);
  EXPECT_EQ(unlocks[1], std::make_pair(std::string("enc"), std::string("the-secret")));
  EXPECT_EQ(attacher_->attached_count(), 1u);

  // The attachment dies while every replica restarts again: healing it (the
  // health loop, or a retried NodeStage without secrets) unlocks the volume
  // with the secret kept since the stage.
  resolver_->Lock("enc");
  attacher_->Kill("/dev/fake0");
  EXPECT_EQ(stage("enc", "", &message), grpc::StatusCode::OK) << message;
  ASSERT_EQ(unlocks.size(), 3u);
  EXPECT_EQ(unlocks[2].second, "the-secret");
  EXPECT_EQ(attacher_->reconnects(), 1);

  // Unstaged: the secret is forgotten, a later lock is not undone with it.
  EXPECT_EQ(Unstage("enc"), grpc::StatusCode::OK);
  resolver_->Lock("enc");
  EXPECT_EQ(stage("enc", "", &message), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(unlocks.size(), 3u);
}

}  // namespace
}  // namespace syncblock::csi
