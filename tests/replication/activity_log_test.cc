// ActivityLog: a held region's bit is persisted before the hold exists and
// survives a reopen (a restarted primary); Trim clears only regions no write
// holds; the last holder of a shared hold releases it.
#include "replication/engine/activity_log.h"

#include <gtest/gtest.h>

#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::TempDir;

TEST(ActivityLogTest, HeldRegionsAreOnDiskAndTrimKeepsThem) {
  TempDir dir;
  std::string path = dir.Join("activity");
  auto log = ActivityLog::Open(path, 100);
  ASSERT_TRUE(log.ok()) << log.status();
  auto hold = (*log)->Hold(3, 5);
  ASSERT_TRUE(hold.ok()) << hold.status();
  {
    // What a restarted primary would read while the write is in flight.
    auto reopened = DirtyBitmap::Open(path, 100);
    ASSERT_TRUE(reopened.ok());
    EXPECT_EQ((*reopened)->count(), 3u);
  }
  ASSERT_TRUE((*log)->Trim().ok());
  EXPECT_EQ((*log)->Regions(), (std::vector<uint64_t>{3, 4, 5}));
  hold->reset();
  ASSERT_TRUE((*log)->Trim().ok());
  EXPECT_TRUE((*log)->Regions().empty());
}

TEST(ActivityLogTest, SharedHoldIsReleasedByItsLastHolder) {
  TempDir dir;
  auto log = ActivityLog::Open(dir.Join("activity"), 10);
  ASSERT_TRUE(log.ok());
  auto a = (*log)->Hold(1, 1);
  auto b = (*log)->Hold(1, 2);
  ASSERT_TRUE(a.ok() && b.ok());
  std::shared_ptr<ActivityHold> shared = *a;
  std::shared_ptr<ActivityHold> copy = shared;  // e.g. a peer's queue
  a->reset();
  shared.reset();
  ASSERT_TRUE((*log)->Trim().ok());
  EXPECT_EQ((*log)->Regions(), (std::vector<uint64_t>{1, 2})) << "still held by copy and b";
  copy.reset();
  ASSERT_TRUE((*log)->Trim().ok());
  EXPECT_EQ((*log)->Regions(), (std::vector<uint64_t>{1, 2})) << "b holds both";
  b->reset();
  ASSERT_TRUE((*log)->Trim().ok());
  EXPECT_TRUE((*log)->Regions().empty());
}

TEST(ActivityLogTest, GrowKeepsBits) {
  TempDir dir;
  auto log = ActivityLog::Open(dir.Join("activity"), 10);
  ASSERT_TRUE(log.ok());
  auto hold = (*log)->Hold(9, 9);
  ASSERT_TRUE(hold.ok());
  ASSERT_TRUE((*log)->Grow(100).ok());
  auto late = (*log)->Hold(99, 99);
  ASSERT_TRUE(late.ok());
  EXPECT_EQ((*log)->Regions(), (std::vector<uint64_t>{9, 99}));
}

}  // namespace
}  // namespace syncblock::repl
