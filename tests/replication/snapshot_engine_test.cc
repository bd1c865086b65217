// Snapshots through the replication engine (replication/doc/snapshots.md),
// with three real replicas over loopback: the cut is a barrier in the write
// stream (a concurrent writer's acknowledged writes are in, later ones are
// not, identically on every replica), a replica away at the cut gets a full
// copy when it returns, deletion reaches every replica (also one that was
// away), snapshots survive restarts, and without a majority a snapshot is
// reported unavailable and becomes ready once a replica returns.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/replication/engine_cluster.h"

namespace syncblock::repl {
namespace {

using syncblock::repl::testing::EngineCluster;
using syncblock::testing::WaitFor;

constexpr uint64_t kSize = 16 << 20;
constexpr uint64_t kBlock = 4096;

// Block i of the writer's pattern: its index in every 8 bytes.
std::string Pattern(uint64_t i) {
  std::string out(kBlock, '\0');
  for (size_t at = 0; at < kBlock; at += 8) std::memcpy(out.data() + at, &i, 8);
  return out;
}

bool Holds(EngineCluster& c, int node, const std::string& name) {
  auto rec = c.replica(node).store().snapshots().Get(name);
  return rec.ok() && rec->complete;
}

SnapshotCopyState StateOf(const SnapshotView& v, const std::string& node_id) {
  for (const auto& m : v.members) {
    if (m.node_id == node_id) return m.state;
  }
  ADD_FAILURE() << "no member " << node_id;
  return SnapshotCopyState::kPending;
}

TEST(SnapshotEngineTest, CutHoldsExactlyTheWritesAcknowledgedBeforeItOnEveryReplica) {
  EngineCluster c(kSize);
  const uint64_t blocks = kSize / kBlock;
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> submitted{0};
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (uint64_t i = 0; i < blocks && !stop; ++i) {
      submitted = i + 1;
      ASSERT_TRUE(c.Write(i * kBlock, Pattern(i + 1)).ok());
      acked = i + 1;
    }
  });
  ASSERT_TRUE(WaitFor([&] { return acked.load() >= 200; }));
  uint64_t acked_before = acked.load();
  auto snap = c.engine()->CreateSnapshot("s1");
  uint64_t submitted_after = submitted.load();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(snap->ready);
  // Keep writing after the cut, then stop.
  ASSERT_TRUE(WaitFor([&] { return acked.load() >= submitted_after + 200 || acked == blocks; }));
  stop = true;
  writer.join();
  ASSERT_TRUE(c.WaitInSync());
  ASSERT_TRUE(WaitFor([&] { return Holds(c, 1, "s1") && Holds(c, 2, "s1"); }));

  // The snapshot is a prefix of the writer's sequence: everything acknowledged
  // before the request, nothing submitted after the answer.
  std::string image = c.ReadSnapshot(0, "s1", 0, kSize);
  uint64_t cut = 0;
  while (cut < blocks && image.compare(cut * kBlock, kBlock, Pattern(cut + 1)) == 0) ++cut;
  EXPECT_GE(cut, acked_before);
  EXPECT_LE(cut, submitted_after);
  EXPECT_EQ(image.find_first_not_of('\0', cut * kBlock), std::string::npos)
      << "a write after the cut leaked into the snapshot";
  // The live volume has the later writes.
  EXPECT_EQ(c.ReadLive(0, (acked.load() - 1) * kBlock, kBlock), Pattern(acked.load()));

  auto crc = c.SnapshotCrc(0, "s1");
  ASSERT_TRUE(crc.ok()) << crc.status();
  for (int i = 1; i < 3; ++i) {
    EXPECT_EQ(c.ReadSnapshot(i, "s1", 0, kSize), image) << "replica " << i;
    auto rec = c.replica(i).store().snapshots().Get("s1");
    ASSERT_TRUE(rec.ok());
    EXPECT_EQ(rec->seq, snap->record.seq) << "every replica cuts at the same point";
    EXPECT_FALSE(rec->materialized) << "an in-sync replica cuts its own layer";
  }
}

TEST(SnapshotEngineTest, SameNameReturnsTheSameSnapshot) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, Pattern(1)).ok());
  auto first = c.engine()->CreateSnapshot("s1");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(c.Write(0, Pattern(2)).ok());
  auto again = c.engine()->CreateSnapshot("s1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->record.seq, first->record.seq);
  EXPECT_EQ(again->record.created_unix_ms, first->record.created_unix_ms);
  EXPECT_EQ(c.ReadSnapshot(0, "s1", 0, kBlock), Pattern(1));
  EXPECT_EQ(c.engine()->Snapshots().size(), 1u);
  EXPECT_EQ(c.engine()->CreateSnapshot("bad/name").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.engine()->GetSnapshot("nope").status().code(), absl::StatusCode::kNotFound);
}

