// The node plugin's FUSE attachment follows a moving primary (issue 13): a
// real 3-node local cluster, the real fuse attach path (`syncblock
// fuse-export` started by FuseLoopAttacher, a loop device, ext4 mounted on
// it), a writer doing write+fsync through the filesystem while the primary
// is moved by hand (`ctl promote`, a planned move). The writer sees a stall,
// never an error; the loop device, the mount and the FUSE server stay; what
// was fsync'd is all there; the replicas are identical. Also: with no
// primary at all (no majority left to elect one), a request fails with EIO
// after --failover-timeout, and the same attachment serves again once a
// primary exists.
// Needs root, /dev/fuse, loop devices and mkfs.ext4; skipped where missing.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "absl/strings/strip.h"
#include "csi/node/fuse_loop_attacher.h"
#include "csi/node/linux_mounter.h"
#include "replication/initiator/nbd_tls.h"
#include "replication/security/grpc_credentials.h"
#include "tests/csi/node_test_cleanup.h"
#include "tests/fault/fault_test_base.h"

namespace syncblock::testing {
namespace {

using csi::Attachment;
using csi::FuseLoopAttacher;
using csi::LinuxMounter;

bool CanRun() {
  return geteuid() == 0 && std::filesystem::exists("/dev/fuse") &&
         std::filesystem::exists("/dev/loop-control") && HaveTool("losetup") &&
         HaveTool("mkfs.ext4");
}

// The control addresses of the cluster's storage nodes (what the node plugin
// is configured with).
std::vector<std::string> ControlAddresses(const LocalCluster& c) {
  std::vector<std::string> out;
  nlohmann::json file = nlohmann::json::parse(ReadFile(c.dir() + "/cluster.json"), nullptr,
                                              /*allow_exceptions=*/false);
  if (!file.is_object()) return out;
  for (const auto& node : file["storage"]) out.push_back(node.value("control", ""));
  return out;
}

std::string Trim(const std::string& s) { return std::string(absl::StripAsciiWhitespace(s)); }

// Writes numbered files (64 KiB, each filled with its own byte, then fsync)
// until stopped or an error; counts the ones whose fsync succeeded.
class FsyncWriter {
 public:
  explicit FsyncWriter(std::string dir) : dir_(std::move(dir)) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~FsyncWriter() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int done() const { return done_.load(); }
  std::string error() {
    std::lock_guard<std::mutex> l(mu_);
    return error_;
  }
  static std::string Body(int i) { return std::string(64 * 1024, static_cast<char>('A' + i % 50)); }
  std::string Name(int i) const { return dir_ + "/f" + std::to_string(i); }

 private:
  void Loop() {
    for (int i = 0; !stop_; ++i) {
      const std::string body = Body(i);
      int fd = open(Name(i).c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) return Fail("open", i);
      if (write(fd, body.data(), body.size()) != static_cast<ssize_t>(body.size())) {
        close(fd);
        return Fail("write", i);
      }
      if (fsync(fd) != 0) {
        close(fd);
        return Fail("fsync", i);
      }
      close(fd);
      ++done_;
    }
  }
  void Fail(const char* what, int i) {
    std::lock_guard<std::mutex> l(mu_);
    error_ = std::string(what) + " f" + std::to_string(i) + ": " + std::strerror(errno);
  }

  std::string dir_;
  std::atomic<bool> stop_{false};
  std::atomic<int> done_{0};
  std::mutex mu_;
  std::string error_;
  std::thread thread_;
};

// The volume's URI as a publish context gives it: without the admin's
// client directory, which c.Export appends for the clients a test runs.
std::string PublishedUri(const LocalCluster& c, const std::string& volume) {
  const std::string uri = c.Export(volume);
  return uri.substr(0, uri.find('?'));
}

class FuseFailoverTest : public FaultTestBase {
 protected:
  void SetUp() override {
    if (!CanRun()) GTEST_SKIP() << "needs root, /dev/fuse, loop devices, mkfs.ext4";
    FaultTestBase::SetUp();
  }

