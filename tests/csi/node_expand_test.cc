// Online expansion on the node, for real, without the engine: nbdkit serves a
// sparse file (each new NBD connection is told the file's current size), so a
// `truncate` of the file is "the controller grew the volume". The fuse attach
// path (`syncblock fuse-export` + loop device) must then show the new size
// after Resize / NodeExpandVolume, and ext4 and xfs grow while mounted and
// written to. Also: the FUSE export's own IO (direct writes, punched holes)
// checked against the export with qemu-io, and NodeExpandVolume's errors.
// Needs root, /dev/fuse, loop devices and nbdkit; skipped where missing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/falloc.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "csi/csi_constants.h"
#include "csi/node/exec.h"
#include "csi/node/fuse_loop_attacher.h"
#include "csi/node/linux_mounter.h"
#include "csi/node/node_service.h"
#include "replication/initiator/nbd_client.h"
#include "tests/csi/node_test_cleanup.h"
#include "tests/csi/node_test_util.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {
namespace {

using repl::initiator::NbdConnect;
using repl::initiator::ParseNbdUri;

using ::csi::v1::VolumeCapability;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kSmall = 512 * kMiB;  // mkfs.xfs wants 300 MB
constexpr uint64_t kBig = 1536 * kMiB;

bool CanRun() {
  return geteuid() == 0 && std::filesystem::exists("/dev/fuse") &&
         std::filesystem::exists("/dev/loop-control") && testing::HaveTool("nbdkit") &&
         std::filesystem::exists(testing::SyncblockBinary()) && testing::HaveTool("losetup") &&
         testing::HaveTool("mkfs.xfs") && testing::HaveTool("mkfs.ext4") &&
         testing::HaveTool("resize2fs") && testing::HaveTool("xfs_growfs");
}

uint64_t FsTotal(const std::string& path) {
  struct statvfs vfs {};
  if (statvfs(path.c_str(), &vfs) != 0) return 0;
  return vfs.f_blocks * vfs.f_frsize;
}

class NodeExpandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanRun()) GTEST_SKIP() << "needs root, /dev/fuse, loop devices, nbdkit, syncblock";
    backing_ = dir_.Join("export.img");
    { std::ofstream(backing_).flush(); }
    ASSERT_EQ(truncate(backing_.c_str(), static_cast<off_t>(kSmall)), 0);
    port_ = testing::FreePort();
    nbdkit_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{"nbdkit", "-f", "-i", "127.0.0.1", "-p", std::to_string(port_),
                                 "file", backing_},
        dir_.Join("nbdkit.log"));
    uri_ = "nbd://127.0.0.1:" + std::to_string(port_) + "/vol-1";
    ASSERT_TRUE(testing::WaitFor([&] {
      auto c = NbdConnect(*ParseNbdUri(uri_), std::chrono::seconds(2));
      if (!c.ok()) return false;
      c->Disconnect();
      return true;
    })) << testing::ReadFile(dir_.Join("nbdkit.log"));
  }

  // The storage side grows the volume.
  void GrowExport(uint64_t size) {
    ASSERT_EQ(truncate(backing_.c_str(), static_cast<off_t>(size)), 0) << std::strerror(errno);
  }

  std::string State() { return dir_.Join("state"); }

  std::unique_ptr<::csi::v1::Node::Service> NewService() {
    return NewFuseNodeService("node-expand", State());
  }

  grpc::Status Stage(::csi::v1::Node::Service* s, const VolumeCapability& cap) {
    return StageFromNbd(s, "vol-1", staging_, cap, uri_);
  }
  grpc::Status Publish(::csi::v1::Node::Service* s, const VolumeCapability& cap) {
    ::csi::v1::NodePublishVolumeRequest req;
    req.set_volume_id("vol-1");
    req.set_staging_target_path(staging_);
    req.set_target_path(target_);
    *req.mutable_volume_capability() = cap;
    ::csi::v1::NodePublishVolumeResponse resp;
    return s->NodePublishVolume(nullptr, &req, &resp);
  }
  grpc::Status Expand(::csi::v1::Node::Service* s, const std::string& volume_id,
                      const std::string& path, int64_t required,
                      ::csi::v1::NodeExpandVolumeResponse* resp) {
    ::csi::v1::NodeExpandVolumeRequest req;
    req.set_volume_id(volume_id);
    req.set_volume_path(path);
    if (required > 0) req.mutable_capacity_range()->set_required_bytes(required);
    return s->NodeExpandVolume(nullptr, &req, resp);
  }
  void Teardown(::csi::v1::Node::Service* s) {
    ::csi::v1::NodeUnpublishVolumeRequest ureq;
    ureq.set_volume_id("vol-1");
    ureq.set_target_path(target_);
    ::csi::v1::NodeUnpublishVolumeResponse uresp;
    EXPECT_TRUE(s->NodeUnpublishVolume(nullptr, &ureq, &uresp).ok());
    ::csi::v1::NodeUnstageVolumeRequest req;
    req.set_volume_id("vol-1");
    req.set_staging_target_path(staging_);
    ::csi::v1::NodeUnstageVolumeResponse resp;
    EXPECT_TRUE(s->NodeUnstageVolume(nullptr, &req, &resp).ok());
    EXPECT_TRUE(MountsUnder(dir_.path()).empty());
    EXPECT_TRUE(LoopsUnder(dir_.path()).empty());
  }

  testing::TempDir dir_;
  NodeArtifactsGuard guard_{dir_.path()};
  std::string backing_;
  int port_ = 0;
  std::string uri_;
  std::unique_ptr<testing::Subprocess> nbdkit_;
  std::string staging_ = dir_.Join("kubelet/staging/vol-1");
  std::string target_ = dir_.Join("kubelet/pods/p1/vol-1");
};

