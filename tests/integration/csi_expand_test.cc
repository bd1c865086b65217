// Online expansion end to end through the CSI driver: `syncblock local up`
// (three storage nodes, `syncblock csi --mode all`), CreateVolume, stage and
// publish on the fuse attach path (`syncblock fuse-export` + loop device),
// then ControllerExpandVolume (the primary grows every replica) and
// NodeExpandVolume (the loop device's capacity, then resize2fs/xfs_growfs on
// the mounted filesystem) while a writer keeps writing files. `df` must show
// the new size, and every file written before, during and after must read
// back. A block volume: a new NBD connection (nbdinfo) sees the new size, and
// the published device file does after NodeExpandVolume.
//
// Needs root, /dev/fuse, loop devices, losetup, mkfs.ext4/xfs; skipped where
// they are missing. The fixture (tests/support/csi_e2e_fixture.h) undoes every
// mount, loop device and FUSE server the test leaves, even when it failed.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "csi/csi_constants.h"
#include "tests/support/csi_e2e_data.h"
#include "tests/support/csi_e2e_fixture.h"

namespace syncblock::csi {
namespace {

// Writes 1 MiB random files "live-N" (WriteRandomFiles, one at a time) until
// stopped, recording their digests, so the test can check them all after.
class LiveWriter {
 public:
  LiveWriter(std::string dir, std::string manifest)
      : dir_(std::move(dir)), manifest_(std::move(manifest)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        const std::string prefix = "live" + std::to_string(count_.load());
        WriteRandomFiles(dir_, prefix, 1, 1000 + count_);
        RecordDigests(dir_, prefix, manifest_);
        if (::testing::Test::HasFailure()) break;
        ++count_;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  ~LiveWriter() { Stop(); }
  int Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return count_;
  }
  int count() const { return count_; }

 private:
  std::string dir_, manifest_;
  std::atomic<bool> stop_{false};
  std::atomic<int> count_{0};
  std::thread thread_;
};

class CsiExpandTest : public CsiE2eTest {
 protected:
  grpc::Status ControllerExpand(const std::string& id, int64_t bytes,
                                ::csi::v1::ControllerExpandVolumeResponse* resp) {
    ::csi::v1::ControllerExpandVolumeRequest req;
    req.set_volume_id(id);
    req.mutable_capacity_range()->set_required_bytes(bytes);
    return Call(controller_.get(), &Controller::Stub::ControllerExpandVolume, req, resp);
  }
  grpc::Status NodeExpand(const std::string& id, const std::string& path, int64_t bytes,
                          const VolumeCapability& cap, ::csi::v1::NodeExpandVolumeResponse* resp) {
    ::csi::v1::NodeExpandVolumeRequest req;
    req.set_volume_id(id);
    req.set_volume_path(path);
    req.mutable_capacity_range()->set_required_bytes(bytes);
    *req.mutable_volume_capability() = cap;
    return Call(node_.get(), &Node::Stub::NodeExpandVolume, req, resp);
  }