TEST(SnapshotEngineTest, ReplicaAwayAtTheCutGetsAFullCopyWhenItReturns) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, Pattern(1)).ok());
  c.Stop(2);
  ASSERT_TRUE(c.Write(kBlock, Pattern(2)).ok());
  ASSERT_TRUE(c.Write(5 << 20, Pattern(3)).ok());
  auto snap = c.engine()->CreateSnapshot("s1");
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_TRUE(snap->ready) << "2 of 3 is a majority";
  EXPECT_EQ(StateOf(*snap, "node-2"), SnapshotCopyState::kPending);
  // Writes after the cut, also where the snapshot has data.
  ASSERT_TRUE(c.Write(0, Pattern(9)).ok());
  ASSERT_TRUE(c.Write(kBlock, Pattern(9)).ok());

  c.Start(2);
  ASSERT_TRUE(WaitFor([&] {
    auto v = c.engine()->GetSnapshot("s1");
    return v.ok() && StateOf(*v, "node-2") == SnapshotCopyState::kReady;
  }));
  ASSERT_TRUE(c.WaitInSync());
  auto rec = c.replica(2).store().snapshots().Get("s1");
  ASSERT_TRUE(rec.ok()) << rec.status();
  EXPECT_TRUE(rec->materialized);
  EXPECT_TRUE(rec->complete);
  EXPECT_EQ(c.ReadSnapshot(2, "s1", 0, kBlock), Pattern(1));
  EXPECT_EQ(c.ReadSnapshot(2, "s1", kBlock, kBlock), Pattern(2));
  EXPECT_EQ(c.ReadSnapshot(2, "s1", 5 << 20, kBlock), Pattern(3));
  auto want = c.SnapshotCrc(0, "s1");
  auto got = c.SnapshotCrc(2, "s1");
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_EQ(*got, *want);
  // Its live data caught up too.
  EXPECT_EQ(c.ReadLive(2, 0, kBlock), Pattern(9));
}

TEST(SnapshotEngineTest, DeleteReachesEveryReplicaAlsoOneThatWasAway) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, Pattern(1)).ok());
  ASSERT_TRUE(c.engine()->CreateSnapshot("s1").ok());
  ASSERT_TRUE(c.engine()->CreateSnapshot("s2").ok());
  ASSERT_TRUE(WaitFor([&] {
    return Holds(c, 1, "s1") && Holds(c, 2, "s1") && Holds(c, 1, "s2") && Holds(c, 2, "s2");
  }));
  c.Stop(2);
  ASSERT_TRUE(c.engine()->DeleteSnapshot("s1").ok());
  EXPECT_TRUE(c.engine()->DeleteSnapshot("s1").ok()) << "idempotent";
  EXPECT_FALSE(c.replica(0).store().snapshots().Get("s1").ok());
  ASSERT_TRUE(WaitFor([&] { return !c.replica(1).store().snapshots().Get("s1").ok(); }));
  c.Start(2);
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_FALSE(c.replica(2).store().snapshots().Get("s1").ok())
      << "a returning replica drops what the primary no longer lists";
  EXPECT_TRUE(Holds(c, 2, "s2"));
  auto views = c.engine()->Snapshots();
  ASSERT_EQ(views.size(), 1u);
  EXPECT_EQ(views[0].record.name, "s2");
  EXPECT_EQ(StateOf(views[0], "node-2"), SnapshotCopyState::kReady);
}

TEST(SnapshotEngineTest, SnapshotsSurviveRestartsOfEveryNode) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, Pattern(1)).ok());
  ASSERT_TRUE(c.engine()->CreateSnapshot("s1").ok());
  ASSERT_TRUE(c.Write(0, Pattern(2)).ok());
  ASSERT_TRUE(WaitFor([&] { return Holds(c, 1, "s1") && Holds(c, 2, "s1"); }));
  auto before = c.SnapshotCrc(0, "s1");
  ASSERT_TRUE(before.ok());
  for (int i = 0; i < 3; ++i) c.Stop(i);
  for (int i = 0; i < 3; ++i) c.Start(i);
  ASSERT_TRUE(c.WaitInSync());
  auto v = c.engine()->GetSnapshot("s1");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->ready);
  for (int i = 0; i < 3; ++i) {
    auto crc = c.SnapshotCrc(i, "s1");
    ASSERT_TRUE(crc.ok()) << crc.status();
    EXPECT_EQ(*crc, *before) << "replica " << i;
    EXPECT_EQ(c.ReadSnapshot(i, "s1", 0, kBlock), Pattern(1));
  }
}

