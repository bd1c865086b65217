// Online growth through the replication engine, with three real replicas over
// loopback: smaller is refused, equal is a no-op, a larger size reaches every
// replica through the write stream (or at the hello of one that was away) and
// writes past the old end land everywhere; growth survives a restart.
#include <gtest/gtest.h>

#include "tests/replication/engine_cluster.h"

namespace syncblock::repl {
namespace {

using syncblock::repl::testing::EngineCluster;
using syncblock::testing::WaitFor;

constexpr uint64_t kSize = 4 << 20;

TEST(ExpandEngineTest, SmallerIsRefusedAndEqualIsANoOp) {
  EngineCluster c(kSize);
  EXPECT_EQ(c.engine()->Expand(kSize - 4096).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(c.engine()->Expand(kSize).ok());
  EXPECT_EQ(c.engine()->Size(), kSize);
  EXPECT_EQ(c.replica(0).manifest().size_bytes, kSize);
}

TEST(ExpandEngineTest, WritesPastTheOldEndReachEveryReplica) {
  EngineCluster c(kSize);
  std::string data(64 << 10, 'x');
  EXPECT_EQ(c.Write(kSize, data).code(), absl::StatusCode::kOutOfRange);
  // One replica away: it grows at its hello and resyncs the new data.
  c.Stop(2);
  ASSERT_TRUE(c.engine()->Expand(3 * kSize).ok());
  EXPECT_EQ(c.engine()->Size(), 3 * kSize);
  ASSERT_TRUE(c.Write(kSize, data).ok());
  ASSERT_TRUE(c.Write(3 * kSize - data.size(), std::string(data.size(), 'y')).ok());
  EXPECT_TRUE(WaitFor([&] { return c.replica(1).manifest().size_bytes == 3 * kSize; }))
      << "an in-sync replica grows from the stream";
  c.Start(2);
  ASSERT_TRUE(c.WaitInSync());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.replica(i).manifest().size_bytes, 3 * kSize) << "replica " << i;
    EXPECT_EQ(c.ReadLive(i, kSize, data.size()), data) << "replica " << i;
    EXPECT_EQ(c.ReadLive(i, 3 * kSize - data.size(), data.size()),
              std::string(data.size(), 'y'))
        << "replica " << i;
  }
  // A write of the region spanning the old end, and a restart of everything.
  ASSERT_TRUE(c.Write(kSize - 4096, std::string(8192, 'z')).ok());
  for (int i = 0; i < 3; ++i) c.Stop(i);
  for (int i = 0; i < 3; ++i) c.Start(i);
  ASSERT_TRUE(c.WaitInSync());
  EXPECT_EQ(c.engine()->Size(), 3 * kSize);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.ReadLive(i, kSize - 4096, 8192), std::string(8192, 'z')) << "replica " << i;
  }
}

TEST(ExpandEngineTest, ASnapshotKeepsItsSizeAfterGrowth) {
  EngineCluster c(kSize);
  ASSERT_TRUE(c.Write(0, std::string(4096, 'a')).ok());
  ASSERT_TRUE(c.engine()->CreateSnapshot("before").ok());
  ASSERT_TRUE(c.engine()->Expand(2 * kSize).ok());
  ASSERT_TRUE(c.Write(kSize, std::string(4096, 'b')).ok());
  ASSERT_TRUE(c.engine()->CreateSnapshot("after").ok());
  ASSERT_TRUE(c.WaitInSync());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor([&] { return c.replica(i).store().snapshots().Get("after").ok(); }));
    auto before = c.replica(i).store().snapshots().Get("before");
    ASSERT_TRUE(before.ok()) << before.status();
    EXPECT_EQ(before->size_bytes, kSize);
    EXPECT_EQ(c.replica(i).store().snapshots().Get("after")->size_bytes, 2 * kSize);
    EXPECT_EQ(c.ReadSnapshot(i, "after", kSize, 4096), std::string(4096, 'b'));
  }
}

}  // namespace
}  // namespace syncblock::repl
