// The fuse attach path for real: nbdkit (a real NBD server; 512 MiB because
// mkfs.xfs wants 300 MB) stands in for a storage node; our FUSE export
// (`syncblock fuse-export`), loop devices, mkfs.ext4/xfs, mount and the Node
// service's stage/publish run against it.
// Needs root, /dev/fuse and loop devices; skipped where they are missing.
// Everything made under the test's temporary directory is undone by
// NodeArtifactsGuard even when a test fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_split.h"
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

bool CanRun() {
  return geteuid() == 0 && std::filesystem::exists("/dev/fuse") &&
         std::filesystem::exists("/dev/loop-control") && testing::HaveTool("nbdkit") &&
         std::filesystem::exists(testing::SyncblockBinary()) && testing::HaveTool("losetup") &&
         testing::HaveTool("mkfs.xfs") && testing::HaveTool("mkfs.ext4");
}

void Spit(const std::string& path, const std::string& text) {
  int fd = open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  ASSERT_EQ(fsync(fd), 0);
  close(fd);
}

class NodeFuseLoopTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!CanRun())
      GTEST_SKIP() << "needs root, /dev/fuse, loop devices, nbdkit and the syncblock binary";
    port_ = testing::FreePort();
    nbdkit_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{"nbdkit", "-f", "-i", "127.0.0.1", "-p", std::to_string(port_),
                                 "memory", "512M"},
        dir_.Join("nbdkit.log"));
    uri_ = "nbd://127.0.0.1:" + std::to_string(port_) + "/vol-1";
    ASSERT_TRUE(testing::WaitFor([&] {
      auto u = ParseNbdUri(uri_);
      auto c = NbdConnect(*u, std::chrono::seconds(2));
      if (!c.ok()) return false;
      c->Disconnect();
      return true;
    })) << testing::ReadFile(dir_.Join("nbdkit.log"));
  }

  std::string State() { return dir_.Join("state"); }

  testing::TempDir dir_;
  NodeArtifactsGuard guard_{dir_.path()};
  int port_ = 0;
  std::string uri_;
  std::unique_ptr<testing::Subprocess> nbdkit_;
};

TEST_F(NodeFuseLoopTest, HandshakeReportsExportAndRejectsUnknownExport) {
  auto conn = NbdConnect(*ParseNbdUri(uri_));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ(conn->info().size, 512u << 20);
  conn->Disconnect();

  int strict_port = testing::FreePort();
  testing::Subprocess strict({"nbdkit", "-f", "-i", "127.0.0.1", "-p", std::to_string(strict_port),
                              "--filter=exportname", "memory", "1M", "exportname=only",
                              "exportname-strict=true"});
  auto uri = *ParseNbdUri("nbd://127.0.0.1:" + std::to_string(strict_port) + "/other");
  absl::Status st;
  ASSERT_TRUE(testing::WaitFor([&] {
    st = NbdConnect(uri, std::chrono::seconds(2)).status();
    return !absl::IsUnavailable(st);
  }));
  EXPECT_TRUE(absl::IsNotFound(st)) << st;
  uri.export_name = "only";
  EXPECT_TRUE(NbdConnect(uri).ok());

  auto closed = *ParseNbdUri("nbd://127.0.0.1:" + std::to_string(testing::FreePort()) + "/x");
  EXPECT_TRUE(absl::IsUnavailable(NbdConnect(closed).status()));
}

class NodeFuseLoopFsTest : public NodeFuseLoopTest,
                           public ::testing::WithParamInterface<std::string> {};

