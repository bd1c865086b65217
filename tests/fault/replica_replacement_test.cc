// Replicas that come back empty, and replicas added or removed: each gets a
// full copy, rate-limited, and the volume keeps serving meanwhile.
#include <gtest/gtest.h>
#include <httplib.h>

#include <set>

#include "tests/support/local_cluster.h"

namespace syncblock::testing {
namespace {

int QemuIo(const std::string& uri, const std::string& cmds, std::string* out = nullptr) {
  CommandResult r = RunCommand("qemu-io -f raw '" + uri + "' " + cmds, std::chrono::seconds(120));
  if (out) *out = r.output;
  return r.exit_code;
}

nlohmann::json ReplicaStatus(const LocalCluster& c, const std::string& volume,
                             const std::string& node) {
  nlohmann::json s = c.CtlJson("resync-status " + volume);
  if (!s.is_object()) return nullptr;
  for (const auto& r : s["replicas"]) {
    if (r["node"] == node) return r;
  }
  return nullptr;
}

TEST(ReplicaReplacementTest, WipedReplicaGetsFullCopy) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "qemu-io is not installed";
  LocalCluster c(3, "--no-csi --resync-rate 0");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create v --size 64M --replicas 3").exit_code, 0);
  std::string uri = c.Export("v");
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x21 0 8M' -c 'write -P 0x22 40M 1M'"), 0);
  nlohmann::json v = c.CtlJson("volume show v");
  ASSERT_TRUE(v.is_object());
  std::string victim;
  for (const auto& r : v["replicas"]) {
    if (r["node"] != v["primary"]) victim = r["node"].get<std::string>();
  }
  ASSERT_TRUE(c.Kill(victim));
  // The node comes back with an empty data directory (a replaced disk).
  ASSERT_EQ(RunCommand("rm -rf " + c.dir() + "/data/" + victim).exit_code, 0);
  ASSERT_TRUE(c.Start(victim));
  ASSERT_TRUE(c.WaitInSync("v"));
  nlohmann::json r = ReplicaStatus(c, "v", victim);
  ASSERT_TRUE(r.is_object());
  EXPECT_TRUE(r["full"].get<bool>()) << r.dump();
  EXPECT_EQ(r["bytes_total"].get<uint64_t>(), 64ull << 20) << r.dump();
  nlohmann::json verify = c.CtlJson("verify v");
  ASSERT_TRUE(verify.is_object());
  EXPECT_TRUE(verify["identical"].get<bool>()) << verify.dump();
}

TEST(ReplicaReplacementTest, AddAndRemoveReplica) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "qemu-io is not installed";
  LocalCluster c(3, "--no-csi --resync-rate 0");
  ASSERT_TRUE(c.ok()) << c.up_output();
  // No witness: the third node is to take a copy.
  ASSERT_EQ(c.Ctl("volume create v --size 32M --replicas 2 --no-witness").exit_code, 0);
  std::string uri = c.Export("v");
  ASSERT_EQ(QemuIo(uri, "-c 'write -P 0x31 0 32M'"), 0);
  nlohmann::json v = c.CtlJson("volume show v");
  ASSERT_TRUE(v.is_object());
  std::set<std::string> members;
  for (const auto& r : v["replicas"]) members.insert(r["node"].get<std::string>());
  std::string spare;
  for (std::string n : {"node-1", "node-2", "node-3"}) {
    if (!members.count(n)) spare = n;
  }
  ASSERT_FALSE(spare.empty());

  CommandResult add = c.Ctl("replica add v " + spare);
  ASSERT_EQ(add.exit_code, 0) << add.output;
  ASSERT_TRUE(c.WaitInSync("v"));
  nlohmann::json r = ReplicaStatus(c, "v", spare);
  ASSERT_TRUE(r.is_object());
  EXPECT_TRUE(r["full"].get<bool>()) << r.dump();
  nlohmann::json verify = c.CtlJson("verify v");
  ASSERT_TRUE(verify.is_object());
  EXPECT_TRUE(verify["identical"].get<bool>()) << verify.dump();

  // The primary cannot be removed; a secondary can, and IO goes on.
  CommandResult refuse = c.Ctl("replica remove v " + v["primary"].get<std::string>());
  EXPECT_NE(refuse.exit_code, 0);
  CommandResult remove = c.Ctl("replica remove v " + spare);
  ASSERT_EQ(remove.exit_code, 0) << remove.output;
  nlohmann::json after = c.CtlJson("volume show v");
  ASSERT_TRUE(after.is_object());
  EXPECT_EQ(after["replicas"].size(), 2u) << after.dump();
  EXPECT_EQ(QemuIo(uri, "-c 'write -P 0x32 0 1M' -c 'read -P 0x32 0 1M' -c 'read -P 0x31 1M 31M'"),
            0);
}

TEST(StorageMetricsTest, MetricsAndHealthAreServed) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "qemu-io is not installed";
  LocalCluster c(3, "--no-csi");
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create m --size 16M --replicas 3").exit_code, 0);
  ASSERT_EQ(QemuIo(c.Export("m"), "-c 'write -P 0x41 0 1M' -c flush"), 0);
  nlohmann::json nodes = c.CtlJson("node list");
  ASSERT_TRUE(nodes.is_array() || nodes.is_object()) << nodes.dump();
  nlohmann::json v = c.CtlJson("volume show m");
  ASSERT_TRUE(v.is_object());
  nlohmann::json cluster = nlohmann::json::parse(ReadFile(c.dir() + "/cluster.json"));
  std::string metrics_address;
  for (const auto& s : cluster["storage"]) {
    if (s["id"] == v["primary"]) metrics_address = s["metrics"].get<std::string>();
  }
  ASSERT_FALSE(metrics_address.empty()) << cluster.dump();
  httplib::Client http("http://" + metrics_address);
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  const std::string& body = metrics->body;
  for (const char* family :
       {"syncblock_nbd_writes_total{export=\"m\"}", "syncblock_nbd_write_latency_seconds_bucket",
        "syncblock_replica_state{volume=\"m\"", "syncblock_replication_lag_frames{volume=\"m\"",
        "syncblock_resync_progress_ratio{volume=\"m\"", "syncblock_volume_primary{volume=\"m\"} 1",
        "syncblock_node_available_bytes"}) {
    EXPECT_NE(body.find(family), std::string::npos) << family << " missing from\n" << body;
  }
}

}  // namespace
}  // namespace syncblock::testing
