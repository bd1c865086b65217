// End to end through the CSI driver as a CO would drive it: `syncblock local
// up` (three storage nodes and `syncblock csi --mode all`), the generated gRPC
// stubs on the plugin's unix socket, and real data through the node plugin's
// mounts and block devices (`syncblock fuse-export` + loop device) while a secondary replica
// is killed and brought back, and while the plugin itself is killed -9 and
// restarted.
//
// Needs root, /dev/fuse, loop devices, losetup, mkfs.ext4/xfs;
// skipped where they are missing. The fixture (tests/support/
// csi_e2e_fixture.h) undoes every mount, loop device and FUSE server the tests
// leave, even when one failed. Product failures show the plugin's log
// (DIR/logs/csi.log) on stderr.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "csi/csi_constants.h"
#include "tests/support/csi_e2e_data.h"
#include "tests/support/csi_e2e_fixture.h"

namespace syncblock::csi {

void CsiE2eTest::MountVolumeSurvivesSecondaryLoss(const std::string& fs) {
  const VolumeCapability cap = MountCap(fs);
  ::csi::v1::Volume v = Create("e2e-" + fs, cap, 512 * kMiB, fs);
  const std::string id = v.volume_id();
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Get(v.volume_context(), kParamFsType), fs);
  google::protobuf::Map<std::string, std::string> context;
  grpc::Status s = ControllerPublish(id, cap, &context);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ASSERT_FALSE(Get(context, kPublishNbdUri).empty());

  const std::string staging = work_.Join("kubelet/staging/a/" + id);
  const std::string target = work_.Join("kubelet/pods/p1/volumes/" + id);
  const std::string manifest = work_.Join("sha256." + fs);
  ASSERT_NO_FATAL_FAILURE(StageAndPublish(v, cap, context, staging, target));
  EXPECT_EQ(MountFsType(target), fs);

  ASSERT_NO_FATAL_FAILURE(WriteRandomFiles(target, "before", 20, 1));
  ASSERT_NO_FATAL_FAILURE(RecordDigests(target, "before", manifest));

  const std::string secondary = Secondary(id);
  ASSERT_FALSE(secondary.empty());
  ASSERT_TRUE(cluster_->Kill(secondary));
  ASSERT_NO_FATAL_FAILURE(WriteRandomFiles(target, "after", 10, 2));
  ASSERT_NO_FATAL_FAILURE(RecordDigests(target, "after", manifest));
  // The writes went on without it: it has to catch up when it is back.
  EXPECT_NE(ReplicaState(id, secondary), "in_sync");

  ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id, staging, target));

  // A fresh staging path and target: nothing cached from the first attach.
  const std::string staging2 = work_.Join("kubelet/staging/b/" + id);
  const std::string target2 = work_.Join("kubelet/pods/p2/volumes/" + id);
  ASSERT_NO_FATAL_FAILURE(StageAndPublish(v, cap, context, staging2, target2));
  ExpectDigests(target2, manifest, 30);

  ASSERT_TRUE(cluster_->Start(secondary));
  ExpectReplicasIdentical(id);

  ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id, staging2, target2));
  ControllerUnpublishAndDelete(id);
  EXPECT_EQ(cluster_->CtlJson("volume list").dump().find("\"" + id + "\""), std::string::npos);
}