TEST_P(NodeFuseLoopFsTest, FilesSurviveDetachAndReattach) {
  const std::string fs = GetParam();
  FuseLoopAttacher attacher(State(), std::chrono::seconds(30), testing::SyncblockBinary());
  LinuxMounter mounter;
  auto a = attacher.Attach({"vol-1", uri_, false, {}});
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(absl::StartsWith(a->device, "/dev/loop"));
  EXPECT_EQ(a->size_bytes, 512u << 20);
  ASSERT_TRUE(attacher.Check(*a).ok()) << attacher.Check(*a);
  EXPECT_EQ(*mounter.DetectFilesystem(a->device), "");
  ASSERT_TRUE(mounter.MakeFilesystem(a->device, fs).ok());
  EXPECT_EQ(*mounter.DetectFilesystem(a->device), fs);

  const std::string mnt = dir_.Join("mnt");
  std::filesystem::create_directories(mnt);
  ASSERT_TRUE(mounter.Mount(a->device, mnt, fs, {}).ok());
  EXPECT_TRUE(*mounter.IsMountPoint(mnt));
  EXPECT_EQ(*mounter.MountSource(mnt), a->device);
  Spit(mnt + "/hello.txt", "hello from " + fs);
  ASSERT_TRUE(mounter.Unmount(mnt).ok());
  EXPECT_TRUE(absl::IsNotFound(mounter.Unmount(mnt)));
  ASSERT_TRUE(attacher.Detach(*a).ok());
  EXPECT_EQ(FuseLoopAttacher::LoopBackingFile(a->device).find(dir_.path()), std::string::npos);
  EXPECT_TRUE(ProcessGone(a->fuse_pid));
  EXPECT_TRUE(attacher.Detach(*a).ok());  // idempotent

  auto b = attacher.Attach({"vol-1", uri_, false, {}});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(*mounter.DetectFilesystem(b->device), fs);
  ASSERT_TRUE(mounter.CheckFilesystem(b->device, fs).ok());
  ASSERT_TRUE(mounter.Mount(b->device, mnt, fs, {"ro"}).ok());
  EXPECT_EQ(testing::ReadFile(mnt + "/hello.txt"), "hello from " + fs);
  ASSERT_TRUE(mounter.Unmount(mnt).ok());
  ASSERT_TRUE(attacher.Detach(*b).ok());
}

INSTANTIATE_TEST_SUITE_P(Filesystems, NodeFuseLoopFsTest, ::testing::Values("ext4", "xfs"));

TEST_F(NodeFuseLoopTest, DeadFuseServerIsDetectedAndReconnected) {
  FuseLoopAttacher attacher(State(), std::chrono::seconds(30), testing::SyncblockBinary());
  LinuxMounter mounter;
  auto a = attacher.Attach({"vol-1", uri_, false, {}});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(mounter.MakeFilesystem(a->device, "ext4").ok());
  kill(a->fuse_pid, SIGKILL);
  ASSERT_TRUE(testing::WaitFor([&] { return !attacher.Check(*a).ok(); }));
  EXPECT_TRUE(absl::IsUnavailable(attacher.Check(*a)));
  auto b = attacher.Reconnect(*a, uri_);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(attacher.Check(*b).ok());
  EXPECT_EQ(*mounter.DetectFilesystem(b->device), "ext4");
  ASSERT_TRUE(attacher.Detach(*b).ok());
}

