// ParseMutableParameters and PlanReplicaChange: what ControllerModifyVolume
// (and CreateVolume's mutable_parameters) accept, and how a replica set grows
// and shrinks.
#include "csi/mutable_parameters.h"

#include <gtest/gtest.h>

#include "csi/replica_plan.h"
#include "replication/qos/qos_settings.h"

namespace syncblock::csi {
namespace {

TEST(MutableParametersTest, ParsesEveryKeyAndOnlyTheGivenOnes) {
  auto p = ParseMutableParameters({{"replicas", "2"},
                                   {"maxIops", "500"},
                                   {"maxBandwidth", "100Mi"},
                                   {"burst", "2"},
                                   {"syncMode", "sync"},
                                   {"csi.storage.k8s.io/pvc/name", "x"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->replicas, 2);
  EXPECT_EQ(p->max_iops, 500u);
  EXPECT_EQ(p->max_bandwidth, 100u << 20);
  EXPECT_EQ(p->burst_seconds, 2.0);
  auto attrs = p->QosAttributes();
  EXPECT_EQ(attrs[repl::kAttrQosMaxIops], "500");
  EXPECT_EQ(attrs[repl::kAttrQosMaxBandwidth], "104857600");
  EXPECT_EQ(attrs[repl::kAttrQosBurst], "2");

  auto only = ParseMutableParameters({{"maxIops", "0"}});
  ASSERT_TRUE(only.ok());
  EXPECT_FALSE(only->replicas.has_value());
  EXPECT_FALSE(only->max_bandwidth.has_value());
  // An absent key is not a reset: only maxIops is set.
  EXPECT_EQ(only->QosAttributes().size(), 1u);
}

TEST(MutableParametersTest, UnknownOrInvalidKeysAreInvalidArgumentNamingTheKey) {
  struct Case {
    const char* key;
    const char* value;
  };
  for (Case c : {Case{"replicas", "0"}, Case{"replicas", "6"}, Case{"replicas", "two"},
                 Case{"maxIops", "-5"}, Case{"maxIops", "fast"}, Case{"maxBandwidth", "100MB"},
                 Case{"maxBandwidth", "10"}, Case{"burst", "-1"}, Case{"syncMode", "async"},
                 Case{"syncMode", "snapshot"}, Case{"syncMode", "bogus"}, Case{"fsType", "xfs"},
                 Case{"maxiops", "5"}}) {
    std::map<std::string, std::string> params = {{"burst", "1"}};
    params[c.key] = c.value;  // next to a valid key, or in its place
    auto p = ParseMutableParameters(params);
    ASSERT_FALSE(p.ok()) << c.key << "=" << c.value;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(p.status().message().find(c.key), std::string::npos) << p.status();
  }
  auto async = ParseMutableParameters({{"syncMode", "async"}});
  EXPECT_NE(async.status().message().find("only 'sync' exists"), std::string::npos);
}

repl::StorageNodeView Node(const std::string& id, const std::string& zone,
                           uint64_t available = 100 << 20) {
  repl::StorageNodeView n;
  n.id = id;
  n.zone = zone;
  n.reachable = true;
  n.available_bytes = available;
  return n;
}

repl::VolumeView Volume(std::vector<std::pair<std::string, std::string>> replicas) {
  repl::VolumeView v;
  v.id = "vol";
  v.size_bytes = 16 << 20;
  v.primary = replicas.front().first;
  for (auto& [node, state] : replicas) {
    repl::ReplicaView r;
    r.node = node;
    r.state = state;
    v.replicas.push_back(r);
  }
  return v;
}

TEST(ReplicaPlanTest, GrowsOntoUnusedZonesAndRoomyNodesFirst) {
  std::vector<repl::StorageNodeView> nodes = {Node("a", "z1"), Node("b", "z1", 900 << 20),
                                              Node("c", "z2"), Node("d", "z3", 1), Node("e", "z3")};
  nodes[4].reachable = false;
  auto plan = PlanReplicaChange(Volume({{"a", "in_sync"}}), nodes, 3, false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  // c (a zone of its own) before b (roomier, but z1 is the primary's); d is
  // too small, e unreachable.
  EXPECT_EQ(plan->add, (std::vector<std::string>{"c", "b"}));
  EXPECT_TRUE(plan->remove.empty());
  auto spread = PlanReplicaChange(Volume({{"a", "in_sync"}}), nodes, 3, true);
  EXPECT_EQ(spread.status().code(), absl::StatusCode::kResourceExhausted) << spread.status();
  auto same = PlanReplicaChange(Volume({{"a", "in_sync"}}), nodes, 1, false);
  ASSERT_TRUE(same.ok());
  EXPECT_TRUE(same->add.empty() && same->remove.empty());
}

TEST(ReplicaPlanTest, ShrinksWorstFirstAndKeepsAMajorityInSync) {
  std::vector<repl::StorageNodeView> nodes;
  auto plan = PlanReplicaChange(Volume({{"a", "in_sync"}, {"b", "in_sync"}, {"c", "offline"}}),
                                nodes, 2, false);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->remove, (std::vector<std::string>{"c"}));
  // 3 -> 1: the primary stays, alone in sync: a majority of one.
  auto one = PlanReplicaChange(Volume({{"a", "in_sync"}, {"b", "in_sync"}, {"c", "resyncing"}}),
                               nodes, 1, false);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->remove, (std::vector<std::string>{"c", "b"}));
  // 3 -> 2 with two lagging replicas: one would stay behind, no majority.
  auto lagging = PlanReplicaChange(Volume({{"a", "in_sync"}, {"b", "resyncing"}, {"c", "offline"}}),
                                   nodes, 2, false);
  EXPECT_EQ(lagging.status().code(), absl::StatusCode::kUnavailable) << lagging.status();
}

}  // namespace
}  // namespace syncblock::csi