namespace {

TEST_F(CsiE2eTest, Ext4VolumeSurvivesSecondaryLossAndRestage) {
  MountVolumeSurvivesSecondaryLoss("ext4");
}

TEST_F(CsiE2eTest, XfsVolumeSurvivesSecondaryLossAndRestage) {
  MountVolumeSurvivesSecondaryLoss("xfs");
}

TEST_F(CsiE2eTest, BlockVolumeSurvivesSecondaryLossAndRestage) {
  const VolumeCapability cap = BlockCap();
  ::csi::v1::Volume v = Create("e2e-block", cap, 256 * kMiB, "");
  const std::string id = v.volume_id();
  ASSERT_FALSE(id.empty());
  google::protobuf::Map<std::string, std::string> context;
  grpc::Status s = ControllerPublish(id, cap, &context);
  ASSERT_TRUE(s.ok()) << Describe(s);

  const std::string staging = work_.Join("kubelet/staging/a/" + id);
  const std::string target = work_.Join("kubelet/plugins/volumeDevices/p1/" + id);
  ASSERT_NO_FATAL_FAILURE(StageAndPublish(v, cap, context, staging, target));
  struct stat st;
  ASSERT_EQ(stat(target.c_str(), &st), 0) << std::strerror(errno);
  ASSERT_TRUE(S_ISBLK(st.st_mode)) << target << " is not a block device";

  // Blocks spread over the device, the last one at its very end.
  std::vector<int64_t> offsets;
  for (int i = 0; i < 16; ++i) offsets.push_back(i * 16 * kMiB);
  offsets.push_back(255 * kMiB);
  for (size_t i = 0; i < offsets.size(); ++i) {
    ASSERT_NO_FATAL_FAILURE(WriteDeviceBlock(target, offsets[i], 100 + i));
  }

  const std::string secondary = Secondary(id);
  ASSERT_FALSE(secondary.empty());
  ASSERT_TRUE(cluster_->Kill(secondary));
  // Half of them overwritten, and new blocks between them.
  for (size_t i = 0; i < offsets.size(); i += 2) {
    ASSERT_NO_FATAL_FAILURE(WriteDeviceBlock(target, offsets[i], 200 + i));
  }
  for (int i = 0; i < 15; ++i) {
    ASSERT_NO_FATAL_FAILURE(WriteDeviceBlock(target, i * 16 * kMiB + 8 * kMiB, 300 + i));
  }
  EXPECT_NE(ReplicaState(id, secondary), "in_sync");

  ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id, staging, target));
  EXPECT_FALSE(std::filesystem::exists(target));

  const std::string staging2 = work_.Join("kubelet/staging/b/" + id);
  const std::string target2 = work_.Join("kubelet/plugins/volumeDevices/p2/" + id);
  ASSERT_NO_FATAL_FAILURE(StageAndPublish(v, cap, context, staging2, target2));
  for (size_t i = 0; i < offsets.size(); ++i) {
    ExpectDeviceBlock(target2, offsets[i], i % 2 == 0 ? 200 + i : 100 + i);
  }
  for (int i = 0; i < 15; ++i) ExpectDeviceBlock(target2, i * 16 * kMiB + 8 * kMiB, 300 + i);

  ASSERT_TRUE(cluster_->Start(secondary));
  ExpectReplicasIdentical(id);

  ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id, staging2, target2));
  ControllerUnpublishAndDelete(id);
}

TEST_F(CsiE2eTest, MountOutlivesPluginKillAndNewPluginTearsDown) {
  const VolumeCapability cap = MountCap("ext4");
  ::csi::v1::Volume v = Create("e2e-restart", cap, 256 * kMiB, "ext4");
  const std::string id = v.volume_id();
  ASSERT_FALSE(id.empty());
  google::protobuf::Map<std::string, std::string> context;
  grpc::Status s = ControllerPublish(id, cap, &context);
  ASSERT_TRUE(s.ok()) << Describe(s);
  const std::string staging = work_.Join("kubelet/staging/a/" + id);
  const std::string target = work_.Join("kubelet/pods/p1/volumes/" + id);
  const std::string manifest = work_.Join("sha256.restart");
  ASSERT_NO_FATAL_FAILURE(StageAndPublish(v, cap, context, staging, target));
  ASSERT_NO_FATAL_FAILURE(WriteRandomFiles(target, "before", 10, 3));
  ASSERT_NO_FATAL_FAILURE(RecordDigests(target, "before", manifest));

  ASSERT_NO_FATAL_FAILURE(RestartPlugin());

  // The mount never depended on the plugin process.
  ExpectDigests(target, manifest, 10);
  ASSERT_NO_FATAL_FAILURE(WriteRandomFiles(target, "after", 5, 4));
  ASSERT_NO_FATAL_FAILURE(RecordDigests(target, "after", manifest));
  ExpectDigests(target, manifest, 15);

  // The new plugin adopted the attachment: it tears it down.
  ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id, staging, target));
  EXPECT_TRUE(LoopsUnder(cluster_->dir()).empty());

  // What was written through the old mount is on the volume.
  const std::string staging2 = work_.Join("kubelet/staging/b/" + id);
  s = Stage(v, cap, context, staging2);
  ASSERT_TRUE(s.ok()) << Describe(s);
  ExpectDigests(staging2, manifest, 15);
  s = Unstage(id, staging2);
  EXPECT_TRUE(s.ok()) << Describe(s);
  ExpectNothingLeft();
  ControllerUnpublishAndDelete(id);
}

}  // namespace
}  // namespace syncblock::csi