// Writes numbered files until stopped; each holds its own name, so what was
// written can be checked afterwards.
class FileWriter {
 public:
  explicit FileWriter(std::string dir) : dir_(std::move(dir)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        const std::string name = dir_ + "/f" + std::to_string(count_.load());
        std::string body(64 * 1024, static_cast<char>('a' + count_ % 26));
        body += name;
        int fd = open(name.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
        if (fd < 0) break;
        bool ok = write(fd, body.data(), body.size()) == static_cast<ssize_t>(body.size()) &&
                  fsync(fd) == 0;
        close(fd);
        if (!ok) break;
        ++count_;
        // Bounded pace: the filesystem must not fill before it grows.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      stopped_ = true;
    });
  }
  ~FileWriter() { Stop(); }
  int Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return count_;
  }
  int count() const { return count_; }
  bool failed() const { return stopped_ && !stop_; }
  // Every file written holds what it should.
  void Verify(int n) const {
    for (int i = 0; i < n; ++i) {
      const std::string name = dir_ + "/f" + std::to_string(i);
      std::string body(64 * 1024, static_cast<char>('a' + i % 26));
      body += name;
      ASSERT_EQ(testing::ReadFile(name), body) << name;
    }
  }

 private:
  std::string dir_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<int> count_{0};
  std::thread thread_;
};

class NodeExpandFsTest : public NodeExpandTest,
                         public ::testing::WithParamInterface<std::string> {};

TEST_P(NodeExpandFsTest, MountedFilesystemGrowsWhileWritten) {
  const std::string fs = GetParam();
  if (fs == "ext4" && !HaveCapSysResource()) {
    GTEST_SKIP() << "resize2fs of a mounted ext4 needs CAP_SYS_RESOURCE, which this process lacks";
  }
  auto s = NewService();
  ASSERT_TRUE(s);
  ASSERT_TRUE(Stage(s.get(), MountCap(fs)).ok());
  ASSERT_TRUE(Publish(s.get(), MountCap(fs)).ok());
  const uint64_t before = DfBytes(target_);
  ASSERT_GT(before, 0u);
  ASSERT_LT(before, kSmall);

  FileWriter writer(target_);
  ASSERT_TRUE(testing::WaitFor([&] { return writer.count() >= 5; })) << "the writer is stuck";
  GrowExport(kBig);
  ::csi::v1::NodeExpandVolumeResponse resp;
  grpc::Status st = Expand(s.get(), "vol-1", target_, static_cast<int64_t>(kBig), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.capacity_bytes(), static_cast<int64_t>(kBig));
  const uint64_t after = DfBytes(target_);
  EXPECT_GT(after, kBig - 128 * kMiB) << "df: " << before << " -> " << after;
  EXPECT_GT(after, before + 900 * kMiB);
  EXPECT_EQ(DfBytes(staging_), after);
  // Still writable, and the files already there still read back.
  const int mark = writer.count();
  ASSERT_TRUE(testing::WaitFor([&] { return writer.count() >= mark + 5 || writer.failed(); }));
  EXPECT_FALSE(writer.failed());
  const int written = writer.Stop();
  writer.Verify(written);

  // Again with the same size: nothing to do, same answer.
  ::csi::v1::NodeExpandVolumeResponse again;
  st = Expand(s.get(), "vol-1", staging_, static_cast<int64_t>(kBig), &again);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(again.capacity_bytes(), static_cast<int64_t>(kBig));
  EXPECT_EQ(DfBytes(target_), after);

  // Files written beyond the old end survive a restage.
  std::string big(200 * kMiB, 'q');
  {
    std::ofstream out(target_ + "/big");
    out << big;
  }
  Teardown(s.get());
  ASSERT_TRUE(Stage(s.get(), MountCap(fs)).ok());
  EXPECT_GT(FsTotal(staging_), kBig - 128 * kMiB);
  EXPECT_EQ(testing::ReadFile(staging_ + "/big"), big);
  ASSERT_TRUE(Publish(s.get(), MountCap(fs)).ok());
  Teardown(s.get());
}

