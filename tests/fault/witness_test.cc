// Two data replicas and a witness (replication/doc/failover.md, "Witness"),
// real processes and kill -9: IO goes on when either data node or the
// witness dies; with a data node and the witness gone, no write is
// acknowledged; a replica that missed acknowledged writes is never elected;
// the witness costs no data space and can move to another node.
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "replication/client/witness_keeper.h"
#include "tests/fault/fault_test_base.h"

namespace syncblock::testing {
namespace {

class WitnessTest : public FaultTestBase {
 protected:
  // A 2-replica volume on node-1 (primary) and node-2, node-3 its witness.
  void CreateVolume(const LocalCluster& c) {
    CommandResult r =
        c.Ctl("volume create v --size 64M --replicas 2 --nodes node-1,node-2 --witness node-3");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_TRUE(c.WaitInSync("v")) << c.Ctl("volume show v").output;
    ASSERT_TRUE(WaitFor(
        [&] {
          nlohmann::json v = c.CtlJson("volume show v");
          return v.is_object() && v["witness"].is_object() &&
                 v["witness"].value("state", "") == "in_sync";
        },
        std::chrono::seconds(60)))
        << c.Ctl("volume show v").output;
  }

  // A write that must be acknowledged (by whichever primary serves).
  static void Write(const LocalCluster& c, int pattern, uint64_t offset) {
    std::string out;
    bool ok = WaitFor(
        [&] {
          const std::string uri = c.Export("v");
          return !uri.empty() && QemuIo(uri,
                                        "-c 'write -P " + std::to_string(pattern) + " " +
                                            std::to_string(offset) + " 64k'",
                                        &out) == 0;
        },
        std::chrono::seconds(90));
    EXPECT_TRUE(ok) << out << c.Ctl("volume show v").output;
  }

  static void ExpectPattern(const LocalCluster& c, int pattern, uint64_t offset) {
    std::string out;
    const std::string uri = c.Export("v");
    ASSERT_FALSE(uri.empty()) << c.Ctl("volume show v").output;
    EXPECT_EQ(
        QemuIo(uri,
               "-c 'read -P " + std::to_string(pattern) + " " + std::to_string(offset) + " 64k'",
               &out),
        0)
        << out;
    EXPECT_EQ(out.find("Pattern verification failed"), std::string::npos) << out;
  }

  static std::vector<std::string> Outdated(const LocalCluster& c) {
    nlohmann::json v = c.CtlJson("volume show v");
    std::vector<std::string> out;
    if (v.is_object() && v["witness"].is_object()) {
      for (const auto& id : v["witness"]["outdated"]) out.push_back(id.get<std::string>());
    }
    return out;
  }
};

TEST_F(WitnessTest, ShownApartAndHoldsNoData) {
  LocalCluster c(3, "--no-csi");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CreateVolume(c);
  nlohmann::json v = c.CtlJson("volume show v");
  ASSERT_EQ(v["replicas"].size(), 2u) << v.dump(2);
  EXPECT_EQ(v["witness"]["node"], "node-3") << v.dump(2);
  Write(c, 7, 0);
  struct stat st {};
  const std::string data = c.dir() + "/data/node-3/volumes/v/data";
  ASSERT_EQ(stat(data.c_str(), &st), 0) << data;
  EXPECT_EQ(st.st_size, 0);
  EXPECT_EQ(st.st_blocks, 0);
  CommandResult text = c.Ctl("volume show v");
  EXPECT_NE(text.output.find("witness"), std::string::npos) << text.output;
  nlohmann::json verify = c.CtlJson("verify v");
  ASSERT_TRUE(verify.is_object());
  EXPECT_TRUE(verify["identical"].get<bool>()) << verify.dump() << ": the witness is not compared";
}

TEST_F(WitnessTest, IoGoesOnWhenEitherDataNodeOrTheWitnessDies) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CreateVolume(c);
  Write(c, 1, 0);

  // The secondary: the primary goes on with the witness, which records it.
  ASSERT_TRUE(c.Kill("node-2"));
  Write(c, 2, 1 << 20);
  EXPECT_EQ(Outdated(c), std::vector<std::string>{"node-2"});
  ASSERT_TRUE(c.Start("node-2"));
  ExpectIdentical(c, "v");
  EXPECT_TRUE(WaitFor([&] { return Outdated(c).empty(); }, std::chrono::seconds(30)));

  // The witness: the two data replicas are a majority.
  ASSERT_TRUE(c.Kill("node-3"));
  Write(c, 3, 2 << 20);
  ASSERT_TRUE(c.Start("node-3"));

