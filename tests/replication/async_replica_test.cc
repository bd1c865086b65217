// Asynchronous replicas (replication/doc/async_replicas.md): they take the
// write stream but count in no quorum; their lag is reported and bounded by
// the volume's policy (throttle or pull-ahead).
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "replication/types/async_policy.h"
#include "replication/types/removed_members.h"
#include "tests/replication/engine_cluster.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::WaitFor;
using testing::EngineCluster;

constexpr uint64_t kSize = 16 << 20;

// node-2 is asynchronous, with `attributes` as the volume's lag policy.
std::function<void(Manifest&)> AsyncNode2(std::map<std::string, std::string> attributes = {}) {
  return [attributes](Manifest& m) {
    m.members[2].async = true;
    for (const auto& [k, v] : attributes) m.attributes[k] = v;
  };
}

void LongIoTimeout(EngineOptions& o) { o.io_timeout = std::chrono::seconds(20); }

uint64_t Offset(int writer, int i, int count, size_t block) {
  return (static_cast<uint64_t>(writer) * count + i) * 2 * block % kSize;
}

PeerView Peer(EngineCluster& c, const std::string& id) {
  for (const auto& p : c.engine()->View().peers) {
    if (p.node_id == id) return p;
  }
  ADD_FAILURE() << "no peer " << id;
  return {};
}

// `writers` threads, each writing `count` blocks of `block` bytes of its own
// pattern at its own offsets, a block apart (so that the replica cannot merge
// them into one disk write), `pause` between two; returns how many failed.
int WriteConcurrently(EngineCluster& c, int writers, int count, size_t block,
                      std::chrono::milliseconds pause = std::chrono::milliseconds(0)) {
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < count; ++i) {
        uint64_t offset = Offset(w, i, count, block);
        if (!c.Write(offset, std::string(block, static_cast<char>('a' + w))).ok()) ++failed;
        std::this_thread::sleep_for(pause);
      }
    });
  }
  for (auto& t : threads) t.join();
  return failed.load();
}

TEST(AsyncReplicaTest, ManifestCountsOnlySynchronousMembersInTheQuorum) {
  Manifest m;
  m.volume_id = "vol";
  m.size_bytes = kSize;
  for (const char* id : {"a", "b", "c"}) {
    MemberInfo mem;
    mem.node_id = id;
    m.members.push_back(mem);
  }
  EXPECT_EQ(m.Quorum(), 2);
  m.members[2].async = true;
  EXPECT_EQ(m.VotingMembers(), 2);
  EXPECT_EQ(m.Quorum(), 2);  // both synchronous members
  EXPECT_TRUE(m.IsAsync("c"));
  EXPECT_FALSE(m.IsAsync("a"));
  m.members[1].async = true;
  EXPECT_EQ(m.Quorum(), 1);  // the primary alone
  auto back = ManifestFromJson(ManifestToJson(m));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->IsAsync("b"));
  EXPECT_TRUE(back->IsAsync("c"));
  EXPECT_FALSE(back->IsAsync("a"));
}

TEST(AsyncReplicaTest, PolicyAttributesAreCheckedWithPreciseErrors) {
  auto p = AsyncPolicyFromAttributes({});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->policy, LagPolicy::kThrottle);
  EXPECT_EQ(p->max_lag, std::chrono::milliseconds(1000));
  p = AsyncPolicyFromAttributes(
      {{kAttrMaxLagMs, "250"}, {kAttrMaxLagBytes, "2097152"}, {kAttrLagPolicy, "pull-ahead"}});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->max_lag, std::chrono::milliseconds(250));
  EXPECT_EQ(p->max_lag_bytes, 2097152u);
  EXPECT_EQ(p->policy, LagPolicy::kPullAhead);
  for (auto [k, v] : std::vector<std::pair<std::string, std::string>>{{kAttrMaxLagMs, "fast"},
                                                                      {kAttrMaxLagMs, "1"},
                                                                      {kAttrMaxLagBytes, "-5"},
                                                                      {kAttrLagPolicy, "drop"}}) {
    auto bad = AsyncPolicyFromAttributes({{k, v}});
    ASSERT_FALSE(bad.ok()) << k << "=" << v;
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find(k), std::string::npos) << bad.status();
    EXPECT_NE(bad.status().message().find(v), std::string::npos) << bad.status();
  }
}