// The export moves (a change of primary): the old server stops serving, Check
// says so, and Reconnect attaches the new one on a new device.
TEST_F(NodeFuseLoopTest, MovedExportIsDetectedAndReconnected) {
  FuseLoopAttacher attacher(State(), std::chrono::seconds(30), testing::SyncblockBinary());
  auto a = attacher.Attach({"vol-1", uri_, false, {}});
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(attacher.Check(*a).ok());
  nbdkit_->Kill(SIGKILL);
  nbdkit_->Wait();
  absl::Status st = attacher.Check(*a);
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;

  int port = testing::FreePort();
  testing::Subprocess moved(
      {"nbdkit", "-f", "-i", "127.0.0.1", "-p", std::to_string(port), "memory", "512M"});
  const std::string new_uri = "nbd://127.0.0.1:" + std::to_string(port) + "/vol-1";
  ASSERT_TRUE(testing::WaitFor([&] {
    auto c = NbdConnect(*ParseNbdUri(new_uri), std::chrono::seconds(1));
    if (c.ok()) c->Disconnect();
    return c.ok();
  }));
  auto b = attacher.Reconnect(*a, new_uri);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->nbd_uri, new_uri);
  EXPECT_NE(b->fuse_pid, a->fuse_pid);
  EXPECT_TRUE(ProcessGone(a->fuse_pid));
  EXPECT_TRUE(attacher.Check(*b).ok()) << attacher.Check(*b);
  LinuxMounter mounter;
  ASSERT_TRUE(mounter.MakeFilesystem(b->device, "ext4").ok());
  ASSERT_TRUE(attacher.Detach(*b).ok());
  EXPECT_TRUE(LoopsUnder(dir_.path()).empty());
}

TEST_F(NodeFuseLoopTest, UnreachableExportFailsCleanly) {
  FuseLoopAttacher attacher(State(), std::chrono::seconds(30), testing::SyncblockBinary());
  std::string bad = "nbd://127.0.0.1:" + std::to_string(testing::FreePort()) + "/vol-1";
  auto a = attacher.Attach({"vol-1", bad, false, {}});
  EXPECT_FALSE(a.ok());
  EXPECT_TRUE(MountsUnder(dir_.path()).empty());
  EXPECT_TRUE(LoopsUnder(dir_.path()).empty());
}

// What every test here relies on: a test that stops half-way (a failed
// ASSERT) leaves mounts, a loop device and the FUSE server behind, and the guard
// removes them all.
TEST_F(NodeFuseLoopTest, GuardUndoesWhatAFailedTestLeaves) {
  std::string root, device;
  pid_t pid = 0;
  {
    testing::TempDir inner;
    NodeArtifactsGuard guard(inner.path());
    root = inner.path();
    FuseLoopAttacher attacher(inner.Join("state"), std::chrono::seconds(30),
                              testing::SyncblockBinary());
    auto a = attacher.Attach({"vol-1", uri_, false, {}});
    ASSERT_TRUE(a.ok()) << a.status();
    device = a->device;
    pid = a->fuse_pid;
    LinuxMounter mounter;
    ASSERT_TRUE(mounter.MakeFilesystem(a->device, "ext4").ok());
    std::filesystem::create_directories(inner.Join("mnt"));
    ASSERT_TRUE(mounter.Mount(a->device, inner.Join("mnt"), "ext4", {}).ok());
    ASSERT_TRUE(mounter.BindMount(inner.Join("mnt"), inner.Join("mnt"), true, {}).ok());
    ASSERT_EQ(MountsUnder(root).size(), 3u);  // fuse, ext4, bind
  }
  EXPECT_TRUE(MountsUnder(root).empty());
  EXPECT_TRUE(LoopsUnder(root).empty());
  EXPECT_TRUE(testing::WaitFor([&] { return ProcessGone(pid); }));
  EXPECT_FALSE(std::filesystem::exists(root));
}

// Drives the Node service as the CO would.
class NodeServiceRealTest : public NodeFuseLoopTest {
 protected:
  std::unique_ptr<::csi::v1::Node::Service> NewService(
      std::chrono::milliseconds health_interval = std::chrono::milliseconds(0)) {
    return NewFuseNodeService("node-real", State(), health_interval);
  }