  void MountVolumeGrowsOnline(const std::string& fs);
};

void CsiExpandTest::MountVolumeGrowsOnline(const std::string& fs) {
  if (fs == "ext4" && !HaveCapSysResource()) {
    GTEST_SKIP() << "resize2fs of a mounted ext4 needs CAP_SYS_RESOURCE, which this process lacks";
  }
  const VolumeCapability cap = MountCap(fs);
  ::csi::v1::Volume v = Create("expand-" + fs, cap, 512 * kMiB, fs);
  const std::string id = v.volume_id();
  ASSERT_FALSE(id.empty());
  google::protobuf::Map<std::string, std::string> context;
  grpc::Status s = ControllerPublish(id, cap, &context);
  ASSERT_TRUE(s.ok()) << Describe(s);
  const std::string staging = work_.Join("kubelet/staging/" + id);
  const std::string target = work_.Join("kubelet/pods/p1/volumes/" + id);
  const std::string manifest = work_.Join("sha256." + fs);
  ASSERT_NO_FATAL_FAILURE(StageAndPublish(v, cap, context, staging, target));
  ASSERT_NO_FATAL_FAILURE(WriteRandomFiles(target, "before", 10, 1));
  ASSERT_NO_FATAL_FAILURE(RecordDigests(target, "before", manifest));
  const uint64_t df_before = DfBytes(target);
  ASSERT_GT(df_before, 0u);
  ASSERT_LT(df_before, static_cast<uint64_t>(512 * kMiB));

  const int64_t bigger = 1536 * kMiB;
  int written = 0;
  {
    LiveWriter writer(target, manifest);
    ASSERT_TRUE(testing::WaitFor([&] { return writer.count() >= 3 || HasFailure(); }));
    ::csi::v1::ControllerExpandVolumeResponse cresp;
    s = ControllerExpand(id, bigger, &cresp);
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_GE(cresp.capacity_bytes(), bigger);
    EXPECT_TRUE(cresp.node_expansion_required());
    ::csi::v1::NodeExpandVolumeResponse nresp;
    s = NodeExpand(id, target, bigger, cap, &nresp);
    ASSERT_TRUE(s.ok()) << Describe(s);
    EXPECT_GE(nresp.capacity_bytes(), bigger);
    const uint64_t df_after = DfBytes(target);
    EXPECT_GT(df_after, df_before + 900 * kMiB) << df_before << " -> " << df_after;
    // The writer goes on on the grown filesystem.
    const int mark = writer.count();
    EXPECT_TRUE(testing::WaitFor([&] { return writer.count() >= mark + 3 || HasFailure(); }));
    written = writer.Stop();
  }
  ASSERT_FALSE(HasFailure());
  // A second NodeExpandVolume (a CO retry) is fine.
  ::csi::v1::NodeExpandVolumeResponse again;
  s = NodeExpand(id, staging, bigger, cap, &again);
  EXPECT_TRUE(s.ok()) << Describe(s);
  ExpectDigests(target, manifest, 10 + static_cast<size_t>(written));

  ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id, staging, target));
  ExpectReplicasIdentical(id);
  ControllerUnpublishAndDelete(id);
}

TEST_F(CsiExpandTest, Ext4GrowsWhileWritten) { MountVolumeGrowsOnline("ext4"); }
TEST_F(CsiExpandTest, XfsGrowsWhileWritten) { MountVolumeGrowsOnline("xfs"); }

TEST_F(CsiExpandTest, BlockVolumeGrows) {
  const VolumeCapability cap = BlockCap();
  ::csi::v1::Volume v = Create("expand-block", cap, 64 * kMiB, "");
  const std::string id = v.volume_id();
  ASSERT_FALSE(id.empty());
  google::protobuf::Map<std::string, std::string> context;
  grpc::Status s = ControllerPublish(id, cap, &context);
  ASSERT_TRUE(s.ok()) << Describe(s);
  const std::string uri = Get(context, kPublishNbdUri);
  ASSERT_FALSE(uri.empty());
  const std::string staging = work_.Join("kubelet/staging/" + id);
  const std::string target = work_.Join("kubelet/pods/p1/volumes/" + id);
  ASSERT_NO_FATAL_FAILURE(StageAndPublish(v, cap, context, staging, target));
  EXPECT_EQ(BlockDeviceBytes(target), static_cast<uint64_t>(64 * kMiB));
  ASSERT_NO_FATAL_FAILURE(WriteDeviceBlock(target, 10 * kMiB, 7));

  const int64_t bigger = 256 * kMiB;
  ::csi::v1::ControllerExpandVolumeResponse cresp;
  s = ControllerExpand(id, bigger, &cresp);
  ASSERT_TRUE(s.ok()) << Describe(s);
  if (testing::HaveTool("nbdinfo")) {
    // A new NBD connection is told the new size.
    auto r = testing::RunCommand("nbdinfo --size " + uri);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(std::strtoull(r.output.c_str(), nullptr, 10), static_cast<uint64_t>(bigger))
        << r.output;
  }
  ::csi::v1::NodeExpandVolumeResponse nresp;
  s = NodeExpand(id, target, bigger, cap, &nresp);
  ASSERT_TRUE(s.ok()) << Describe(s);
  EXPECT_EQ(nresp.capacity_bytes(), bigger);
  EXPECT_EQ(BlockDeviceBytes(target), static_cast<uint64_t>(bigger));
  // Old data stays; the new end takes writes.
  ExpectDeviceBlock(target, 10 * kMiB, 7);
  ASSERT_NO_FATAL_FAILURE(WriteDeviceBlock(target, bigger - kMiB, 8));
  ExpectDeviceBlock(target, bigger - kMiB, 8);

  ASSERT_NO_FATAL_FAILURE(UnpublishAndUnstage(id, staging, target));
  ExpectReplicasIdentical(id);
  ControllerUnpublishAndDelete(id);
}

}  // namespace
}  // namespace syncblock::csi
