// The engine under the faults of issue 8, with real storage processes and real
// NBD clients: a secondary frozen with SIGSTOP under load (a hung node, not a
// dead one), a secondary's disk full, both secondaries' disks full, the
// primary's disk full, and a network partition between the primary and one
// secondary (iptables black-holes its replication port). In each: nothing
// acknowledged is lost, the replicas converge, the errors are precise.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "tests/fault/fault_test_base.h"

namespace syncblock::testing {
namespace {

class EngineFaultTest : public FaultTestBase {
 protected:
  void TearDown() override {
    for (const std::string& rule : iptables_) RunCommand("iptables -D " + rule);
    for (const std::string& m : mounts_) umount2(m.c_str(), MNT_DETACH);
    for (pid_t pid : stopped_) kill(pid, SIGCONT);
  }

  static nlohmann::json Node(const LocalCluster& c, const std::string& id) {
    std::ifstream f(c.dir() + "/cluster.json");
    nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
    for (const auto& s : j["storage"]) {
      if (s["id"] == id) return s;
    }
    return nullptr;
  }

  static nlohmann::json Replica(const LocalCluster& c, const std::string& volume,
                                const std::string& node) {
    nlohmann::json v = c.CtlJson("volume show " + volume);
    if (!v.is_object()) return nullptr;
    for (const auto& r : v["replicas"]) {
      if (r["node"] == node) return r;
    }
    return nullptr;
  }

  // Gives node `id` a data directory on a tmpfs of `size` (a disk that fills
  // up): the node is stopped, its files moved onto the tmpfs, and started.
  void SmallDisk(const LocalCluster& c, const std::string& id, const std::string& size) {
    std::string dir = Node(c, id)["data_dir"].get<std::string>();
    ASSERT_TRUE(c.Kill(id));
    ASSERT_EQ(RunCommand("mv " + dir + " " + dir + ".orig && mkdir " + dir).exit_code, 0);
    ASSERT_EQ(mount("tmpfs", dir.c_str(), "tmpfs", 0, ("size=" + size).c_str()), 0)
        << std::strerror(errno);
    mounts_.push_back(dir);
    ASSERT_EQ(RunCommand("cp -a " + dir + ".orig/. " + dir + "/").exit_code, 0);
    ASSERT_TRUE(c.Start(id));
  }
  void GrowDisk(const LocalCluster& c, const std::string& id, const std::string& size) {
    std::string dir = Node(c, id)["data_dir"].get<std::string>();
    ASSERT_EQ(mount("tmpfs", dir.c_str(), "tmpfs", MS_REMOUNT, ("size=" + size).c_str()), 0)
        << std::strerror(errno);
  }