  grpc::Status Stage(::csi::v1::Node::Service* s, const VolumeCapability& cap) {
    return StageFromNbd(s, "vol-1", staging_, cap, uri_);
  }
  grpc::Status Publish(::csi::v1::Node::Service* s, const VolumeCapability& cap,
                       const std::string& target, bool readonly = false) {
    ::csi::v1::NodePublishVolumeRequest req;
    req.set_readonly(readonly);
    req.set_volume_id("vol-1");
    req.set_staging_target_path(staging_);
    req.set_target_path(target);
    *req.mutable_volume_capability() = cap;
    ::csi::v1::NodePublishVolumeResponse resp;
    return s->NodePublishVolume(nullptr, &req, &resp);
  }
  grpc::Status Unpublish(::csi::v1::Node::Service* s, const std::string& target) {
    ::csi::v1::NodeUnpublishVolumeRequest req;
    req.set_volume_id("vol-1");
    req.set_target_path(target);
    ::csi::v1::NodeUnpublishVolumeResponse resp;
    return s->NodeUnpublishVolume(nullptr, &req, &resp);
  }
  grpc::Status Unstage(::csi::v1::Node::Service* s) {
    ::csi::v1::NodeUnstageVolumeRequest req;
    req.set_volume_id("vol-1");
    req.set_staging_target_path(staging_);
    ::csi::v1::NodeUnstageVolumeResponse resp;
    return s->NodeUnstageVolume(nullptr, &req, &resp);
  }
  void ExpectNothingLeft() {
    EXPECT_TRUE(MountsUnder(dir_.path()).empty());
    EXPECT_TRUE(LoopsUnder(dir_.path()).empty());
  }

  std::string staging_ = dir_.Join("kubelet/staging/vol-1");
  std::string target_ = dir_.Join("kubelet/pods/p1/vol-1");
};

TEST_F(NodeServiceRealTest, StagePublishWriteAndStageAgain) {
  auto s = NewService();
  ASSERT_TRUE(s);
  ASSERT_TRUE(Stage(s.get(), MountCap("xfs")).ok());
  ASSERT_TRUE(Publish(s.get(), MountCap("xfs"), target_).ok());
  Spit(target_ + "/data", "persisted");
  ::csi::v1::NodeGetVolumeStatsRequest sreq;
  sreq.set_volume_id("vol-1");
  sreq.set_volume_path(target_);
  ::csi::v1::NodeGetVolumeStatsResponse sresp;
  ASSERT_TRUE(s->NodeGetVolumeStats(nullptr, &sreq, &sresp).ok());
  EXPECT_FALSE(sresp.volume_condition().abnormal());
  ASSERT_EQ(sresp.usage_size(), 2);
  EXPECT_GT(sresp.usage(0).total(), 400 << 20);
  EXPECT_GT(sresp.usage(0).used(), 0);
  EXPECT_GT(sresp.usage(1).total(), 0);

  ASSERT_TRUE(Unpublish(s.get(), target_).ok());
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();

  ASSERT_TRUE(Stage(s.get(), MountCap("xfs")).ok());
  EXPECT_EQ(testing::ReadFile(staging_ + "/data"), "persisted");
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();
}

TEST_F(NodeServiceRealTest, BlockVolumeIsADeviceAtTheTarget) {
  auto s = NewService();
  ASSERT_TRUE(s);
  ASSERT_TRUE(Stage(s.get(), BlockCap(VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER)).ok());
  ASSERT_TRUE(
      Publish(s.get(), BlockCap(VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER), target_)
          .ok());
  std::string block(4096, 'z');
  {
    int fd = open(target_.c_str(), O_WRONLY | O_DIRECT);
    ASSERT_GE(fd, 0);
    void* buf = nullptr;
    ASSERT_EQ(posix_memalign(&buf, 4096, 4096), 0);
    std::memcpy(buf, block.data(), 4096);
    EXPECT_EQ(pwrite(fd, buf, 4096, 1 << 20), 4096);
    free(buf);
    close(fd);
  }
  ::csi::v1::NodeGetVolumeStatsRequest sreq;
  sreq.set_volume_id("vol-1");
  sreq.set_volume_path(target_);
  ::csi::v1::NodeGetVolumeStatsResponse sresp;
  ASSERT_TRUE(s->NodeGetVolumeStats(nullptr, &sreq, &sresp).ok());
  ASSERT_EQ(sresp.usage_size(), 1);
  EXPECT_EQ(sresp.usage(0).total(), 512 << 20);
  ASSERT_TRUE(Unpublish(s.get(), target_).ok());
  EXPECT_FALSE(std::filesystem::exists(target_));
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();
  // The write reached the export: read it back over NBD with qemu-io.
  if (testing::HaveTool("qemu-io")) {
    auto r = Exec({"qemu-io", "-f", "raw", "-r", "-c", "read -P 0x7a 1048576 4096", uri_});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->exit_code, 0) << r->output;
    EXPECT_EQ(r->output.find("verification failed"), std::string::npos) << r->output;
    EXPECT_NE(r->output.find("read 4096/4096"), std::string::npos) << r->output;
  }
}

