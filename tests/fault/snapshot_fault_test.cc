// A secondary killed just before and during a snapshot, on a real local
// cluster: the snapshot is ready on the majority at once; once the replica is
// back and resynced it holds the snapshot too, identical to the others, and a
// clone made from its copy reads the snapshot's data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using json = nlohmann::json;

bool ReadyOnAll(const LocalCluster& c, const std::string& snapshot, size_t replicas) {
  json s = c.CtlJson("snapshot show " + snapshot);
  if (s.is_null() || s["replicas"].size() != replicas) return false;
  for (const auto& r : s["replicas"]) {
    if (r["state"] != "ready") return false;
  }
  return true;
}

void ExpectSnapshotCaughtUp(const LocalCluster& c, const std::string& snapshot) {
  ASSERT_TRUE(WaitFor([&] { return ReadyOnAll(c, snapshot, 3); }, std::chrono::seconds(120)))
      << c.Ctl("snapshot show " + snapshot).output << c.NodeLog("node-3");
  auto verify = c.Ctl("snapshot verify " + snapshot);
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
  EXPECT_THAT(verify.output, ::testing::HasSubstr("identical"));
}

class SnapshotFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HaveTool("qemu-io")) GTEST_SKIP() << "needs qemu-io";
    ASSERT_TRUE(c_.ok()) << c_.up_output();
    ASSERT_EQ(c_.Ctl("volume create v --size 16M --replicas 3 --nodes node-1,node-2,node-3")
                  .exit_code,
              0);
    ASSERT_TRUE(c_.WaitInSync("v"));
    Io("write -P 0x31 0 4M");
  }
  void Io(const std::string& command) {
    auto r = RunCommand("qemu-io -f raw -c '" + command + "' '" + c_.Export("v") + "'",
                        std::chrono::seconds(60));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_THAT(r.output, ::testing::Not(::testing::HasSubstr("verification failed"))) << command;
  }

  LocalCluster c_{3};
};

TEST_F(SnapshotFaultTest, ReplicaKilledBeforeSnapshotGetsItAfterResync) {
  ASSERT_TRUE(c_.Kill("node-3"));
  json snap = c_.CtlJson("snapshot create v before");
  ASSERT_FALSE(snap.is_null());
  EXPECT_EQ(snap["ready_to_use"], true);  // two of three hold it
  Io("write -P 0x32 0 2M");
  ASSERT_TRUE(c_.Start("node-3"));
  ASSERT_TRUE(c_.WaitInSync("v"));
  ExpectSnapshotCaughtUp(c_, "v@before");

  // The returned replica's copy is a whole snapshot: clone from it there.
  ASSERT_EQ(c_.Ctl("volume create back --from-snapshot v@before --replicas 1 --nodes node-3")
                .exit_code,
            0);
  auto r = RunCommand("qemu-io -f raw -c 'read -P 0x31 0 4M' -c 'read -P 0 4M 12M' '" +
                      c_.Export("back") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::Not(::testing::HasSubstr("verification failed")));
}

TEST_F(SnapshotFaultTest, ReplicaKilledDuringSnapshotGetsItAfterResync) {
  TempDir tmp;
  Subprocess create({SyncblockBinary(), "ctl", "--cluster", c_.dir(), "snapshot", "create", "v",
                     "during", "-o", "json"},
                    tmp.Join("create.log"));
  ASSERT_TRUE(c_.Kill("node-3"));
  EXPECT_EQ(create.Wait(), 0) << ReadFile(tmp.Join("create.log"));
  Io("write -P 0x33 1M 1M");
  ASSERT_TRUE(c_.Start("node-3"));
  ASSERT_TRUE(c_.WaitInSync("v"));
  ExpectSnapshotCaughtUp(c_, "v@during");
  ASSERT_EQ(c_.Ctl("volume create during --from-snapshot v@during --replicas 3").exit_code, 0);
  auto r = RunCommand("qemu-io -f raw -c 'read -P 0x31 0 4M' '" + c_.Export("during") + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::Not(::testing::HasSubstr("verification failed")));
}

}  // namespace
}  // namespace syncblock::testing