INSTANTIATE_TEST_SUITE_P(Filesystems, NodeExpandFsTest, ::testing::Values("ext4", "xfs"));

TEST_F(NodeExpandTest, BlockVolumeDeviceShowsNewSize) {
  auto s = NewService();
  ASSERT_TRUE(s);
  ASSERT_TRUE(Stage(s.get(), BlockCap()).ok());
  ASSERT_TRUE(Publish(s.get(), BlockCap()).ok());
  EXPECT_EQ(BlockDeviceBytes(target_), kSmall);
  GrowExport(kBig);
  ::csi::v1::NodeExpandVolumeResponse resp;
  grpc::Status st = Expand(s.get(), "vol-1", target_, 0, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.capacity_bytes(), static_cast<int64_t>(kBig));
  EXPECT_EQ(BlockDeviceBytes(target_), kBig);
  // The new end is usable: direct IO past the old end reaches the export.
  {
    int fd = open(target_.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    void* buf = nullptr;
    ASSERT_EQ(posix_memalign(&buf, 4096, 4096), 0);
    std::memset(buf, 0x5a, 4096);
    EXPECT_EQ(pwrite(fd, buf, 4096, static_cast<off_t>(kBig - 4096)), 4096);
    EXPECT_EQ(fsync(fd), 0);
    free(buf);
    close(fd);
  }
  std::ifstream back(backing_, std::ios::binary);
  back.seekg(static_cast<std::streamoff>(kBig - 4096));
  std::string tail(4096, '\0');
  back.read(tail.data(), 4096);
  EXPECT_EQ(tail, std::string(4096, 0x5a));
  Teardown(s.get());
}

TEST_F(NodeExpandTest, ErrorsAndCapability) {
  auto s = NewService();
  ASSERT_TRUE(s);
  ::csi::v1::NodeGetCapabilitiesResponse caps;
  ASSERT_TRUE(s->NodeGetCapabilities(nullptr, nullptr, &caps).ok());
  bool expand = false;
  for (const auto& c : caps.capabilities()) {
    expand |= c.rpc().type() == ::csi::v1::NodeServiceCapability::RPC::EXPAND_VOLUME;
  }
  EXPECT_TRUE(expand);

  ::csi::v1::NodeExpandVolumeResponse resp;
  EXPECT_EQ(Expand(s.get(), "", target_, 0, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Expand(s.get(), "vol-1", "", 0, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Expand(s.get(), "vol-unknown", target_, 0, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Stage(s.get(), MountCap("ext4")).ok());
  EXPECT_EQ(Expand(s.get(), "vol-1", dir_.Join("elsewhere"), 0, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
  // Published path not (yet) published: unknown to us.
  EXPECT_EQ(Expand(s.get(), "vol-1", target_, 0, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  // Asked for more than the export has: the storage side is not there yet.
  EXPECT_EQ(Expand(s.get(), "vol-1", staging_, static_cast<int64_t>(kBig), &resp).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // Nothing grew: OK, the same size.
  ASSERT_TRUE(Expand(s.get(), "vol-1", staging_, 0, &resp).ok());
  EXPECT_EQ(resp.capacity_bytes(), static_cast<int64_t>(kSmall));
  ASSERT_TRUE(Publish(s.get(), MountCap("ext4")).ok());
  Teardown(s.get());
}

// The FUSE export by itself: direct writes land in the export at the right
// offsets, a punched hole reads back as zeroes there, and the file grows on
// SIGHUP (through Resize) with the loop device following.
TEST_F(NodeExpandTest, FuseExportIoAndResize) {
  FuseLoopAttacher attacher(State(), std::chrono::seconds(30), testing::SyncblockBinary());
  auto a = attacher.Attach({"vol-1", uri_, false, {}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->size_bytes, kSmall);
  EXPECT_TRUE(IsFuseServer(a->fuse_pid));
  const std::string file = a->fuse_dir + "/disk";
  {
    int fd = open(a->device.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    void* buf = nullptr;
    ASSERT_EQ(posix_memalign(&buf, 4096, kMiB), 0);
    std::memset(buf, 0x61, kMiB);
    EXPECT_EQ(pwrite(fd, buf, kMiB, static_cast<off_t>(3 * kMiB)), static_cast<ssize_t>(kMiB));
    EXPECT_EQ(fdatasync(fd), 0);
    free(buf);
    close(fd);
  }
  {
    int fd = open(file.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                        static_cast<off_t>(3 * kMiB + 4096), 8192),
              0)
        << std::strerror(errno);
    close(fd);
  }
  if (testing::HaveTool("qemu-io")) {
    auto r = Exec({"qemu-io", "-f", "raw", "-r", "-c", "read -P 0x61 3145728 4096", "-c",
                   "read -P 0 3149824 8192", "-c", "read -P 0x61 3158016 1036288", uri_});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0) << r->output;
    EXPECT_EQ(r->output.find("verification failed"), std::string::npos) << r->output;
  }
  GrowExport(kBig);
  auto b = attacher.Resize(*a);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->size_bytes, kBig);
  EXPECT_EQ(BlockDeviceBytes(a->device), kBig);
  EXPECT_EQ(std::filesystem::file_size(file), kBig);
  EXPECT_EQ(attacher.Resize(*b)->size_bytes, kBig);  // idempotent
  EXPECT_TRUE(attacher.Check(*b).ok());
  ASSERT_TRUE(attacher.Detach(*b).ok());
  EXPECT_TRUE(testing::WaitFor([&] { return ProcessGone(a->fuse_pid); }));
  EXPECT_TRUE(MountsUnder(dir_.path()).empty());
}

// The NBD server restarts under an attached volume (same address): the FUSE
// export's next request finds its connections broken, reconnects and
// succeeds; no IO error reaches the loop device.
TEST_F(NodeExpandTest, FuseExportReconnectsToARestartedServer) {
  FuseLoopAttacher attacher(State(), std::chrono::seconds(30), testing::SyncblockBinary());
  auto a = attacher.Attach({"vol-1", uri_, false, {}});
  ASSERT_TRUE(a.ok()) << a.status();
  auto write_block = [&](off_t offset, char fill) {
    int fd = open(a->device.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0) return false;
    void* buf = nullptr;
    if (posix_memalign(&buf, 4096, 65536) != 0) return false;
    std::memset(buf, fill, 65536);
    bool ok = pwrite(fd, buf, 65536, offset) == 65536 && fsync(fd) == 0;
    free(buf);
    close(fd);
    return ok;
  };
  ASSERT_TRUE(write_block(0, 0x11));
  nbdkit_->Kill(SIGKILL);
  nbdkit_->Wait();
  nbdkit_ = std::make_unique<testing::Subprocess>(
      std::vector<std::string>{"nbdkit", "-f", "-i", "127.0.0.1", "-p", std::to_string(port_),
                               "file", backing_},
      dir_.Join("nbdkit2.log"));
  ASSERT_TRUE(testing::WaitFor([&] {
    auto c = NbdConnect(*ParseNbdUri(uri_), std::chrono::seconds(2));
    if (c.ok()) c->Disconnect();
    return c.ok();
  })) << testing::ReadFile(dir_.Join("nbdkit2.log"));
  EXPECT_TRUE(write_block(1 << 20, 0x22)) << testing::ReadFile(a->fuse_dir + ".log");
  std::ifstream back(backing_, std::ios::binary);
  std::string got(65536, '\0');
  back.seekg(1 << 20);
  back.read(got.data(), 65536);
  EXPECT_EQ(got, std::string(65536, 0x22));
  back.seekg(0);
  back.read(got.data(), 65536);
  EXPECT_EQ(got, std::string(65536, 0x11));
  ASSERT_TRUE(attacher.Detach(*a).ok());
}

}  // namespace
}  // namespace syncblock::csi