// The plugin is killed with SIGKILL while a volume is staged and published:
// the mount keeps working (the FUSE server is not the plugin's to take down), and a
// new plugin adopts the attachment and can tear it down.
TEST_F(NodeServiceRealTest, SurvivesPluginKill) {
  const std::string ready = dir_.Join("child-ready");
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto s = NewService();
    bool ok = s && Stage(s.get(), MountCap("ext4")).ok() &&
              Publish(s.get(), MountCap("ext4"), target_).ok();
    if (ok) {
      std::ofstream(target_ + "/before-kill") << "written by the first plugin";
      sync();
      std::ofstream(ready) << "ok";
    } else {
      std::ofstream(ready) << "failed";
    }
    for (;;) pause();
  }
  ASSERT_TRUE(testing::WaitFor(
      [&] { return std::filesystem::exists(ready) && !testing::ReadFile(ready).empty(); },
      std::chrono::seconds(120)));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ASSERT_EQ(testing::ReadFile(ready), "ok");

  // The mount outlived the plugin.
  EXPECT_EQ(testing::ReadFile(target_ + "/before-kill"), "written by the first plugin");
  Spit(target_ + "/after-kill", "still writable");

  auto s = NewService();  // re-adopts from the state directory
  ASSERT_TRUE(s);
  ::csi::v1::NodeGetVolumeStatsRequest sreq;
  sreq.set_volume_id("vol-1");
  sreq.set_volume_path(target_);
  ::csi::v1::NodeGetVolumeStatsResponse sresp;
  ASSERT_TRUE(s->NodeGetVolumeStats(nullptr, &sreq, &sresp).ok());
  EXPECT_FALSE(sresp.volume_condition().abnormal()) << sresp.volume_condition().message();
  EXPECT_TRUE(Stage(s.get(), MountCap("ext4")).ok());  // a CO retry is OK
  ASSERT_TRUE(Unpublish(s.get(), target_).ok());
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();

  ASSERT_TRUE(Stage(s.get(), MountCap("ext4")).ok());
  EXPECT_EQ(testing::ReadFile(staging_ + "/after-kill"), "still writable");
  ASSERT_TRUE(Unstage(s.get()).ok());
}

// The FUSE server dies under a staged, published volume; the restarted plugin finds
// the dead attachment, attaches again and puts the mounts back.
TEST_F(NodeServiceRealTest, RestartRepairsDeadAttachment) {
  {
    auto s = NewService();
    ASSERT_TRUE(s);
    ASSERT_TRUE(Stage(s.get(), MountCap("ext4")).ok());
    ASSERT_TRUE(Publish(s.get(), MountCap("ext4"), target_).ok());
    Spit(target_ + "/kept", "kept");
  }
  std::string pidfile;
  for (const auto& e : std::filesystem::directory_iterator(State() + "/fuse")) {
    if (e.path().extension() == ".pid") pidfile = e.path();
  }
  ASSERT_FALSE(pidfile.empty());
  pid_t pid = std::stoi(testing::ReadFile(pidfile));
  // An unmount syncs the filesystem first; then the FUSE server is killed.
  testing::RunCommand("sync");
  kill(pid, SIGKILL);
  ASSERT_TRUE(testing::WaitFor([&] { return ProcessGone(pid); }));

  auto s = NewService();
  ASSERT_TRUE(s);
  ::csi::v1::NodeGetVolumeStatsRequest sreq;
  sreq.set_volume_id("vol-1");
  sreq.set_volume_path(target_);
  ::csi::v1::NodeGetVolumeStatsResponse sresp;
  ASSERT_TRUE(s->NodeGetVolumeStats(nullptr, &sreq, &sresp).ok());
  EXPECT_FALSE(sresp.volume_condition().abnormal()) << sresp.volume_condition().message();
  EXPECT_EQ(testing::ReadFile(target_ + "/kept"), "kept");
  ASSERT_TRUE(Unpublish(s.get(), target_).ok());
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();
}