  TempDir dir_;
  csi::NodeArtifactsGuard guard_{dir_.path()};
};

TEST_F(FuseFailoverTest, WriterSeesNoErrorWhenThePrimaryMovesByPromote) {
  LocalCluster c(3, "--no-csi");
  ASSERT_TRUE(c.ok()) << c.up_output();
  // The admin's certificate: the volume is published to no node here
  // (--no-csi), and a node's may open only what is published to it.
  security::SetProcessTlsFiles(c.Tls("admin"));
  repl::initiator::SetNbdClientTls(c.Tls("admin"));
  ASSERT_EQ(c.Ctl("volume create v --size 256M --replicas 3").exit_code, 0);
  const std::string uri = PublishedUri(c, "v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  ASSERT_EQ(secondaries.size(), 2u);

  FuseLoopAttacher attacher(dir_.Join("state"), std::chrono::seconds(30), SyncblockBinary());
  auto a = attacher.Attach({"v", uri, false, ControlAddresses(c)});
  ASSERT_TRUE(a.ok()) << a.status();
  LinuxMounter mounter;
  const std::string mnt = dir_.Join("mnt");
  std::filesystem::create_directories(mnt);
  ASSERT_TRUE(mounter.MakeFilesystem(a->device, "ext4").ok());
  ASSERT_TRUE(mounter.Mount(a->device, mnt, "ext4", {}).ok());
  const std::string disk = a->fuse_dir + "/disk";
  const std::string log = a->fuse_dir + ".log";

  FsyncWriter writer(mnt);
  ASSERT_TRUE(WaitFor([&] { return writer.done() >= 20 || !writer.error().empty(); },
                      std::chrono::seconds(60)));
  ASSERT_EQ(writer.error(), "");

  // A planned move (before draining the node, say): the primary steps down,
  // its NBD connections end with ESHUTDOWN, the attachment follows. (A
  // killed primary is replaced by an election: tests/fault/csi_failover_test.cc.)
  const int stalled_at = writer.done();
  CommandResult promote = c.Ctl("promote v " + secondaries[0]);
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  const std::string new_uri = PublishedUri(c, "v");
  ASSERT_FALSE(new_uri.empty());
  ASSERT_NE(new_uri, uri);

  // The writer carries on on the new primary.
  EXPECT_TRUE(WaitFor([&] { return writer.done() >= stalled_at + 20 || !writer.error().empty(); },
                      std::chrono::seconds(180)))
      << ReadFile(log);
  writer.Stop();
  EXPECT_EQ(writer.error(), "") << Tail(log, 4000);
  const int written = writer.done();

  // Same FUSE server, same loop device on the same file, same mount.
  EXPECT_TRUE(csi::IsFuseServer(a->fuse_pid));
  EXPECT_EQ(FuseLoopAttacher::LoopBackingFile(a->device), disk);
  EXPECT_EQ(*mounter.MountSource(mnt), a->device);
  EXPECT_TRUE(attacher.Check(*a).ok()) << attacher.Check(*a);
  // It says where it is connected now, and logged the move.
  EXPECT_EQ(FuseLoopAttacher::CurrentUri(*a), new_uri);
  EXPECT_NE(ReadFile(log).find("the primary moved from " + uri + " to " + new_uri),
            std::string::npos)
      << Tail(log, 4000);
  // Reconnect keeps the device: nothing to remount.
  auto again = attacher.Reconnect(*a, new_uri);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->device, a->device);
  EXPECT_EQ(again->fuse_pid, a->fuse_pid);

  // Everything fsync'd, before and after the failover, reads back through a
  // fresh mount of the same device (no page cache): from the new primary.
  ASSERT_TRUE(mounter.Unmount(mnt).ok());
  ASSERT_TRUE(mounter.Mount(a->device, mnt, "ext4", {}).ok());
  for (int i = 0; i < written; ++i) {
    ASSERT_EQ(ReadFile(writer.Name(i)), FsyncWriter::Body(i)) << "file " << i << " of " << written;
  }
  ASSERT_TRUE(mounter.Unmount(mnt).ok());

  // The old primary is a secondary now, and all replicas agree.
  ExpectIdentical(c, "v");
  ASSERT_TRUE(attacher.Detach(*a).ok());
}

TEST_F(FuseFailoverTest, NoPrimaryFailsWithEioAfterTheTimeoutAndServesAgainLater) {
  LocalCluster c(3, "--no-csi");
  ASSERT_TRUE(c.ok()) << c.up_output();
  // The admin's certificate: the volume is published to no node here
  // (--no-csi), and a node's may open only what is published to it.
  security::SetProcessTlsFiles(c.Tls("admin"));
  repl::initiator::SetNbdClientTls(c.Tls("admin"));
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  const std::string uri = PublishedUri(c, "v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);

  FuseLoopAttacher attacher(dir_.Join("state"), std::chrono::seconds(30), SyncblockBinary(),
                            /*failover_timeout=*/std::chrono::seconds(3));
  auto a = attacher.Attach({"v", uri, false, ControlAddresses(c)});
  ASSERT_TRUE(a.ok()) << a.status();
  const std::string disk = a->fuse_dir + "/disk";
  int fd = open(disk.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  std::string block(4096, 'p');
  ASSERT_EQ(pwrite(fd, block.data(), block.size(), 0), 4096);
  ASSERT_EQ(fsync(fd), 0);

  // The primary and one secondary die: the one replica left is no majority
  // and cannot elect itself, so no primary appears, and after the failover
  // timeout the request fails with EIO (liveness bound only). (Killing the
  // primary alone no longer leaves the volume without one: the other two
  // elect a successor.)
  ASSERT_TRUE(c.Kill(primary));
  ASSERT_TRUE(c.Kill(secondaries[0]));
  const auto start = std::chrono::steady_clock::now();
  block.assign(4096, 'q');
  errno = 0;
  EXPECT_EQ(pwrite(fd, block.data(), block.size(), 4096), -1);
  EXPECT_EQ(errno, EIO) << std::strerror(errno);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(90));

  // The export keeps serving: once a primary exists again (the secondary
  // returns and the two elect one), IO succeeds on the same file and loop
  // device.
  ASSERT_TRUE(c.Start(secondaries[0]));
  nlohmann::json v;
  ASSERT_TRUE(WaitFor(
      [&] {
        v = c.CtlJson("volume show v");
        return v.is_object() && v.value("serving", false) && v.value("primary", "") != primary;
      },
      std::chrono::seconds(120)))
      << v.dump();
  block.assign(4096, 'r');
  EXPECT_EQ(pwrite(fd, block.data(), block.size(), 8192), 4096) << std::strerror(errno);
  EXPECT_EQ(fsync(fd), 0) << std::strerror(errno);
  std::string back(4096, '\0');
  EXPECT_EQ(pread(fd, back.data(), back.size(), 0), 4096);
  EXPECT_EQ(back, std::string(4096, 'p'));
  EXPECT_EQ(pread(fd, back.data(), back.size(), 8192), 4096);
  EXPECT_EQ(back, std::string(4096, 'r'));
  close(fd);
  EXPECT_TRUE(csi::IsFuseServer(a->fuse_pid));
  EXPECT_EQ(FuseLoopAttacher::LoopBackingFile(a->device), disk);
  EXPECT_EQ(Trim(ReadFile(a->fuse_dir + ".uri")), PublishedUri(c, "v"));
  ASSERT_TRUE(attacher.Detach(*a).ok());
}

}  // namespace
}  // namespace syncblock::testing