  // The primary: node-2 (in sync, not outdated) is elected with the witness.
  ASSERT_TRUE(WaitFor([&] { return Outdated(c).empty(); }, std::chrono::seconds(30)));
  ASSERT_TRUE(c.Kill("node-1"));
  Write(c, 4, 3 << 20);
  nlohmann::json v = c.CtlJson("volume show v");
  EXPECT_EQ(v.value("primary", ""), "node-2") << v.dump(2);
  for (int i = 1; i <= 4; ++i) ExpectPattern(c, i, static_cast<uint64_t>(i - 1) << 20);
  ASSERT_TRUE(c.Start("node-1"));
  ExpectIdentical(c, "v");
}

TEST_F(WitnessTest, ADataNodeAndTheWitnessGoneAcknowledgeNoWrite) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 4000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CreateVolume(c);
  Write(c, 1, 0);
  const std::string uri = c.Export("v");
  ASSERT_TRUE(c.Kill("node-2"));
  ASSERT_TRUE(c.Kill("node-3"));
  // Alone, the primary's lease runs out (until then it may still take
  // writes: the witness had recorded node-2 before it died, so node-2 can
  // never be elected without them): requests wait, then fail.
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json v = c.CtlJson("volume show v");
        return v.is_object() && !v.value("serving", true);
      },
      std::chrono::seconds(30)))
      << c.Ctl("volume show v").output;
  std::string out;
  EXPECT_NE(QemuIo(uri, "-c 'write -P 9 0 64k'", &out), 0) << out;
  ASSERT_TRUE(c.Start("node-3"));
  // With the witness back, the primary serves again; the lone write above
  // was never acknowledged, so either content is allowed there.
  Write(c, 5, 1 << 20);
  ExpectPattern(c, 5, 1 << 20);
  ASSERT_TRUE(c.Start("node-2"));
  ExpectIdentical(c, "v");
}

TEST_F(WitnessTest, AReplicaThatMissedAcknowledgedWritesIsNotElected) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CreateVolume(c);
  Write(c, 1, 0);
  ASSERT_TRUE(c.Kill("node-2"));
  Write(c, 2, 0);  // acknowledged by node-1 and the witness's record of node-2
  ASSERT_TRUE(WaitFor([&] { return Outdated(c) == std::vector<std::string>{"node-2"}; },
                      std::chrono::seconds(30)));
  ASSERT_TRUE(c.Kill("node-1"));
  ASSERT_TRUE(c.Start("node-2"));
  // node-2 and the witness are a majority, but node-2 lacks pattern 2: no
  // primary, for as long as node-1 stays away (several leases here).
  std::this_thread::sleep_for(std::chrono::seconds(10));
  nlohmann::json v = c.CtlJson("volume show v");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.value("nbd_uri", ""), "") << v.dump(2);
  EXPECT_NE(v.value("primary", ""), "node-2") << v.dump(2);
  EXPECT_NE(c.NodeLog("node-2").find("records every replica that lost it"), std::string::npos)
      << c.NodeLog("node-2");
  // node-1 returns: the volume serves again, with the acknowledged write.
  ASSERT_TRUE(c.Start("node-1"));
  ASSERT_TRUE(WaitFor([&] { return !c.Export("v").empty(); }, std::chrono::seconds(90)))
      << c.Ctl("volume show v").output;
  ExpectPattern(c, 2, 0);
  ExpectIdentical(c, "v");
}

TEST_F(WitnessTest, TheWitnessMovesToAnotherNode) {
  LocalCluster c(4, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CreateVolume(c);
  ASSERT_TRUE(c.Kill("node-3"));
  CommandResult moved = c.Ctl("volume witness v node-4");
  ASSERT_EQ(moved.exit_code, 0) << moved.output;
  EXPECT_NE(moved.output.find("node-3"), std::string::npos)
      << "the lost witness could not be cleaned up, and that is said: " << moved.output;
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json v = c.CtlJson("volume show v");
        return v.is_object() && v["witness"].is_object() && v["witness"]["node"] == "node-4" &&
               v["witness"].value("state", "") == "in_sync";
      },
      std::chrono::seconds(60)))
      << c.Ctl("volume show v").output;
  // The new witness stands in for a lost data node.
  ASSERT_TRUE(c.Kill("node-2"));
  Write(c, 6, 0);
  ExpectPattern(c, 6, 0);
  CommandResult refused = c.Ctl("volume witness v node-1");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("holds a replica"), std::string::npos) << refused.output;
}