bool CanCreate(const std::string& path) {
  int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0644);
  if (fd < 0) return false;
  close(fd);
  return true;
}

// The per-mount options of the mount at `path` (mountinfo), "" when none.
std::string MountOptionsAt(const std::string& path) {
  for (const auto& e : ParseMountInfo(testing::ReadFile("/proc/self/mountinfo"))) {
    if (e.mount_point == path) return e.options;
  }
  return "";
}

bool HasOption(const std::string& options, const std::string& option) {
  for (absl::string_view o : absl::StrSplit(options, ',')) {
    if (o == option) return true;
  }
  return false;
}

// Issue 13 item 8, on real mounts: a dead FUSE server is replaced by a new
// device, and each target comes back with its own options: the read-only
// one read-only with noexec/nosuid/nodev, the writable one writable.
TEST_F(NodeServiceRealTest, ReconnectRestoresEachTargetsOwnMountOptions) {
  const std::string ro_target = dir_.Join("kubelet/pods/p2/vol-1");
  VolumeCapability locked = MountCap("ext4");
  for (const char* f : {"noexec", "nosuid", "nodev"}) locked.mutable_mount()->add_mount_flags(f);
  {
    auto s = NewService();
    ASSERT_TRUE(s);
    ASSERT_TRUE(Stage(s.get(), MountCap("ext4")).ok());
    ASSERT_TRUE(Publish(s.get(), MountCap("ext4"), target_).ok());
    ASSERT_TRUE(Publish(s.get(), locked, ro_target, /*readonly=*/true).ok());
  }
  for (const char* o : {"ro", "noexec", "nosuid", "nodev"}) {
    EXPECT_TRUE(HasOption(MountOptionsAt(ro_target), o)) << o << ": " << MountOptionsAt(ro_target);
  }
  std::string pidfile;
  for (const auto& e : std::filesystem::directory_iterator(State() + "/fuse")) {
    if (e.path().extension() == ".pid") pidfile = e.path();
  }
  ASSERT_FALSE(pidfile.empty());
  pid_t pid = std::stoi(testing::ReadFile(pidfile));
  testing::RunCommand("sync");
  kill(pid, SIGKILL);
  ASSERT_TRUE(testing::WaitFor([&] { return ProcessGone(pid); }));

  auto s = NewService();  // re-adoption reconnects on a new device and remounts
  ASSERT_TRUE(s);
  const std::string ro_opts = MountOptionsAt(ro_target);
  for (const char* o : {"ro", "noexec", "nosuid", "nodev"}) {
    EXPECT_TRUE(HasOption(ro_opts, o)) << o << ": " << ro_opts;
  }
  EXPECT_FALSE(CanCreate(ro_target + "/nope"));
  EXPECT_EQ(errno, EROFS);
  const std::string rw_opts = MountOptionsAt(target_);
  EXPECT_TRUE(HasOption(rw_opts, "rw")) << rw_opts;
  EXPECT_FALSE(HasOption(rw_opts, "noexec")) << rw_opts;
  EXPECT_TRUE(CanCreate(target_ + "/yes"));
  ASSERT_TRUE(Unpublish(s.get(), ro_target).ok());
  ASSERT_TRUE(Unpublish(s.get(), target_).ok());
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();
}