TEST(SnapshotEngineTest, ARestartedPrimaryStillCopiesWhatAReplicaMissed) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, Pattern(1)).ok());
  c.Stop(2);
  ASSERT_TRUE(c.engine()->CreateSnapshot("s1").ok());
  ASSERT_TRUE(c.Write(0, Pattern(2)).ok());
  c.Stop(0);  // the registry (who holds s1) is on disk only now
  c.Start(0);
  c.Start(2);
  // Ready on node-2 once the primary has the acknowledgement of the copy.
  ASSERT_TRUE(WaitFor([&] {
    auto v = c.engine()->GetSnapshot("s1");
    return v.ok() && StateOf(*v, "node-2") == SnapshotCopyState::kReady;
  }));
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_TRUE(Holds(c, 2, "s1"));
  EXPECT_EQ(c.ReadSnapshot(2, "s1", 0, kBlock), Pattern(1));
  EXPECT_EQ(c.ReadLive(2, 0, kBlock), Pattern(2));
}

TEST(SnapshotEngineTest, ACorruptRegistryIsRebuiltFromTheReplicas) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, Pattern(1)).ok());
  ASSERT_TRUE(c.engine()->CreateSnapshot("s1").ok());
  ASSERT_TRUE(WaitFor([&] { return Holds(c, 1, "s1") && Holds(c, 2, "s1"); }));
  for (int i = 0; i < 3; ++i) c.Stop(i);
  {
    std::ofstream out(c.node(0).dir + "/vol/snapshot-holders.json", std::ios::trunc);
    out << "{not json";
  }
  for (int i = 0; i < 3; ++i) c.Start(i);
  ASSERT_TRUE(c.WaitInSync());
  ASSERT_TRUE(WaitFor([&] {
    auto v = c.engine()->GetSnapshot("s1");
    return v.ok() && v->ready && StateOf(*v, "node-1") == SnapshotCopyState::kReady &&
           StateOf(*v, "node-2") == SnapshotCopyState::kReady;
  }));
}

TEST(SnapshotEngineTest, WithoutAMajorityItIsUnavailableAndBecomesReadyWhenAReplicaReturns) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, Pattern(1)).ok());
  c.Stop(1);
  c.Stop(2);
  auto snap = c.engine()->CreateSnapshot("s1");
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kUnavailable) << snap.status();
  auto v = c.engine()->GetSnapshot("s1");
  ASSERT_TRUE(v.ok()) << "it stays listed";
  EXPECT_FALSE(v->ready);
  EXPECT_EQ(StateOf(*v, "node-0"), SnapshotCopyState::kReady);
  c.Start(1);
  ASSERT_TRUE(WaitFor([&] {
    auto now = c.engine()->GetSnapshot("s1");
    return now.ok() && now->ready;
  }));
  EXPECT_EQ(c.ReadSnapshot(1, "s1", 0, kBlock), Pattern(1));
  // The same request now answers at once, ready.
  auto again = c.engine()->CreateSnapshot("s1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->ready);
}

// Not a timing assertion: prints how long a cut takes on a 1 GiB and a 64 GiB
// sparse volume holding the same 16 MiB of data, and checks each cut is
// complete on every replica.
TEST(SnapshotEngineTest, CutTimeByVolumeSize) {
  for (uint64_t size : {1ull << 30, 64ull << 30}) {
    EngineCluster c(size);
    std::string chunk(1 << 20, 'd');
    for (uint64_t i = 0; i < 16; ++i) {
      ASSERT_TRUE(c.Write(i * (size / 16), chunk).ok());
    }
    ASSERT_TRUE(c.WaitInSync());
    double total_ms = 0;
    constexpr int kCuts = 5;
    for (int i = 0; i < kCuts; ++i) {
      auto start = std::chrono::steady_clock::now();
      auto snap = c.engine()->CreateSnapshot("s" + std::to_string(i));
      total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                      .count();
      ASSERT_TRUE(snap.ok()) << snap.status();
      ASSERT_TRUE(snap->ready);
    }
    ASSERT_TRUE(WaitFor([&] { return Holds(c, 1, "s4") && Holds(c, 2, "s4"); }));
    EXPECT_EQ(c.ReadSnapshot(2, "s4", size / 2, 4096), std::string(4096, 'd'));
    std::printf("snapshot cut on a %llu GiB volume (16 MiB written, 3 replicas): %.2f ms average\n",
                static_cast<unsigned long long>(size >> 30), total_ms / kCuts);
  }
}

}  // namespace
}  // namespace syncblock::repl