TEST(AsyncReplicaTest, AnAsynchronousReplicaCountsInNoQuorum) {
  EngineCluster c(kSize, 3, -1, nullptr, nullptr, true, AsyncNode2());
  ASSERT_TRUE(c.Write(0, std::string(4096, 'x')).ok());
  EXPECT_TRUE(Peer(c, "node-2").async);
  EXPECT_FALSE(Peer(c, "node-1").async);

  // Without it, the two synchronous replicas are the majority.
  c.Stop(2);
  ASSERT_TRUE(c.Write(0, std::string(4096, 'y')).ok());

  // With it and without the other synchronous replica, no write completes:
  // its acknowledgement is no promise that the data survives a failover.
  c.Start(2);
  ASSERT_TRUE(WaitFor([&] { return Peer(c, "node-2").state == PeerState::kInSync; },
                      std::chrono::seconds(30)));
  c.Stop(1);
  absl::Status s = c.Write(4096, std::string(4096, 'z'));
  EXPECT_FALSE(s.ok());
  // It got the write all the same: it takes the stream.
  EXPECT_TRUE(WaitFor([&] { return c.ReadLive(2, 4096, 4096) == std::string(4096, 'z'); },
                      std::chrono::seconds(10)));
  c.Start(1);
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_TRUE(c.Write(8192, std::string(4096, 'w')).ok());
}

TEST(AsyncReplicaTest, ItsLagIsReportedAndABrokenBoundSaysSince) {
  EngineCluster c(kSize, 3, -1, nullptr, nullptr, true, AsyncNode2());
  ASSERT_TRUE(c.Write(0, std::string(65536, 'x')).ok());
  ASSERT_TRUE(c.WaitInSync());
  PeerView p = Peer(c, "node-2");
  EXPECT_FALSE(p.lag.broken);
  EXPECT_EQ(p.lag.bytes, 0u);

  c.Stop(2);
  ASSERT_TRUE(WaitFor([&] { return Peer(c, "node-2").lag.broken; }, std::chrono::seconds(10)));
  ASSERT_TRUE(c.Write(0, std::string(65536, 'y')).ok());
  p = Peer(c, "node-2");
  EXPECT_TRUE(p.lag.broken);
  EXPECT_GE(p.lag.bytes, 65536u);  // the dirty region it lacks
  EXPECT_GT(p.lag.broken_since_unix_ms, 0);
  EXPECT_LE(p.lag.broken_since_unix_ms, absl::ToUnixMillis(absl::Now()));
  // A synchronous peer reports no lag of this kind.
  EXPECT_FALSE(Peer(c, "node-1").lag.broken);

  c.Start(2);
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_FALSE(Peer(c, "node-2").lag.broken);
  EXPECT_EQ(c.ReadLive(2, 0, 65536), std::string(65536, 'y'));
}

TEST(AsyncReplicaTest, ItsPrimaryTellsItItsLagWithEachLease) {
  EngineCluster c(kSize, 3, -1, nullptr, nullptr, true, AsyncNode2());
  ASSERT_TRUE(c.Write(0, std::string(65536, 'x')).ok());
  ASSERT_TRUE(c.WaitInSync());
  const int64_t before = absl::ToUnixMillis(absl::Now());
  ASSERT_TRUE(WaitFor([&] { return c.replica(2).LastReportedLag().unix_ms >= before; },
                      std::chrono::seconds(10)));
  Replica::ReportedLag told = c.replica(2).LastReportedLag();
  ASSERT_TRUE(told.lag.has_value());
  EXPECT_FALSE(told.lag->broken);
  // A synchronous replica is told nothing of the kind.
  EXPECT_FALSE(c.replica(1).LastReportedLag().lag.has_value());

  // The report travels in the answer a promotion reads (node-0 stepped
  // down first, as in a planned move).
  const uint64_t epoch = c.replica(2).manifest().epoch;
  auto answer = c.replica(2).AcceptEpoch(epoch + 1, "node-1", {}, ReleasedPrimary{"node-0", epoch});
  ASSERT_TRUE(answer.ok()) << answer.status();
  ASSERT_TRUE(answer->lag.has_value());
  EXPECT_EQ(answer->lag_reported_unix_ms, c.replica(2).LastReportedLag().unix_ms);
}

// What a promotion that accepted data loss leaves in the survivor's
// attributes: node-0 and node-1 removed, node-2 left.
void RemovedBySurvivor(Manifest& m) {
  m.members[2].async = true;
  AddRemovedMembers(m.attributes, {"node-0", "node-1"});
}