TEST_F(NodeServiceRealTest, ReadOnlyPublishAndReadOnlyStage) {
  auto s = NewService();
  ASSERT_TRUE(s);
  ASSERT_TRUE(Stage(s.get(), MountCap("ext4")).ok());
  ASSERT_TRUE(Publish(s.get(), MountCap("ext4"), target_).ok());
  const std::string ro_target = dir_.Join("kubelet/pods/p2/vol-1");
  ASSERT_TRUE(Publish(s.get(), MountCap("ext4"), ro_target, /*readonly=*/true).ok());
  Spit(target_ + "/file", "shared");
  EXPECT_EQ(testing::ReadFile(ro_target + "/file"), "shared");
  EXPECT_FALSE(CanCreate(ro_target + "/nope"));
  EXPECT_EQ(errno, EROFS);
  ASSERT_TRUE(Unpublish(s.get(), ro_target).ok());
  ASSERT_TRUE(Unpublish(s.get(), target_).ok());
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();

  VolumeCapability ro = MountCap("ext4");
  ro.mutable_access_mode()->set_mode(VolumeCapability::AccessMode::SINGLE_NODE_READER_ONLY);
  ASSERT_TRUE(Stage(s.get(), ro).ok());
  EXPECT_EQ(testing::ReadFile(staging_ + "/file"), "shared");
  EXPECT_FALSE(CanCreate(staging_ + "/nope"));
  // Read-only all the way down: the loop device too.
  auto loops = LoopsUnder(dir_.path());
  ASSERT_EQ(loops.size(), 1u);
  EXPECT_EQ(testing::ReadFile("/sys/block/" + loops[0].substr(5) + "/ro"), "1\n");
  // A writable publish of a read-only stage is refused.
  EXPECT_EQ(Publish(s.get(), MountCap("ext4"), target_).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();
}

// Without a restart: the health loop finds the dead attachment and repairs it.
TEST_F(NodeServiceRealTest, HealthLoopRepairsDeadAttachment) {
  auto s = NewService(std::chrono::milliseconds(200));
  ASSERT_TRUE(s);
  ASSERT_TRUE(Stage(s.get(), BlockCap(VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER)).ok());
  ASSERT_TRUE(
      Publish(s.get(), BlockCap(VolumeCapability::AccessMode::MULTI_NODE_MULTI_WRITER), target_)
          .ok());
  std::string pidfile;
  for (const auto& e : std::filesystem::directory_iterator(State() + "/fuse")) {
    if (e.path().extension() == ".pid") pidfile = e.path();
  }
  ASSERT_FALSE(pidfile.empty());
  pid_t pid = std::stoi(testing::ReadFile(pidfile));
  kill(pid, SIGKILL);
  ::csi::v1::NodeGetVolumeStatsRequest sreq;
  sreq.set_volume_id("vol-1");
  sreq.set_volume_path(target_);
  // Healthy again on a new FUSE server: the pid file names another process.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        ::csi::v1::NodeGetVolumeStatsResponse sresp;
        std::string now = testing::ReadFile(pidfile);
        return s->NodeGetVolumeStats(nullptr, &sreq, &sresp).ok() &&
               !sresp.volume_condition().abnormal() && !now.empty() && std::stoi(now) != pid;
      },
      std::chrono::seconds(60)));
  // The target is the new device: IO through it works.
  int fd = open(target_.c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  char buf[512];
  EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), 512);
  close(fd);
  ASSERT_TRUE(Unpublish(s.get(), target_).ok());
  ASSERT_TRUE(Unstage(s.get()).ok());
  ExpectNothingLeft();
}

}  // namespace
}  // namespace syncblock::csi
