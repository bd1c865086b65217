// ParseMutableParameters and PlanReplicaChange: what ControllerModifyVolume
// (and CreateVolume's mutable_parameters) accept, and how a replica set grows
// and shrinks.
#include "csi/mutable_parameters.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>

#include "csi/remote_parameters.h"
#include "csi/replica_plan.h"
#include "replication/qos/qos_settings.h"
#include "replication/types/remote_sync_policy.h"

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
  EXPECT_NE(async.status().message().find("cannot change"), std::string::npos);
}

TEST(MutableParametersTest, RemoteSyncKeysAreParsedAndCheckedNamingTheKey) {
  auto p = ParseMutableParameters({{"remote", "site-b"},
                                   {"remoteInterval", "30s"},
                                   {"remoteKeep", "4"},
                                   {"remoteRate", "1Mi"},
                                   {"remoteTarget", "far-vol"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->remote.remote, "site-b");
  EXPECT_EQ(p->remote.interval, std::chrono::seconds(30));
  EXPECT_EQ(p->remote.keep, 4);
  EXPECT_EQ(p->remote.rate_bytes_per_second, uint64_t{1} << 20);
  EXPECT_EQ(p->remote.target, "far-vol");
  EXPECT_TRUE(p->QosAttributes().empty());
  // Without remote: checked here, needing remote only against the volume
  // (RemoteSyncAttributesFor), which may declare one already.
  auto keep = ParseMutableParameters({{"remoteKeep", "9"}});
  ASSERT_TRUE(keep.ok()) << keep.status();
  EXPECT_FALSE(keep->remote.remote.has_value());
  for (auto [key, value] : {std::pair{"remote", ""},
                            {"remoteInterval", "1s"},
                            {"remoteKeep", "1000"},
                            {"remoteRate", "fast"},
                            {"remoteTarget", "a b"}}) {
    auto bad = ParseMutableParameters({{key, value}});
    ASSERT_FALSE(bad.ok()) << key << "=" << value;
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find(key), std::string::npos) << bad.status();
  }
}

TEST(RemoteSyncAttributesTest, TheDefaultTargetTakesTheRemotesPrefix) {
  RemoteParameters p;
  p.remote = "site-b";
  auto a = RemoteSyncAttributesFor("parameter", p, "pvc-1", {}, "east-");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->at(repl::kAttrRemoteTarget), "east-pvc-1");
}

TEST(RemoteSyncAttributesTest, ANewVolumeGetsTheDefaultTargetAndANewPairing) {
  RemoteParameters p;
  p.remote = "site-b";
  auto a = RemoteSyncAttributesFor("parameter", p, "pvc-1", {}, "dr-");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->at(repl::kAttrRemoteName), "site-b");
  EXPECT_EQ(a->at(repl::kAttrRemoteTarget), std::string(repl::kDefaultRemotePrefix) + "pvc-1");
  EXPECT_EQ(a->at(repl::kAttrRemoteInterval), "60");
  EXPECT_EQ(a->at(repl::kAttrRemoteKeep), "3");
  EXPECT_EQ(a->at(repl::kAttrRemoteRate), "0");
  const std::string pairing = a->at(repl::kAttrRemotePairing);
  EXPECT_EQ(pairing.size(), 16u);
  EXPECT_EQ(pairing.find_first_not_of("0123456789abcdef"), std::string::npos) << pairing;
  // What it declares is what the sync reads.
  auto policy = repl::RemoteSyncPolicyFromAttributes(*a);
  ASSERT_TRUE(policy.ok()) << policy.status();
  ASSERT_TRUE(policy->has_value());
  EXPECT_EQ((*policy)->pairing, pairing);

  p.target = "elsewhere";
  p.interval = std::chrono::seconds(30);
  p.keep = 5;
  p.rate_bytes_per_second = 1 << 20;
  auto b = RemoteSyncAttributesFor("parameter", p, "pvc-1", {}, "dr-");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->at(repl::kAttrRemoteTarget), "elsewhere");
  EXPECT_EQ(b->at(repl::kAttrRemoteInterval), "30");
  EXPECT_EQ(b->at(repl::kAttrRemoteKeep), "5");
  EXPECT_EQ(b->at(repl::kAttrRemoteRate), "1048576");
  EXPECT_NE(b->at(repl::kAttrRemotePairing), pairing);  // drawn anew
}

TEST(RemoteSyncAttributesTest, AChangeKeepsThePairingAndWhatItDoesNotGive) {
  RemoteParameters first;
  first.remote = "site-b";
  first.keep = 5;
  auto existing = *RemoteSyncAttributesFor("parameter", first, "vol", {}, "dr-");
  existing[repl::kAttrRemoteStatus] = "{}";
  existing["qos.maxIops"] = "10";

  RemoteParameters change;
  change.interval = std::chrono::seconds(600);
  auto a = RemoteSyncAttributesFor("mutable parameter", change, "vol", existing, "dr-");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->at(repl::kAttrRemoteInterval), "600");
  EXPECT_EQ(a->at(repl::kAttrRemoteKeep), "5");
  EXPECT_EQ(a->at(repl::kAttrRemoteName), "site-b");
  EXPECT_EQ(a->at(repl::kAttrRemoteTarget), "dr-vol");
  EXPECT_EQ(a->at(repl::kAttrRemotePairing), existing.at(repl::kAttrRemotePairing));
  EXPECT_EQ(a->count(repl::kAttrRemoteStatus), 0u);  // the sync's, untouched

  // Another remote and target: a new pairing and a new record (the old
  // target's transfer is never resumed into the new one).
  change.remote = "site-c";
  change.target = "other";
  a = RemoteSyncAttributesFor("mutable parameter", change, "vol", existing, "dr-");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->at(repl::kAttrRemoteName), "site-c");
  EXPECT_EQ(a->at(repl::kAttrRemoteTarget), "other");
  EXPECT_NE(a->at(repl::kAttrRemotePairing), existing.at(repl::kAttrRemotePairing));
  EXPECT_EQ(a->count(repl::kAttrRemoteStatus), 1u);
}

TEST(RemoteSyncAttributesTest, NeedsARemoteOrADeclarationThatParses) {
  RemoteParameters keep;
  keep.keep = 4;
  auto none = RemoteSyncAttributesFor("mutable parameter", keep, "vol", {}, "dr-");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().message().find("need remote"), std::string::npos) << none.status();
  EXPECT_NE(none.status().message().find("vol"), std::string::npos) << none.status();

  std::map<std::string, std::string> broken = {{repl::kAttrRemoteName, "site-b"},
                                               {repl::kAttrRemotePairing, "00000000000000aa"}};
  auto b = RemoteSyncAttributesFor("mutable parameter", keep, "vol", broken, "dr-");
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(b.status().message().find(repl::kAttrRemoteTarget), std::string::npos) << b.status();
  // Declared anew with a remote: with no target on record, a new pairing.
  keep.remote = "site-b";
  b = RemoteSyncAttributesFor("mutable parameter", keep, "vol", broken, "dr-");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE(b->at(repl::kAttrRemotePairing), "00000000000000aa");
  EXPECT_EQ(b->at(repl::kAttrRemoteTarget), "dr-vol");
  EXPECT_EQ(b->at(repl::kAttrRemoteKeep), "4");
}

TEST(RemoteSyncAttributesTest, PairingsAreRandom) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) seen.insert(NewRemotePairing());
  EXPECT_EQ(seen.size(), 100u);
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
