#include "csi/inflight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace syncblock::csi {
namespace {

TEST(InFlightTest, SecondCallOnTheSameVolumeIsAborted) {
  InFlight inflight;
  auto first = inflight.Acquire("vol-1");
  ASSERT_TRUE(first.ok());
  auto second = inflight.Acquire("vol-1");
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAborted);
  EXPECT_NE(second.status().message().find("vol-1"), std::string::npos);
  EXPECT_TRUE(inflight.Acquire("vol-2").ok());
}

TEST(InFlightTest, ReleasedWhenTheGuardGoes) {
  InFlight inflight;
  {
    auto guard = inflight.Acquire("vol-1");
    ASSERT_TRUE(guard.ok());
    EXPECT_TRUE(inflight.Busy("vol-1"));
  }
  EXPECT_FALSE(inflight.Busy("vol-1"));
  EXPECT_TRUE(inflight.Acquire("vol-1").ok());
}

TEST(InFlightTest, MovedGuardReleasesOnce) {
  InFlight inflight;
  auto guard = inflight.Acquire("vol-1");
  ASSERT_TRUE(guard.ok());
  {
    InFlight::Guard moved = std::move(*guard);
    EXPECT_TRUE(inflight.Busy("vol-1"));
  }
  EXPECT_FALSE(inflight.Busy("vol-1"));
  // The moved-from guard's destruction must not release a new holder's key.
  auto again = inflight.Acquire("vol-1");
  ASSERT_TRUE(again.ok());
  guard = absl::AbortedError("dropped");
  EXPECT_TRUE(inflight.Busy("vol-1"));
}

TEST(InFlightTest, ConcurrentCallersWhileHeldAreAllAborted) {
  InFlight inflight;
  auto held = inflight.Acquire("vol-1");
  ASSERT_TRUE(held.ok());
  std::atomic<int> aborted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      if (inflight.Acquire("vol-1").status().code() == absl::StatusCode::kAborted) ++aborted;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(aborted.load(), 8);
}

TEST(InFlightTest, ExactlyOneOfManyRacersWins) {
  InFlight inflight;
  std::atomic<int> wins{0};
  std::atomic<bool> go{false};
  std::vector<InFlight::Guard> kept;
  absl::Mutex kept_mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      auto g = inflight.Acquire("vol-1");
      if (g.ok()) {
        ++wins;
        absl::MutexLock lock(&kept_mu);
        kept.push_back(std::move(*g));  // hold it until every racer has tried
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(wins.load(), 1);
}

}  // namespace
}  // namespace syncblock::csi
