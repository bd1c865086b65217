// Replication under faults, with real processes killed by SIGKILL: a secondary
// lost during a copy and resynced incrementally, a majority lost, the primary
// killed, and a promotion while a writer runs (DESIGN.md, rules 1 to 4).
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <set>
#include <thread>

#include "tests/fault/fault_test_base.h"

namespace syncblock::testing {
namespace {

constexpr uint64_t kMiB = 1 << 20;

using ReplicationFaultTest = FaultTestBase;

TEST_F(ReplicationFaultTest, SecondaryKilledDuringCopyResyncsOnlyWhatChanged) {
  LocalCluster c(3, "--no-csi --resync-rate 0");
  ASSERT_TRUE(c.ok()) << c.up_output();
  // A 1 GiB volume of which 256 MiB are written: a full copy would be 1 GiB.
  ASSERT_EQ(c.Ctl("volume create v --size 1G --replicas 3").exit_code, 0);
  std::string uri = c.Export("v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  ASSERT_EQ(secondaries.size(), 2u);

  TempDir tmp;
  std::string in = tmp.Join("in.bin"), out = tmp.Join("out.bin");
  ASSERT_EQ(RunCommand("head -c 256M /dev/urandom > " + in).exit_code, 0);
  // Small requests one at a time make the copy last seconds, so the kill
  // lands in the middle of it.
  Subprocess copy({"nbdcopy", "--connections=1", "--requests=1", "--request-size=16384", in, uri},
                  tmp.Join("copy.log"));
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  ASSERT_TRUE(c.Kill(secondaries[0]));
  ASSERT_EQ(copy.Wait(), 0) << ReadFile(tmp.Join("copy.log"));

  // Degraded: the copy completed with 2 of 3 replicas; the data is right.
  ASSERT_EQ(RunCommand("nbdcopy '" + uri + "' - | head -c 256M > " + out).exit_code, 0);
  EXPECT_EQ(RunCommand("cmp " + in + " " + out).exit_code, 0);
  nlohmann::json v = c.CtlJson("volume show v");
  ASSERT_TRUE(v.is_object());
  for (const auto& r : v["replicas"]) {
    if (r["node"] == secondaries[0]) {
      EXPECT_EQ(r["state"], "offline") << v.dump();
    }
  }

  ASSERT_TRUE(c.Start(secondaries[0]));
  ExpectIdentical(c, "v");
  nlohmann::json status = c.CtlJson("resync-status v");
  ASSERT_TRUE(status.is_object());
  uint64_t copied = 0;
  bool full = true;
  for (const auto& r : status["replicas"]) {
    if (r["node"] == secondaries[0]) {
      copied = r["bytes_copied"].get<uint64_t>();
      full = r["full"].get<bool>();
    }
  }
  // Only the regions written while it was away: at most the 256 MiB copied
  // (plus the regions in flight at the kill), far from the 1 GiB volume.
  EXPECT_FALSE(full);
  EXPECT_GT(copied, 0u);
  EXPECT_LE(copied, 256 * kMiB + 4 * kMiB) << status.dump();
}

TEST_F(ReplicationFaultTest, NoWriteAcknowledgedWithoutMajority) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 3000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  std::string uri = c.Export("v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0xa1 0 1M'"), 0);

  ASSERT_TRUE(c.Kill(secondaries[0]));
  ASSERT_TRUE(c.Kill(secondaries[1]));
  std::string out;
  // Alone, the primary acknowledges nothing: the write fails (EIO) after the
  // IO timeout.
  EXPECT_NE(QemuIo(uri, "-c 'write -P 0xb2 4M 64k'", &out), 0) << out;
  EXPECT_NE(out.find("Input/output error"), std::string::npos) << out;

  // One replica back is a majority again: IO resumes by itself, and what was
  // acknowledged before is all there.
  ASSERT_TRUE(c.Start(secondaries[0]));
  EXPECT_TRUE(WaitFor([&] { return QemuIo(uri, "-c 'write -P 0xc3 8M 64k'") == 0; },
                      std::chrono::seconds(30)));
  EXPECT_EQ(QemuIo(uri, "-c 'read -P 0xa1 0 1M' -c 'read -P 0xc3 8M 64k'", &out), 0) << out;
  ASSERT_TRUE(c.Start(secondaries[1]));
  ExpectIdentical(c, "v");
}

TEST_F(ReplicationFaultTest, PrimaryKilledAndRestartedKeepsAcknowledgedWrites) {
  LocalCluster c(3, "--no-csi");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 128M --replicas 3").exit_code, 0);
  std::string uri = c.Export("v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  TempDir tmp;
  // A writer busy when the primary dies: its last writes are in flight.
  Subprocess writer({"fio", "--name=w", "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite",
                     "--bs=4k", "--iodepth=32", "--size=64M", "--time_based", "--runtime=10"},
                    tmp.Join("fio.log"));
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x5e 100M 1M'"), 0);
  ASSERT_TRUE(c.Kill(primary));
  writer.Kill(SIGKILL);
  writer.Wait();
  ASSERT_TRUE(c.Start(primary));
  // The restarted primary resyncs the regions it had in flight (its activity
  // log) to every replica: they converge, and the acknowledged write is there.
  ExpectIdentical(c, "v");
  std::string out;
  std::string uri_after = c.Export("v");
  ASSERT_FALSE(uri_after.empty());
  EXPECT_EQ(QemuIo(uri_after, "-c 'read -P 0x5e 100M 1M'", &out), 0) << out;
}

TEST_F(ReplicationFaultTest, PromotionWhileWritingLosesNoAcknowledgedWrite) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 5000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  std::string old_uri = c.Export("v");
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);

  // Each block gets its own pattern; a block's index is logged only once
  // qemu-io reports the write acknowledged (exit 0).
  TempDir tmp;
  std::string acked = tmp.Join("acked");
  std::string loop =
      "for i in $(seq 0 199); do qemu-io -f raw '" + old_uri +
      "' -c \"write -P $((i % 250 + 1)) $((i * 65536)) 64k\" >/dev/null 2>&1 && echo $i >> " +
      acked + "; done";
  Subprocess writer({"/bin/sh", "-c", loop});
  ASSERT_TRUE(WaitFor([&] { return ReadFile(acked).size() > 40; }, std::chrono::seconds(60)));
  CommandResult promote = c.Ctl("promote v " + secondaries[0]);
  ASSERT_EQ(promote.exit_code, 0) << promote.output;
  writer.Wait();

  nlohmann::json v = c.CtlJson("volume show v");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v["primary"], secondaries[0]);
  EXPECT_GE(v["epoch"].get<uint64_t>(), 2u);
  std::string new_uri = c.Export("v");
  ASSERT_NE(new_uri, old_uri);

  // The deposed primary acknowledges nothing any more.
  EXPECT_NE(QemuIo(old_uri, "-c 'write -P 0xee 0 4k'"), 0);

  ExpectAcknowledgedBlocks(new_uri, acked);

  // The new primary keeps writing with a majority, and the replicas converge.
  EXPECT_EQ(QemuIo(new_uri, "-c 'write -P 0x7f 32M 1M' -c 'read -P 0x7f 32M 1M'"), 0);
  ExpectIdentical(c, "v");
}

}  // namespace
}  // namespace syncblock::testing