  std::vector<std::string> iptables_;
  std::vector<std::string> mounts_;
  std::vector<pid_t> stopped_;
};

// Frozen for 30 s while a writer runs: writes go on with the other two.
TEST_F(EngineFaultTest, FrozenSecondaryUnderLoadDoesNotStallTheVolume) {
  LocalCluster c(3, "--no-csi --resync-rate 0");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 512M --replicas 3").exit_code, 0);
  std::string uri = c.Export("v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  pid_t frozen = Node(c, secondaries[0])["pid"].get<pid_t>();
  ASSERT_GT(frozen, 0);

  TempDir tmp;
  std::string in = tmp.Join("in.bin"), out = tmp.Join("out.bin");
  ASSERT_EQ(RunCommand("head -c 192M /dev/urandom > " + in).exit_code, 0);
  ASSERT_EQ(kill(frozen, SIGSTOP), 0);
  auto freeze_start = std::chrono::steady_clock::now();
  stopped_.push_back(frozen);
  // A writer that runs through the whole freeze: small requests, so that it
  // takes a while, with a flush at the end (nbdcopy flushes).
  Subprocess copy({"nbdcopy", "--connections=1", "--requests=8", "--request-size=65536", in, uri},
                  tmp.Join("copy.log"));
  // The frozen replica is dropped to its dirty bitmap, not waited for.
  EXPECT_TRUE(WaitFor(
      [&] {
        nlohmann::json r = Replica(c, "v", secondaries[0]);
        return r.is_object() && r["state"] != "in_sync" && r["state"] != "resyncing";
      },
      std::chrono::seconds(60)))
      << c.Ctl("volume show v").output;
  nlohmann::json r = Replica(c, "v", secondaries[0]);
  // Dropped by whichever bound it passed first: time or bytes.
  EXPECT_TRUE(r.dump().find("no acknowledgement") != std::string::npos ||
              r.dump().find("fell behind") != std::string::npos)
      << r.dump();
  ASSERT_EQ(copy.Wait(), 0) << ReadFile(tmp.Join("copy.log"));
  // Everything the writer was told is written reads back, still frozen.
  ASSERT_EQ(RunCommand("nbdcopy '" + uri + "' - | head -c 192M > " + out).exit_code, 0);
  EXPECT_EQ(RunCommand("cmp " + in + " " + out).exit_code, 0);
  // Keep writing until the replica has been frozen for 30 s: one 1 MiB
  // pattern per slot past the copied data, each rewritten, then all checked.
  auto frozen_until = freeze_start + std::chrono::seconds(30);
  std::vector<int> last(16, -1);
  for (int i = 0; std::chrono::steady_clock::now() < frozen_until; ++i) {
    int slot = i % 16;
    std::string o;
    ASSERT_EQ(QemuIo(uri,
                     "-c 'write -P " + std::to_string(i % 250 + 1) + " " +
                         std::to_string(200 + slot) + "M 1M' -c flush",
                     &o),
              0)
        << o;
    last[slot] = i % 250 + 1;
  }
  for (int slot = 0; slot < 16; ++slot) {
    if (last[slot] < 0) continue;
    std::string o;
    EXPECT_EQ(QemuIo(uri,
                     "-c 'read -P " + std::to_string(last[slot]) + " " +
                         std::to_string(200 + slot) + "M 1M'",
                     &o),
              0)
        << o;
  }

  ASSERT_EQ(kill(frozen, SIGCONT), 0);
  stopped_.clear();
  ExpectIdentical(c, "v");
}

TEST_F(EngineFaultTest, SecondaryDiskFullFailsOnlyThatReplica) {
  LocalCluster c(3, "--no-csi --resync-rate 0");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 256M --replicas 3").exit_code, 0);
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  SmallDisk(c, secondaries[0], "48M");
  ASSERT_TRUE(c.WaitInSync("v")) << c.Ctl("volume show v").output;
  std::string uri = c.Export("v");

  std::string out;
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x5a 0 128M' -c 'flush'", &out), 0) << out;
  nlohmann::json r = Replica(c, "v", secondaries[0]);
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["state"], "failed") << r.dump();
  EXPECT_NE(r.dump().find("space"), std::string::npos) << r.dump();
  EXPECT_EQ(QemuIo(uri, "-c 'read -P 0x5a 0 128M'", &out), 0) << out;

  // Space again: it comes back and converges.
  GrowDisk(c, secondaries[0], "512M");
  ExpectIdentical(c, "v");
}

TEST_F(EngineFaultTest, BothSecondariesFullFailWritesAtOnceWithNoSpace) {
  // A long IO timeout: the write must fail because the replicas said so, not
  // because the timeout ran out.
  LocalCluster c(3, "--no-csi --resync-rate 0 --io-timeout-ms 600000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 256M --replicas 3").exit_code, 0);
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  for (const auto& s : secondaries) SmallDisk(c, s, "24M");
  ASSERT_TRUE(c.WaitInSync("v")) << c.Ctl("volume show v").output;
  std::string uri = c.Export("v");

