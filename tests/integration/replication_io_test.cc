// Client IO through a replicated volume with NBD clients we did not write
// (qemu-io, nbdinfo, nbdcopy), against a real three-node cluster.
#include <gtest/gtest.h>

#include "tests/support/local_cluster.h"

namespace syncblock::testing {
namespace {

class ReplicationIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"qemu-io", "nbdinfo", "nbdcopy"}) {
      if (!HaveTool(tool)) GTEST_SKIP() << tool << " is not installed";
    }
    ASSERT_TRUE(cluster_.ok()) << cluster_.up_output();
  }

  // Runs qemu-io with each of `cmds` against `uri`; returns its output, and
  // fails the test when qemu-io fails (a pattern mismatch exits 1).
  std::string QemuIo(const std::string& uri, const std::vector<std::string>& cmds) {
    std::string line = "qemu-io -f raw '" + uri + "'";
    for (const auto& c : cmds) line += " -c '" + c + "'";
    CommandResult r = RunCommand(line, std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << line << "\n" << r.output;
    EXPECT_EQ(r.output.find("Pattern verification failed"), std::string::npos) << r.output;
    return r.output;
  }

  void ExpectIdentical(const std::string& volume) {
    ASSERT_TRUE(cluster_.WaitInSync(volume));
    nlohmann::json v = cluster_.CtlJson("verify " + volume);
    ASSERT_TRUE(v.is_object());
    EXPECT_TRUE(v["identical"].get<bool>()) << v.dump();
    EXPECT_TRUE(v["differing_regions"].empty()) << v.dump();
  }

  LocalCluster cluster_;
};

TEST_F(ReplicationIoTest, NbdinfoShowsSizeAndFlags) {
  ASSERT_EQ(cluster_.Ctl("volume create info --size 256M --replicas 3").exit_code, 0);
  std::string uri = cluster_.Export("info");
  ASSERT_FALSE(uri.empty());
  CommandResult r = RunCommand("nbdinfo --json '" + uri + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto info = nlohmann::json::parse(r.output);
  const auto& e = info["exports"][0];
  EXPECT_EQ(e["export-name"], "info");
  EXPECT_EQ(e["export-size"].get<uint64_t>(), 256ull << 20);
  EXPECT_TRUE(e["can_flush"].get<bool>());
  EXPECT_TRUE(e["can_fua"].get<bool>());
  EXPECT_TRUE(e["can_trim"].get<bool>());
  EXPECT_TRUE(e["can_zero"].get<bool>());
  EXPECT_TRUE(e["can_multi_conn"].get<bool>());
  EXPECT_FALSE(e["is_read_only"].get<bool>());

  // The export is served by the primary only; a secondary does not list it.
  nlohmann::json show = cluster_.CtlJson("volume show info");
  ASSERT_TRUE(show.is_object());
  EXPECT_EQ(WithNbdTls(show["nbd_uri"].get<std::string>()), uri);
  EXPECT_EQ(show["replicas"].size(), 3u);
}

TEST_F(ReplicationIoTest, QemuIoPatternsRoundTrip) {
  ASSERT_EQ(cluster_.Ctl("volume create io --size 256M --replicas 3").exit_code, 0);
  std::string uri = cluster_.Export("io");
  QemuIo(uri, {
                  "write -P 0xab 0 1M",
                  "read -P 0xab 0 1M",
                  // Unaligned offset and length, across region boundaries.
                  "write -P 0x11 12345 777777",
                  "read -P 0x11 12345 777777",
                  "read -P 0xab 0 12345",
                  // A large request.
                  "write -P 0x22 64M 16M",
                  "read -P 0x22 64M 16M",
                  // FUA, then an explicit flush.
                  "write -f -P 0x33 100M 64k",
                  "flush",
                  "read -P 0x33 100M 64k",
                  // Trim and write-zeroes read back as zeros.
                  "discard 64M 4M",
                  "read -P 0 64M 4M",
                  "read -P 0x22 68M 12M",
                  "write -z 100M 64k",
                  "read -P 0 100M 64k",
                  // The last byte of the volume.
                  "write -P 0x44 268435455 1",
                  "read -P 0x44 268435455 1",
              });
  // Past the end is an error, not a crash.
  CommandResult past = RunCommand("qemu-io -f raw '" + uri + "' -c 'write -P 0x55 268435456 4096'");
  EXPECT_NE(past.exit_code, 0);
  QemuIo(uri, {"read -P 0xab 0 12345"});
  ExpectIdentical("io");
}

TEST_F(ReplicationIoTest, NbdcopyOf256MiBRoundTripsOnThreeReplicas) {
  TempDir tmp;
  std::string in = tmp.Join("in.bin"), out = tmp.Join("out.bin");
  ASSERT_EQ(RunCommand("head -c 256M /dev/urandom > " + in).exit_code, 0);
  ASSERT_EQ(cluster_.Ctl("volume create copy --size 256M --replicas 3").exit_code, 0);
  std::string uri = cluster_.Export("copy");
  CommandResult put = RunCommand("nbdcopy " + in + " '" + uri + "'", std::chrono::seconds(300));
  ASSERT_EQ(put.exit_code, 0) << put.output;
  CommandResult get = RunCommand("nbdcopy '" + uri + "' " + out, std::chrono::seconds(300));
  ASSERT_EQ(get.exit_code, 0) << get.output;
  CommandResult sums =
      RunCommand("sha256sum " + in + " " + out + " | awk '{print $1}' | uniq | wc -l");
  EXPECT_EQ(sums.output, "1\n") << "the data read back differs from what was written";
  ExpectIdentical("copy");
}

TEST_F(ReplicationIoTest, SingleReplicaVolumeServesIo) {
  ASSERT_EQ(cluster_.Ctl("volume create solo --size 64M --replicas 1").exit_code, 0);
  std::string uri = cluster_.Export("solo");
  QemuIo(uri, {"write -P 0x61 0 4M", "flush", "read -P 0x61 0 4M"});
  nlohmann::json v = cluster_.CtlJson("volume show solo");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v["replicas"].size(), 1u);
}

}  // namespace
}  // namespace syncblock::testing
