// Automatic failover with real processes (DESIGN.md rule 7,
// replication/doc/failover.md): the primary's storage node is killed with
// kill -9, or frozen with SIGSTOP for longer than its lease, while a writer
// keeps writing over NBD and finds the primary again through `ctl export`
// after an error. The survivors elect a new primary by themselves; every
// write acknowledged before, during and after holds its value; a frozen
// primary that wakes acknowledges nothing more and rejoins as a secondary;
// the replicas end identical.
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/fault/fault_test_base.h"

namespace syncblock::testing {
namespace {

class FailoverTest : public FaultTestBase {
 protected:
  // A shell loop writing 64 KiB block i with pattern i % 250 + 1 for i in
  // [0, count), each through the primary `ctl export` names, retrying a
  // block (and asking again) until it is acknowledged; a block's index goes
  // to `acked` once qemu-io reports it written.
  static std::string WriterLoop(const LocalCluster& c, const std::string& acked, int count) {
    const std::string ctl = SyncblockBinary() + " ctl --cluster " + c.dir();
    return std::string(kQemuIoShellFunction) + "uri=$(" + ctl + " export v); for i in $(seq 0 " +
           std::to_string(count - 1) +
           "); do n=0; until sb_qemu_io \"$uri\" -f raw -c \"write -P $((i % 250 + 1)) "
           "$((i * 65536)) 64k\" >/dev/null 2>&1; do n=$((n + 1)); [ $n -gt 600 ] && exit 1; "
           "sleep 0.1; uri=$(" +
           ctl + " export v 2>/dev/null); done; echo $i >> " + acked + "; done";
  }

  static int Pid(const LocalCluster& c, const std::string& node) {
    nlohmann::json j = nlohmann::json::parse(ReadFile(c.dir() + "/cluster.json"), nullptr, false);
    for (const auto& s : j["storage"]) {
      if (s["id"] == node) return s["pid"].get<int>();
    }
    return 0;
  }

  // Waits until `volume show` names a primary other than `old` that serves.
  static nlohmann::json WaitNewPrimary(const LocalCluster& c, const std::string& old) {
    nlohmann::json v;
    WaitFor(
        [&] {
          v = c.CtlJson("volume show v");
          return v.is_object() && v.value("primary", "") != old && !c.Export("v").empty();
        },
        std::chrono::seconds(60));
    return v;
  }
};

TEST_F(FailoverTest, KillingThePrimaryElectsAnotherAndLosesNoAcknowledgedWrite) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  const uint64_t epoch = c.CtlJson("volume show v")["epoch"].get<uint64_t>();

  TempDir tmp;
  const std::string acked = tmp.Join("acked");
  Subprocess writer({"/bin/sh", "-c", WriterLoop(c, acked, 200)}, tmp.Join("writer.log"));
  ASSERT_TRUE(WaitFor([&] { return ReadFile(acked).size() > 100; }, std::chrono::seconds(120)));
  ASSERT_TRUE(c.Kill(primary));

  // No person acts: the two survivors elect one of them.
  nlohmann::json v = WaitNewPrimary(c, primary);
  ASSERT_TRUE(v.is_object());
  EXPECT_NE(v.value("primary", ""), primary) << v.dump(2);
  EXPECT_GT(v["epoch"].get<uint64_t>(), epoch) << v.dump(2);
  EXPECT_EQ(v.value("last_failover_from", ""), primary) << v.dump(2);
  EXPECT_NE(v.value("last_failover_reason", "").find("election"), std::string::npos) << v.dump(2);
  EXPECT_EQ(writer.Wait(), 0) << ReadFile(tmp.Join("writer.log"));

  std::string uri = c.Export("v");
  ASSERT_FALSE(uri.empty());
  ExpectAcknowledgedBlocks(uri, acked);

  // The old primary returns as a secondary and is resynced.
  ASSERT_TRUE(c.Start(primary));
  ExpectIdentical(c, "v");
  nlohmann::json after = c.CtlJson("volume show v");
  EXPECT_NE(after.value("primary", ""), primary) << after.dump(2);
  ExpectAcknowledgedBlocks(c.Export("v"), acked);
}

TEST_F(FailoverTest, AFrozenPrimaryIsReplacedAndAcknowledgesNothingWhenItWakes) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  std::string primary;
  std::vector<std::string> secondaries;
  Roles(c, "v", &primary, &secondaries);
  const std::string old_uri = c.Export("v");
  ASSERT_EQ(QemuIo(old_uri, "-c 'write -P 0x11 0 1M'"), 0);
  const int pid = Pid(c, primary);
  ASSERT_GT(pid, 0);

  ASSERT_EQ(kill(pid, SIGSTOP), 0);
  nlohmann::json v = WaitNewPrimary(c, primary);
  const std::string new_primary = v.value("primary", "");
  ASSERT_NE(new_primary, primary) << v.dump(2);
  const std::string new_uri = c.Export("v");
  ASSERT_FALSE(new_uri.empty());
  ASSERT_NE(new_uri, old_uri);
  std::string out;
  ASSERT_EQ(QemuIo(new_uri, "-c 'read -P 0x11 0 1M' -c 'write -P 0x22 0 1M'", &out), 0) << out;

  // Awake again, the old primary's lease has run out: it takes nothing more,
  // learns of the new epoch and steps down.
  ASSERT_EQ(kill(pid, SIGCONT), 0);
  EXPECT_NE(QemuIo(old_uri, "-c 'write -P 0x33 0 4k'", &out), 0) << out;
  EXPECT_EQ(QemuIo(new_uri, "-c 'read -P 0x22 0 1M'", &out), 0) << out;
  EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
  ExpectIdentical(c, "v");
  nlohmann::json after = c.CtlJson("volume show v");
  EXPECT_EQ(after.value("primary", ""), new_primary) << after.dump(2);
}

}  // namespace
}  // namespace syncblock::testing
