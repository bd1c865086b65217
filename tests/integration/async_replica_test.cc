// Asynchronous replicas with real processes (replication/doc/async_replicas.md):
// made by `ctl volume create --async-replicas` and `ctl replica add --async`,
// their lag in `volume show` (text and JSON) and /metrics, a killed one
// reported as a broken bound and caught up when it returns, never promoted
// but with --accept-data-loss once the synchronous replicas are lost.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using json = nlohmann::json;

json ReplicaOf(const json& volume, const std::string& node) {
  for (const auto& r : volume["replicas"]) {
    if (r["node"] == node) return r;
  }
  ADD_FAILURE() << "no replica on " << node << " in " << volume.dump(2);
  return json::object();
}

std::string Metrics(const LocalCluster& cluster, const std::string& node) {
  json file = json::parse(ReadFile(cluster.dir() + "/cluster.json"));
  for (const auto& s : file["storage"]) {
    if (s["id"] != node) continue;
    httplib::Client client("http://" + s.value("metrics", ""));
    auto res = client.Get("/metrics");
    return res && res->status == 200 ? res->body : "";
  }
  return "";
}

// The value of `series` (name and labels, as served) in an exposition; -1
// when it is not there.
double Value(const std::string& metrics, const std::string& series) {
  size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(metrics.substr(at + series.size() + 2));
}

TEST(AsyncReplicaIntegrationTest, LagIsShownBrokenWhileKilledAndCaughtUpAfter) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "qemu-io not installed";
  LocalCluster cluster(3);
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  json created = cluster.CtlJson(
      "volume create asy --size 64M --replicas 3 --async-replicas 1 --nodes node-1,node-2,node-3 "
      "--max-lag-ms 2000 --lag-policy throttle --no-witness");
  ASSERT_FALSE(created.is_null());
  ASSERT_TRUE(cluster.WaitInSync("asy"));
  const std::string uri = cluster.Export("asy");
  auto io = RunCommand("qemu-io -f raw -c 'write -P 0x41 0 4M' -c flush " + uri);
  ASSERT_EQ(io.exit_code, 0) << io.output;

  json shown = cluster.CtlJson("volume show asy");
  EXPECT_FALSE(ReplicaOf(shown, "node-2")["async"].get<bool>());
  json async = ReplicaOf(shown, "node-3");
  ASSERT_TRUE(async["async"].get<bool>()) << shown.dump(2);
  ASSERT_TRUE(async["lag"].is_object()) << shown.dump(2);
  EXPECT_FALSE(async["lag"]["broken"].get<bool>());
  EXPECT_EQ(shown["attributes"]["async.max-lag-ms"], "2000");
  auto text = cluster.Ctl("volume show asy");
  EXPECT_NE(text.output.find("async"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("lag "), std::string::npos) << text.output;

  // It may lack acknowledged writes: never promoted.
  auto promote = cluster.Ctl("promote asy node-3");
  EXPECT_NE(promote.exit_code, 0);
  EXPECT_NE(promote.output.find("asynchronous replica"), std::string::npos) << promote.output;

  // Killed: writes go on without it (it is in no quorum), its bound is broken.
  ASSERT_TRUE(cluster.Kill("node-3"));
  io = RunCommand("qemu-io -f raw -c 'write -P 0x42 1M 2M' -c flush " + uri);
  ASSERT_EQ(io.exit_code, 0) << io.output;
  ASSERT_TRUE(WaitFor(
      [&] {
        json v = cluster.CtlJson("volume show asy");
        json r = ReplicaOf(v, "node-3");
        return r["lag"].is_object() && r["lag"]["broken"].get<bool>();
      },
      std::chrono::seconds(30)));
  json broken = ReplicaOf(cluster.CtlJson("volume show asy"), "node-3")["lag"];
  EXPECT_GT(broken["broken_since_unix_ms"].get<int64_t>(), 0);
  EXPECT_GE(broken["bytes"].get<uint64_t>(), 2u << 20) << "the regions it missed";
  text = cluster.Ctl("volume show asy");
  EXPECT_NE(text.output.find("RPO broken since"), std::string::npos) << text.output;
  std::string metrics = Metrics(cluster, "node-1");
  EXPECT_NE(
      metrics.find("syncblock_async_replica_lag_bound_broken{volume=\"asy\",replica=\"node-3\"} 1"),
      std::string::npos)
      << metrics;
  // The volume's achieved recovery point passes the one it declares (2 s):
  // what the chart's SyncblockVolumeRpoAboveBound alert compares.
  EXPECT_EQ(Value(metrics, "syncblock_volume_rpo_bound_seconds{volume=\"asy\"}"), 2.0) << metrics;
  ASSERT_TRUE(WaitFor(
      [&] {
        return Value(Metrics(cluster, "node-1"), "syncblock_volume_rpo_seconds{volume=\"asy\"}") >
               2.0;
      },
      std::chrono::seconds(30)))
      << Metrics(cluster, "node-1");

  // Back: caught up from its dirty bitmap, identical to the others.
  ASSERT_TRUE(cluster.Start("node-3"));
  ASSERT_TRUE(cluster.WaitInSync("asy"));
  EXPECT_EQ(cluster.Ctl("verify asy").exit_code, 0);
  EXPECT_FALSE(
      ReplicaOf(cluster.CtlJson("volume show asy"), "node-3")["lag"]["broken"].get<bool>());
  metrics = Metrics(cluster, "node-1");
  EXPECT_NE(
      metrics.find("syncblock_async_replica_lag_bound_broken{volume=\"asy\",replica=\"node-3\"} 0"),
      std::string::npos)
      << metrics;
  EXPECT_LT(Value(metrics, "syncblock_volume_rpo_seconds{volume=\"asy\"}"), 2.0) << metrics;
  EXPECT_GE(Value(metrics, "syncblock_volume_rpo_seconds{volume=\"asy\"}"), 0.0) << metrics;
}