  std::string out;
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x11 0 8M'", &out), 0) << out;
  EXPECT_NE(QemuIo(uri, "-c 'write -P 0x22 8M 64M'", &out), 0) << out;
  EXPECT_NE(out.find("No space left on device"), std::string::npos) << out;
  // What was acknowledged before is intact.
  EXPECT_EQ(QemuIo(uri, "-c 'read -P 0x11 0 8M'", &out), 0) << out;
  for (const auto& s : secondaries) GrowDisk(c, s, "512M");
  EXPECT_TRUE(WaitFor([&] { return QemuIo(uri, "-c 'write -P 0x33 8M 1M'") == 0; },
                      std::chrono::seconds(120)));
  ExpectIdentical(c, "v");
}

TEST_F(EngineFaultTest, PrimaryDiskFullFailsTheWriteAndSaysWhy) {
  LocalCluster c(3, "--no-csi --resync-rate 0");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 256M --replicas 3").exit_code, 0);
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  SmallDisk(c, primary, "24M");
  ASSERT_TRUE(c.WaitInSync("v")) << c.Ctl("volume show v").output;
  std::string uri = c.Export("v");

  std::string out;
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x44 0 4M'", &out), 0) << out;
  EXPECT_NE(QemuIo(uri, "-c 'write -P 0x55 4M 64M'", &out), 0) << out;
  EXPECT_NE(out.find("No space left on device"), std::string::npos) << out;
  nlohmann::json r = Replica(c, "v", primary);
  ASSERT_TRUE(r.is_object());
  EXPECT_NE(r.dump().find("space"), std::string::npos) << r.dump();
  EXPECT_EQ(QemuIo(uri, "-c 'read -P 0x44 0 4M'", &out), 0) << out;
  GrowDisk(c, primary, "512M");
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x66 4M 64M' -c 'flush'", &out), 0) << out;
  EXPECT_EQ(QemuIo(uri, "-c 'read -P 0x44 0 4M' -c 'read -P 0x66 4M 64M'", &out), 0) << out;
  ExpectIdentical(c, "v");
}

TEST_F(EngineFaultTest, PartitionedSecondaryIsDroppedAndResyncedAfterwards) {
  LocalCluster c(3, "--no-csi --resync-rate 0");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 256M --replicas 3").exit_code, 0);
  std::string uri = c.Export("v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  nlohmann::json node = Node(c, secondaries[0]);
  std::string addr = node["replication"].is_string() ? node["replication"].get<std::string>() : "";
  ASSERT_FALSE(addr.empty()) << node.dump();
  std::string port = addr.substr(addr.rfind(':') + 1);
  for (const char* dir : {"--dport", "--sport"}) {
    std::string rule = std::string("INPUT -i lo -p tcp ") + dir + " " + port + " -j DROP";
    ASSERT_EQ(RunCommand("iptables -I " + rule).exit_code, 0);
    iptables_.push_back(rule);
  }
  std::string out;
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x77 0 32M' -c 'flush'", &out), 0) << out;
  EXPECT_TRUE(WaitFor(
      [&] {
        nlohmann::json r = Replica(c, "v", secondaries[0]);
        return r.is_object() && r["state"] == "offline";
      },
      std::chrono::seconds(60)))
      << c.Ctl("volume show v").output;
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x78 32M 32M' -c 'flush'", &out), 0) << out;
  for (const std::string& rule : iptables_) RunCommand("iptables -D " + rule);
  iptables_.clear();
  ExpectIdentical(c, "v");
  EXPECT_EQ(QemuIo(uri, "-c 'read -P 0x77 0 32M' -c 'read -P 0x78 32M 32M'", &out), 0) << out;
}

// The real daemon with a disk whose fsync fails (a failpoint file read by
// its Env): the secondary refuses the flush and is failed with the error;
// the flush succeeds on the other two, a majority.
TEST_F(EngineFaultTest, SecondaryFsyncFailureFailsOnlyThatReplica) {
  TempDir faults;
  setenv("SYNCBLOCK_FAILPOINTS", faults.Join("{node}.faults").c_str(), 1);
  LocalCluster c(3, "--no-csi --resync-rate 0");
  unsetenv("SYNCBLOCK_FAILPOINTS");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  std::string uri = c.Export("v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  std::string fault = faults.Join(secondaries[0] + ".faults");
  ASSERT_EQ(RunCommand("echo sync=EIO > " + fault).exit_code, 0);

  std::string out;
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x3c 0 4M' -c 'flush'", &out), 0) << out;
  nlohmann::json r = Replica(c, "v", secondaries[0]);
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["state"], "failed") << r.dump();
  EXPECT_NE(r.dump().find("Input/output error"), std::string::npos) << r.dump();
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x3d 4M 4M' -c 'flush'", &out), 0) << out;

  ASSERT_EQ(std::remove(fault.c_str()), 0);
  ExpectIdentical(c, "v");
  EXPECT_EQ(QemuIo(uri, "-c 'read -P 0x3c 0 4M' -c 'read -P 0x3d 4M 4M'", &out), 0) << out;
}

}  // namespace
}  // namespace syncblock::testing