// Four data replicas and a witness: five voters, three needed. Two data
// nodes lost leave the primary, one data replica and the witness, which
// records the two.
TEST_F(WitnessTest, FourReplicasGoOnWithTwoDataNodesLost) {
  LocalCluster c(5, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CommandResult r = c.Ctl(
      "volume create v --size 64M --replicas 4 --nodes node-1,node-2,node-3,node-4 --witness "
      "node-5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(c.WaitInSync("v")) << c.Ctl("volume show v").output;
  Write(c, 1, 0);
  ASSERT_TRUE(c.Kill("node-3"));
  ASSERT_TRUE(c.Kill("node-4"));
  Write(c, 2, 1 << 20);
  std::vector<std::string> outdated = Outdated(c);
  EXPECT_EQ(outdated, (std::vector<std::string>{"node-3", "node-4"}));
  ExpectPattern(c, 1, 0);
  ExpectPattern(c, 2, 1 << 20);
  ASSERT_TRUE(c.Start("node-3"));
  ASSERT_TRUE(c.Start("node-4"));
  ExpectIdentical(c, "v");
}

// What the CSI controller runs (--witness-replace-after): one pass sees the
// witness offline, a pass past the grace time moves it.
TEST_F(WitnessTest, TheKeeperMovesAWitnessWhoseNodeIsLost) {
  LocalCluster c(4, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CreateVolume(c);
  std::shared_ptr<repl::StorageCluster> cluster = c.StorageClient();
  repl::WitnessKeeperOptions opts;
  opts.replace_after = std::chrono::seconds(30);
  repl::WitnessKeeper keeper([cluster] { return cluster; }, opts);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(keeper.RunOnce(t0), 0) << "nothing is offline";

  ASSERT_TRUE(c.Kill("node-3"));
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json v = c.CtlJson("volume show v");
        return v.is_object() && v["witness"]["state"] == "offline";
      },
      std::chrono::seconds(60)));
  EXPECT_EQ(keeper.RunOnce(t0), 0) << "offline since now: not yet";
  EXPECT_EQ(keeper.RunOnce(t0 + std::chrono::seconds(31)), 1);
  nlohmann::json v = c.CtlJson("volume show v");
  EXPECT_EQ(v["witness"]["node"], "node-4") << v.dump(2);
  ASSERT_TRUE(c.Kill("node-2"));
  Write(c, 8, 0);
  ExpectPattern(c, 8, 0);
}

}  // namespace
}  // namespace syncblock::testing

namespace syncblock::testing {
namespace {

// Two data replicas and a witness, one data node lost: replacing it (a
// third data replica added, as ControllerModifyVolume's 2->3 does) stops IO
// for as long as the new replica's full copy takes (four members need
// three; the witness counts as one copy beside the primary's). Known, not
// fixed: counting the witness for both missing replicas (they are fewer
// than a majority) keeps IO going, but makes removing the witness at the
// end of the change unsafe unless the removal waits for an empty record.
// Run with --gtest_also_run_disabled_tests.
class WitnessAddTest : public FaultTestBase {};

TEST_F(WitnessAddTest, DISABLED_AddingADataReplicaWhileOneIsAwayKeepsIoGoing) {
  LocalCluster c(4, "--no-csi --io-timeout-ms 10000 --resync-rate 1M");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CommandResult r =
      c.Ctl("volume create v --size 64M --replicas 2 --nodes node-1,node-2 --witness node-3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(c.WaitInSync("v")) << c.Ctl("volume show v").output;
  std::string out;
  const std::string uri = c.Export("v");
  ASSERT_FALSE(uri.empty());
  // Data everywhere: the new replica's full copy takes about a minute.
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 1 0 64M'", &out), 0) << out;
  ASSERT_TRUE(c.Kill("node-2"));
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 2 0 64k'", &out), 0) << out;
  CommandResult add = c.Ctl("replica add v node-4");
  ASSERT_EQ(add.exit_code, 0) << add.output;
  EXPECT_EQ(QemuIo(c.Export("v"), "-c 'write -P 3 1M 64k'", &out), 0)
      << out << c.Ctl("volume show v").output;
}

}  // namespace
}  // namespace syncblock::testing

namespace syncblock::testing {
namespace {

class WitnessStaleReplicaTest : public FaultTestBase {};

// A 3-replica volume goes to 2 (ControllerModifyVolume 3->2 does this):
// node-3 leaves while it is down, so its data stays. Back, it is made the
// witness: the stale data replica must not be taken as it is for the
// witness (it refuses every record and votes as a data replica); the move
// is refused, or the witness works.
TEST_F(WitnessStaleReplicaTest, AStaleDataReplicaIsNotTakenAsTheWitness) {
  LocalCluster c(3, "--no-csi --io-timeout-ms 10000");
  ASSERT_TRUE(c.ok()) << c.up_output();
  CommandResult r = c.Ctl("volume create v --size 64M --replicas 3 --nodes node-1,node-2,node-3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(c.WaitInSync("v")) << c.Ctl("volume show v").output;
  ASSERT_TRUE(c.Kill("node-3"));
  CommandResult removed = c.Ctl("replica remove v node-3");
  ASSERT_NE(removed.output.find("could not be deleted"), std::string::npos) << removed.output;
  ASSERT_TRUE(c.Start("node-3"));
  CommandResult moved = c.Ctl("volume witness v node-3");
  if (moved.exit_code != 0) {
    // Refused, and said why: the stale replica is in the way.
    EXPECT_NE(moved.output.find("already has a data replica"), std::string::npos) << moved.output;
    return;
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        nlohmann::json v = c.CtlJson("volume show v");
        return v.is_object() && v["witness"].is_object() &&
               v["witness"].value("state", "") == "in_sync";
      },
      std::chrono::seconds(60)))
      << c.Ctl("volume show v").output;
  ASSERT_TRUE(c.Kill("node-2"));
  std::string out;
  bool ok = WaitFor(
      [&] {
        const std::string uri = c.Export("v");
        return !uri.empty() && QemuIo(uri, "-c 'write -P 4 0 64k'", &out) == 0;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(ok) << out << c.Ctl("volume show v").output << c.NodeLog("node-3");
}

}  // namespace
}  // namespace syncblock::testing