TEST(AsyncReplicaIntegrationTest, PromotedAcceptingDataLossWhenTheSynchronousOnesAreLost) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "qemu-io not installed";
  LocalCluster cluster(3);
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  ASSERT_FALSE(cluster
                   .CtlJson("volume create dr --size 64M --replicas 3 --async-replicas 1 "
                            "--nodes node-1,node-2,node-3 --no-witness")
                   .is_null());
  ASSERT_TRUE(cluster.WaitInSync("dr"));
  const std::string primary = cluster.CtlJson("volume show dr")["primary"];
  ASSERT_NE(primary, "node-3");
  auto io = RunCommand("qemu-io -f raw -c 'write -P 0x51 0 4M' -c flush " + cluster.Export("dr"));
  ASSERT_EQ(io.exit_code, 0) << io.output;
  // Caught up, and told so by a lease since.
  ASSERT_TRUE(WaitFor(
      [&] {
        json lag = ReplicaOf(cluster.CtlJson("volume show dr"), "node-3")["lag"];
        return lag.is_object() && lag["bytes"] == 0 && !lag["broken"].get<bool>();
      },
      std::chrono::seconds(30)));
  std::this_thread::sleep_for(std::chrono::seconds(2));

  // While its primary serves, nothing need be lost: refused, nothing changes.
  auto early = cluster.Ctl("promote dr node-3 --accept-data-loss");
  EXPECT_NE(early.exit_code, 0);
  EXPECT_NE(early.output.find("serves; nothing need be lost"), std::string::npos) << early.output;
  EXPECT_EQ(cluster.CtlJson("volume show dr")["primary"], primary);

  ASSERT_TRUE(cluster.Kill("node-1"));
  ASSERT_TRUE(cluster.Kill("node-2"));
  // No primary left to say: the replica shows what its last one reported.
  json orphan = ReplicaOf(cluster.CtlJson("volume show dr"), "node-3")["lag"];
  ASSERT_TRUE(orphan.is_object()) << orphan.dump();
  EXPECT_GT(orphan["reported_unix_ms"].get<int64_t>(), 0);
  EXPECT_FALSE(orphan["broken"].get<bool>());
  auto before = cluster.Ctl("volume show dr");
  EXPECT_NE(before.output.find("as its primary last reported"), std::string::npos) << before.output;

  auto plain = cluster.Ctl("promote dr node-3");
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_NE(plain.output.find("--accept-data-loss"), std::string::npos) << plain.output;

  json promoted = cluster.CtlJson("promote dr node-3 --accept-data-loss");
  ASSERT_FALSE(promoted.is_null());
  EXPECT_EQ(promoted["primary"], "node-3") << promoted.dump(2);
  const std::string reason = promoted.value("last_failover_reason", "");
  EXPECT_NE(reason.find("accepting data loss"), std::string::npos) << reason;
  EXPECT_NE(reason.find("when its primary last reported"), std::string::npos) << reason;
  EXPECT_NE(reason.find("removed from the volume: node-1, node-2"), std::string::npos) << reason;
  ASSERT_EQ(promoted["replicas"].size(), 1u) << promoted.dump(2);
  EXPECT_FALSE(ReplicaOf(promoted, "node-3")["async"].get<bool>());
  auto text = cluster.Ctl("volume show dr");
  EXPECT_NE(text.output.find("accepting data loss"), std::string::npos) << text.output;

  // It has everything up to its reported lag (none here), and takes writes.
  const std::string uri = cluster.Export("dr");
  io = RunCommand("qemu-io -f raw -c 'read -P 0x51 0 4M' -c 'write -P 0x52 0 1M' -c flush " + uri);
  ASSERT_EQ(io.exit_code, 0) << io.output;
  EXPECT_EQ(io.output.find("Pattern verification failed"), std::string::npos) << io.output;

  // The removed nodes return: neither serves again nor is elected, though
  // together they are a majority of the old member list; the volume stays
  // with node-3.
  ASSERT_TRUE(cluster.Start("node-1"));
  ASSERT_TRUE(cluster.Start("node-2"));
  // The old primary restarts as one, and is told its epoch is stale.
  ASSERT_TRUE(WaitFor(
      [&] {
        return cluster.NodeLog("node-1").find("is at epoch 2, newer than this primary's 1") !=
               std::string::npos;
      },
      std::chrono::seconds(30)))
      << cluster.NodeLog("node-1");
  // Both learn from node-3 that they were removed, and record it.
  for (const char* node : {"node-1", "node-2"}) {
    EXPECT_TRUE(WaitFor(
        [&] {
          return cluster.NodeLog(node).find("this replica was removed from the volume") !=
                 std::string::npos;
        },
        std::chrono::seconds(30)))
        << node << ":\n"
        << cluster.NodeLog(node);
  }
  json after = cluster.CtlJson("volume show dr");
  EXPECT_EQ(after["primary"], "node-3") << after.dump(2);
  io = RunCommand("qemu-io -f raw -c 'read -P 0x52 0 1M' -c 'read -P 0x51 1M 3M' " +
                  cluster.Export("dr"));
  EXPECT_EQ(io.exit_code, 0) << io.output;
  EXPECT_EQ(io.output.find("Pattern verification failed"), std::string::npos) << io.output;

  // Having learnt it, they elect no one among themselves, though together
  // they are a majority of the old member list and node-3 is down.
  const size_t seen1 = cluster.NodeLog("node-1").size();
  const size_t seen2 = cluster.NodeLog("node-2").size();
  ASSERT_TRUE(cluster.Kill("node-3"));
  std::this_thread::sleep_for(std::chrono::seconds(10));  // five leases
  for (const auto& [node, seen] : {std::pair{"node-1", seen1}, std::pair{"node-2", seen2}}) {
    std::string later = cluster.NodeLog(node).substr(std::min(seen, cluster.NodeLog(node).size()));
    EXPECT_EQ(later.find("serving IO"), std::string::npos) << node << ":\n" << later;
    EXPECT_EQ(later.find(" is primary at epoch "), std::string::npos) << node << ":\n" << later;
  }
  ASSERT_TRUE(cluster.Start("node-3"));
  io = RunCommand("qemu-io -f raw -c 'read -P 0x52 0 1M' " + cluster.Export("dr"));
  EXPECT_EQ(io.exit_code, 0) << io.output;
  EXPECT_EQ(io.output.find("Pattern verification failed"), std::string::npos) << io.output;

  // Added again, a removed node takes a fresh full copy of the survivor's
  // data (its own went another way) and is a member like any.
  auto added = cluster.Ctl("replica add dr node-1");
  ASSERT_EQ(added.exit_code, 0) << added.output << cluster.NodeLog("node-1");
  ASSERT_TRUE(cluster.WaitInSync("dr"));
  EXPECT_EQ(cluster.Ctl("verify dr").exit_code, 0);
  json readded = cluster.CtlJson("volume show dr");
  EXPECT_EQ(readded["attributes"].value("members.removed", ""), "node-2") << readded.dump(2);
  EXPECT_EQ(ReplicaOf(readded, "node-1")["state"], "in_sync") << readded.dump(2);
}