TEST(AsyncReplicaTest, ARemovedNodeIsRefusedVotesAndHellosAtAnyEpoch) {
  EngineCluster c(kSize, 3, -1, nullptr, nullptr, false, RemovedBySurvivor);
  Replica& survivor = c.replica(2);
  const uint64_t epoch = survivor.manifest().epoch;
  for (uint64_t e : {epoch, epoch + 1, epoch + 50}) {
    auto vote = survivor.AcceptEpoch(e, "node-1", {});
    EXPECT_EQ(vote.status().code(), absl::StatusCode::kAborted) << e << ": " << vote.status();
    EXPECT_NE(vote.status().message().find("node-1 was removed from the volume"), std::string::npos)
        << vote.status();
    HelloRequest hello;
    hello.volume_id = survivor.id();
    hello.epoch = e;
    hello.primary_node_id = "node-0";
    hello.region_size = survivor.manifest().region_size;
    hello.size_bytes = survivor.manifest().size_bytes;
    hello.members = survivor.manifest().members;
    uint64_t session = 0;
    HelloReply reply = survivor.AcceptHello(hello, &session);
    EXPECT_EQ(reply.status, WireStatus::kStaleEpoch) << e << ": " << reply.message;
  }
  EXPECT_EQ(survivor.manifest().epoch, epoch) << "nothing moved";
}

TEST(AsyncReplicaTest, AReplicaThatLearnsItWasRemovedTakesPartNoMore) {
  EngineCluster c(kSize, 3, -1, nullptr, nullptr, false, AsyncNode2());
  Replica& removed = c.replica(1);
  // The removed side elected past the survivor's epoch before it learned.
  const uint64_t e0 = removed.manifest().epoch;
  ASSERT_TRUE(removed.AcceptEpoch(e0 + 5, "node-0", {}, ReleasedPrimary{"node-0", e0}).ok());
  std::map<std::string, std::string> survivor;  // node-2's record: version 1
  AddRemovedMembers(survivor, {"node-0", "node-1"});
  ASSERT_TRUE(removed.MarkRemoved(survivor, "a test says so").ok());
  EXPECT_TRUE(IsRemovedMember(removed.manifest().attributes, "node-1"));
  EXPECT_TRUE(IsRemovedMember(removed.manifest().attributes, "node-0"));
  // It votes for no one: not for the other removed node, nor for anyone.
  auto vote = removed.AcceptEpoch(e0 + 6, "node-0", {});
  EXPECT_EQ(vote.status().code(), absl::StatusCode::kAborted) << vote.status();
  vote = removed.AcceptEpoch(e0 + 6, "node-2", {});
  EXPECT_EQ(vote.status().code(), absl::StatusCode::kFailedPrecondition) << vote.status();
  EXPECT_NE(vote.status().message().find("votes for no one"), std::string::npos) << vote.status();
  // A hello from the volume as it was before is refused as stale...
  HelloRequest hello;
  hello.volume_id = removed.id();
  hello.epoch = removed.manifest().epoch + 1;
  hello.primary_node_id = "node-0";
  hello.region_size = removed.manifest().region_size;
  hello.size_bytes = removed.manifest().size_bytes;
  hello.members = removed.manifest().members;
  uint64_t session = 0;
  EXPECT_EQ(removed.AcceptHello(hello, &session).status, WireStatus::kStaleEpoch);
  // ...so is one of the survivor's lineage that still lists it...
  hello.primary_node_id = "node-2";
  hello.attributes = survivor;
  EXPECT_EQ(removed.AcceptHello(hello, &session).status, WireStatus::kStaleEpoch);
  // ...and the survivor adding it again is taken, at an epoch older than
  // this replica's too (the removed side may have elected past it).
  ClearRemovedMember(hello.attributes, "node-1");
  hello.epoch = e0 + 1;
  HelloReply back = removed.AcceptHello(hello, &session);
  EXPECT_EQ(back.status, WireStatus::kOk) << back.message;
  EXPECT_FALSE(IsRemovedMember(removed.manifest().attributes, "node-1"));
  EXPECT_EQ(RemovedVersion(removed.manifest().attributes), 2u);
}

