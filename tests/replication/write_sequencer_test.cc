// WriteSequencer: sequence numbers in order, overlapping writes applied in
// sequence order, disjoint ones in parallel, flushes after every earlier
// write, barriers between everything.
#include "replication/engine/write_sequencer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace syncblock::repl {
namespace {

using Kind = WriteSequencer::Kind;
constexpr auto kShort = std::chrono::milliseconds(50);

uint64_t Seq(WriteSequencer& s, Kind k, uint64_t off, uint64_t len) {
  return s.Sequence(k, off, len, [](uint64_t) {});
}

// True when WaitTurn(seq) returns within kShort (it does not wait).
bool GoesAtOnce(WriteSequencer& s, uint64_t seq) {
  auto f = std::async(std::launch::async, [&] { s.WaitTurn(seq); });
  return f.wait_for(kShort) == std::future_status::ready;
}

TEST(WriteSequencerTest, NumbersContinueAfterTheStartAndCallbackSeesThem) {
  WriteSequencer s(100);
  uint64_t seen = 0;
  uint64_t seq = s.Sequence(Kind::kWrite, 0, 4096, [&](uint64_t q) { seen = q; });
  EXPECT_EQ(seq, 101u);
  EXPECT_EQ(seen, 101u);
  EXPECT_EQ(s.last_seq(), 101u);
  EXPECT_EQ(Seq(s, Kind::kControl, 0, 0), 102u);
  EXPECT_EQ(s.in_flight(), 1u) << "control frames are not tracked";
}

TEST(WriteSequencerTest, OverlappingWriteWaitsForTheEarlierOne) {
  WriteSequencer s(0);
  uint64_t a = Seq(s, Kind::kWrite, 0, 8192);
  uint64_t b = Seq(s, Kind::kWrite, 4096, 4096);
  uint64_t c = Seq(s, Kind::kWrite, 8192, 4096);
  EXPECT_TRUE(GoesAtOnce(s, a));
  EXPECT_TRUE(GoesAtOnce(s, c)) << "disjoint writes do not wait";
  auto waiting = std::async(std::launch::async, [&] { s.WaitTurn(b); });
  EXPECT_EQ(waiting.wait_for(kShort), std::future_status::timeout);
  s.Applied(a);
  EXPECT_EQ(waiting.wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

TEST(WriteSequencerTest, FlushWaitsForEarlierWritesButNothingWaitsForIt) {
  WriteSequencer s(0);
  uint64_t w = Seq(s, Kind::kWrite, 0, 4096);
  uint64_t f = Seq(s, Kind::kFlush, 0, 0);
  uint64_t later = Seq(s, Kind::kWrite, 0, 4096);
  auto flush = std::async(std::launch::async, [&] { s.WaitTurn(f); });
  EXPECT_EQ(flush.wait_for(kShort), std::future_status::timeout);
  s.Applied(w);
  EXPECT_EQ(flush.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_TRUE(GoesAtOnce(s, later)) << "a later write does not wait for the flush's fsync";
}

TEST(WriteSequencerTest, BarrierSeparatesEverything) {
  WriteSequencer s(0);
  uint64_t w = Seq(s, Kind::kWrite, 0, 4096);
  uint64_t barrier = Seq(s, Kind::kBarrier, 0, 0);
  uint64_t after = Seq(s, Kind::kWrite, 1 << 20, 4096);
  auto cut = std::async(std::launch::async, [&] { s.WaitTurn(barrier); });
  EXPECT_EQ(cut.wait_for(kShort), std::future_status::timeout);
  s.Applied(w);
  EXPECT_EQ(cut.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  auto write = std::async(std::launch::async, [&] { s.WaitTurn(after); });
  EXPECT_EQ(write.wait_for(kShort), std::future_status::timeout) << "waits for the barrier";
  s.Applied(barrier);
  EXPECT_EQ(write.wait_for(std::chrono::seconds(30)), std::future_status::ready);
}

TEST(WriteSequencerTest, ManyThreadsApplyOverlappingWritesInSequenceOrder) {
  WriteSequencer s(0);
  std::atomic<uint64_t> last_applied{0};
  std::atomic<bool> out_of_order{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        uint64_t seq = Seq(s, Kind::kWrite, 0, 4096);  // all overlap
        s.WaitTurn(seq);
        if (last_applied.exchange(seq) > seq) out_of_order = true;
        s.Applied(seq);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(out_of_order);
  EXPECT_EQ(s.in_flight(), 0u);
}

}  // namespace
}  // namespace syncblock::repl
