// DIR/cluster.json of `syncblock local` (driver/local_cluster_file.h) and the
// zones local up assigns.
#include "driver/local_cluster_file.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "driver/local_up.h"
#include "tests/support/test_util.h"

namespace syncblock::driver {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

LocalCluster Sample() {
  LocalCluster c;
  LocalProcess p;
  p.id = "node-1";
  p.pid = 1234;
  p.control = "127.0.0.1:7400";
  p.replication = "127.0.0.1:7401";
  p.nbd = "127.0.0.1:7402";
  p.metrics = "127.0.0.1:7403";
  p.zone = "zone-a";
  p.data_dir = "/d/data/node-1";
  p.log = "/d/logs/node-1.log";
  p.args = {"/bin/syncblock", "storage", "--node-id", "node-1"};
  c.storage.push_back(p);
  p.id = "node-2";
  p.pid = 0;
  p.state = "killed";
  p.control = "127.0.0.1:7410";
  c.storage.push_back(p);
  return c;
}

TEST(LocalClusterFileTest, RoundTrips) {
  LocalCluster c = Sample();
  c.csi.state = "running";
  c.csi.endpoint = "unix:///d/csi.sock";
  c.csi.node_id = "node-1";
  c.csi.pid = 99;
  auto parsed = ParseClusterJson(ClusterToJson(c));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->storage.size(), 2u);
  const auto& n = parsed->storage[0];
  EXPECT_EQ(n.id, "node-1");
  EXPECT_EQ(n.pid, 1234);
  EXPECT_EQ(n.state, "running");
  EXPECT_EQ(n.nbd, "127.0.0.1:7402");
  EXPECT_EQ(n.metrics, "127.0.0.1:7403");
  EXPECT_EQ(n.zone, "zone-a");
  EXPECT_EQ(n.data_dir, "/d/data/node-1");
  EXPECT_THAT(n.args, ElementsAre("/bin/syncblock", "storage", "--node-id", "node-1"));
  EXPECT_EQ(parsed->storage[1].state, "killed");
  EXPECT_EQ(parsed->storage[1].pid, 0);
  EXPECT_EQ(parsed->csi.endpoint, "unix:///d/csi.sock");
  EXPECT_EQ(parsed->csi.pid, 99);
  EXPECT_THAT(parsed->ControlAddresses(), ElementsAre("127.0.0.1:7400", "127.0.0.1:7410"));
}

TEST(LocalClusterFileTest, DocumentedShape) {
  LocalCluster c = Sample();
  auto j = nlohmann::json::parse(ClusterToJson(c));
  for (const char* key :
       {"id", "pid", "control", "replication", "nbd", "metrics", "zone", "data_dir", "log"}) {
    EXPECT_TRUE(j["storage"][0].contains(key)) << key;
  }
  EXPECT_TRUE(j["csi"].is_object());
  EXPECT_TRUE(j["csi"].empty());
  c.csi.state = "running";
  c.csi.endpoint = "unix:///d/csi.sock";
  j = nlohmann::json::parse(ClusterToJson(c));
  EXPECT_EQ(j["csi"]["controller"], "unix:///d/csi.sock");
  EXPECT_EQ(j["csi"]["node"], "unix:///d/csi.sock");
  c.csi.state = "absent";
  c.csi.error = "exited";
  j = nlohmann::json::parse(ClusterToJson(c));
  EXPECT_EQ(j["csi"]["state"], "absent");
  EXPECT_EQ(j["csi"]["error"], "exited");
}

TEST(LocalClusterFileTest, BadFilesAreClearErrors) {
  EXPECT_THAT(ParseClusterJson("{").status().message(), HasSubstr("cluster.json"));
  EXPECT_FALSE(ParseClusterJson("[]").ok());
  EXPECT_FALSE(ParseClusterJson(R"({"storage": [{"id": "n"}]})").ok());  // no control
  EXPECT_FALSE(ParseClusterJson(R"({"storage": [{"id": 3, "control": "x"}]})").ok());
  EXPECT_TRUE(ParseClusterJson(R"({"storage": []})").ok());
}

TEST(LocalClusterFileTest, SaveAndLoad) {
  syncblock::testing::TempDir dir;
  auto missing = LoadCluster(dir.path());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir.path()));
  ASSERT_TRUE(SaveCluster(dir.path(), Sample()).ok());
  auto loaded = LoadCluster(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->storage.size(), 2u);
  EXPECT_NE(loaded->Find("node-2"), nullptr);
  EXPECT_EQ(loaded->Find("node-9"), nullptr);
}

// Whether another open file description could take DIR/cluster.lock now.
bool LockIsFree(const std::string& dir) {
  int fd = ::open((dir + "/cluster.lock").c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return true;
  bool free = ::flock(fd, LOCK_EX | LOCK_NB) == 0;
  ::close(fd);
  return free;
}

TEST(ClusterLockTest, ExcludesOtherHoldersUntilReleased) {
  syncblock::testing::TempDir dir;
  {
    auto lock = ClusterLock::Acquire(dir.path());
    ASSERT_TRUE(lock.ok()) << lock.status();
    EXPECT_FALSE(LockIsFree(dir.path()));
    ClusterLock moved = std::move(*lock);  // ownership moves, the lock stays
    EXPECT_FALSE(LockIsFree(dir.path()));
  }
  EXPECT_TRUE(LockIsFree(dir.path()));
  auto again = ClusterLock::Acquire(dir.path());
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(LockIsFree(dir.path()));
}

TEST(ClusterLockTest, MissingDirectoryIsAClearError) {
  auto lock = ClusterLock::Acquire("/nonexistent/syncblock-test");
  ASSERT_FALSE(lock.ok());
  EXPECT_THAT(std::string(lock.status().message()),
              HasSubstr("/nonexistent/syncblock-test/cluster.lock"));
}

TEST(LocalZonesTest, OneZonePerNodeByDefaultElseRoundRobin) {
  EXPECT_THAT(LocalZones(3, {}), ElementsAre("zone-a", "zone-b", "zone-c"));
  EXPECT_EQ(LocalZones(28, {})[26], "zone-aa");
  EXPECT_THAT(LocalZones(4, {"x", "y"}), ElementsAre("x", "y", "x", "y"));
}

}  // namespace
}  // namespace syncblock::driver