TEST(AsyncReplicaTest, ThrottleHoldsWritersAtTheByteBoundAndNeverDropsTheReplica) {
  constexpr uint64_t kBound = 1 << 20;
  constexpr size_t kBlock = 64 << 10;
  constexpr int kWriters = 4;
  EngineCluster c(kSize, 3, -1, LongIoTimeout, nullptr, true,
                  AsyncNode2({{kAttrMaxLagBytes, std::to_string(kBound)},
                              {kAttrMaxLagMs, "60000"},
                              {kAttrLagPolicy, "throttle"}}));
  c.node(2).env.SetWriteDelay(std::chrono::milliseconds(20));
  std::atomic<bool> done{false};
  std::atomic<uint64_t> max_bytes{0};
  std::atomic<bool> broken{false};
  std::thread sampler([&] {
    while (!done) {
      PeerView p = Peer(c, "node-2");
      if (p.lag.broken) broken = true;
      if (p.lag.bytes > max_bytes) max_bytes = p.lag.bytes;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  EXPECT_EQ(WriteConcurrently(c, kWriters, 24, kBlock), 0);
  done = true;
  sampler.join();
  EXPECT_FALSE(broken) << "throttled writers keep the replica in sync";
  EXPECT_GT(Peer(c, "node-2").lag.throttled_writes, 0u);
  // Writers past the gate when it closed may each add one block.
  EXPECT_LE(max_bytes.load(), kBound + kWriters * (kBlock + 4096));
  EXPECT_GT(max_bytes.load(), 0u);
  c.node(2).env.SetWriteDelay(std::chrono::milliseconds(0));
  ASSERT_TRUE(c.WaitInSync());
  for (int w = 0; w < kWriters; ++w) {
    uint64_t offset = Offset(w, 23, 24, kBlock);
    EXPECT_EQ(c.ReadLive(2, offset, kBlock), c.ReadLive(0, offset, kBlock));
  }
}

TEST(AsyncReplicaTest, ThrottleHoldsWritersAtTheTimeBound) {
  EngineCluster c(kSize, 3, -1, LongIoTimeout, nullptr, true,
                  AsyncNode2({{kAttrMaxLagMs, "100"}, {kAttrLagPolicy, "throttle"}}));
  // Writes come twice as fast as the replica's slow disk takes them, for
  // longer than the bound: its oldest outstanding write gets older than
  // 100 ms, and writers wait for it rather than let it fall further behind.
  c.node(2).env.SetWriteDelay(std::chrono::milliseconds(40));
  EXPECT_EQ(WriteConcurrently(c, 2, 12, 4096, std::chrono::milliseconds(20)), 0);
  PeerView p = Peer(c, "node-2");
  EXPECT_FALSE(p.lag.broken);
  EXPECT_GT(p.lag.throttled_writes, 0u);
  c.node(2).env.SetWriteDelay(std::chrono::milliseconds(0));
  ASSERT_TRUE(c.WaitInSync());
}

TEST(AsyncReplicaTest, PullAheadDropsTheReplicaPastItsBoundAndCatchesItUp) {
  constexpr size_t kBlock = 64 << 10;
  EngineCluster c(
      kSize, 3, -1, LongIoTimeout, nullptr, true,
      AsyncNode2({{kAttrMaxLagBytes, std::to_string(1 << 20)}, {kAttrLagPolicy, "pull-ahead"}}));
  c.node(2).env.SetWriteDelay(std::chrono::milliseconds(50));
  std::atomic<bool> done{false};
  std::atomic<bool> broken{false};
  std::thread sampler([&] {
    while (!done) {
      if (Peer(c, "node-2").lag.broken) broken = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  EXPECT_EQ(WriteConcurrently(c, 4, 16, kBlock), 0);  // 4 MiB, past its 1 MiB
  done = true;
  sampler.join();
  EXPECT_TRUE(broken) << "the replica was pulled ahead";
  EXPECT_EQ(Peer(c, "node-2").lag.throttled_writes, 0u) << "writers never wait for it";
  c.node(2).env.SetWriteDelay(std::chrono::milliseconds(0));
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_FALSE(Peer(c, "node-2").lag.broken);
  for (int w = 0; w < 4; ++w) {
    uint64_t offset = Offset(w, 15, 16, kBlock);
    EXPECT_EQ(c.ReadLive(2, offset, kBlock), std::string(kBlock, static_cast<char>('a' + w)));
  }
}

TEST(AsyncReplicaTest, PullAheadDropsTheReplicaPastItsTimeBound) {
  EngineCluster c(kSize, 3, -1, LongIoTimeout, nullptr, true,
                  AsyncNode2({{kAttrMaxLagMs, "50"}, {kAttrLagPolicy, "pull-ahead"}}));
  c.node(2).env.SetWriteDelay(std::chrono::milliseconds(200));
  std::atomic<bool> pulled{false};
  std::thread sampler([&] {
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!pulled && std::chrono::steady_clock::now() < until) {
      if (Peer(c, "node-2").message.find("pulled ahead") != std::string::npos) pulled = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  for (int round = 0; round < 20 && !pulled; ++round) {
    EXPECT_EQ(WriteConcurrently(c, 2, 4, 4096), 0);
  }
  sampler.join();
  EXPECT_TRUE(pulled) << "its oldest write waited past 50 ms: pulled ahead";
  c.node(2).env.SetWriteDelay(std::chrono::milliseconds(0));
  ASSERT_TRUE(c.WaitInSync());
}

}  // namespace
}  // namespace syncblock::repl