TEST(AsyncReplicaIntegrationTest, ReplicaAddAsyncAndBadRequests) {
  LocalCluster cluster(3);
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  ASSERT_FALSE(
      cluster
          .CtlJson("volume create two --size 16M --replicas 2 --nodes node-1,node-2 --no-witness")
          .is_null());
  json added = cluster.CtlJson("replica add two node-3 --async");
  ASSERT_FALSE(added.is_null());
  EXPECT_TRUE(ReplicaOf(added, "node-3")["async"].get<bool>()) << added.dump(2);
  ASSERT_TRUE(cluster.WaitInSync("two"));
  // The same node as a synchronous replica is another replica: refused.
  auto again = cluster.Ctl("replica add two node-3");
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.output.find("already holds an asynchronous replica"), std::string::npos)
      << again.output;

  struct Case {
    std::string args;
    std::string says;
  };
  for (const auto& c : std::vector<Case>{
           {"volume create b1 --size 8M --replicas 2 --async-replicas 2",
            "asynchronous replicas must be 0..1"},
           {"volume create b2 --size 8M --replicas 3 --async-replicas 1 --lag-policy drop",
            "async.lag-policy"},
           {"volume create b3 --size 8M --max-lag-ms 100", "give --async-replicas"},
           {"volume create b4 --size 8M --replicas 3 --async-replicas 1 --max-lag-ms 1",
            "async.max-lag-ms"},
       }) {
    auto r = cluster.Ctl(c.args);
    EXPECT_NE(r.exit_code, 0) << c.args;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << c.args << ": " << r.output;
  }
  auto list = cluster.CtlJson("volume list");
  EXPECT_EQ(list.dump().find("\"b1\""), std::string::npos) << "nothing half-made";
}

}  // namespace
}  // namespace syncblock::testing
