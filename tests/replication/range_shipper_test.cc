// The data path of a remote sync cycle (replication/remote/range_shipper.h),
// over a fake source and sink: chunking, zeros as WRITE_ZEROES, checkpoints
// that a resumed transfer starts from, and stopping on any error.
#include "replication/remote/range_shipper.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/support/fake_clock.h"

namespace syncblock::repl {
namespace {

constexpr uint64_t kSize = 1 << 20;

// A volume in memory: what the sink was told, in order.
class MemSink final : public ChunkSink {
 public:
  MemSink() : data(kSize, 'x') {}
  absl::Status Write(uint64_t offset, const std::string& d) override {
    if (fail_writes_at >= 0 && offset >= static_cast<uint64_t>(fail_writes_at)) {
      return absl::UnavailableError("the target went away");
    }
    data.replace(offset, d.size(), d);
    ops.push_back("w" + std::to_string(offset));
    return absl::OkStatus();
  }
  absl::Status WriteZeroes(uint64_t offset, uint64_t length) override {
    data.replace(offset, length, std::string(length, '\0'));
    ops.push_back("z" + std::to_string(offset));
    return absl::OkStatus();
  }
  absl::Status Flush() override {
    ++flushes;
    return absl::OkStatus();
  }
  std::string data;
  std::vector<std::string> ops;
  int flushes = 0;
  int64_t fail_writes_at = -1;
};

// The snapshot: bytes i % 251 + 1 (never zero), except [zero_from, zero_to).
std::string Source(uint64_t zero_from, uint64_t zero_to) {
  std::string s(kSize, 0);
  for (uint64_t i = 0; i < kSize; ++i) {
    s[i] = (i >= zero_from && i < zero_to) ? 0 : static_cast<char>(i % 251 + 1);
  }
  return s;
}

ChunkReader ReaderOf(const std::string& source, std::vector<uint64_t>* reads = nullptr) {
  return [&source, reads](uint64_t offset, uint32_t len) -> absl::StatusOr<std::string> {
    if (reads) reads->push_back(offset);
    return source.substr(offset, len);
  };
}

ShipOptions SmallChunks() {
  ShipOptions o;
  o.chunk_bytes = 64 << 10;
  o.checkpoint_bytes = 128 << 10;
  o.checkpoint_interval = std::chrono::hours(1);
  return o;
}

TEST(RangeShipperTest, ShipsTheRangesAndSendsZerosWithoutData) {
  const std::string source = Source(256 << 10, 384 << 10);
  MemSink sink;
  syncblock::testing::FakeClock clock;
  std::vector<uint64_t> checkpoints;
  ByteRanges ranges{{0, 512 << 10}, {768 << 10, 10000}};
  auto done = ShipRanges(
      ranges, {}, {}, ReaderOf(source), sink, SmallChunks(),
      [&](const ShipTotals& t) {
        checkpoints.push_back(t.through_offset);
        return absl::OkStatus();
      },
      [] { return false; }, clock);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->bytes_shipped, (384u << 10) + 10000);
  EXPECT_EQ(done->zero_bytes, 128u << 10);
  EXPECT_EQ(done->through_offset, (768u << 10) + 10000);
  for (const auto& r : ranges) {
    EXPECT_EQ(sink.data.substr(r.offset, r.length), source.substr(r.offset, r.length));
  }
  // Outside the ranges the target is untouched.
  EXPECT_EQ(sink.data.substr(512 << 10, 256 << 10), std::string(256 << 10, 'x'));
  // A checkpoint before the first write (the target is checked first), then
  // every 128 KiB of data, always after a flush, and one at the end.
  ASSERT_GE(checkpoints.size(), 3u);
  EXPECT_EQ(checkpoints[0], 0u);
  EXPECT_EQ(checkpoints[1], 128u << 10);
  EXPECT_EQ(checkpoints.back(), done->through_offset);
  EXPECT_EQ(sink.flushes, static_cast<int>(checkpoints.size()));
}

// Ranges known to be zeros on the source (a full copy onto a target that
// an unfinished copy wrote) go as WRITE_ZEROES, unread, in offset order.
TEST(RangeShipperTest, KnownZerosAreWrittenWithoutReadingInOrder) {
  const std::string source = Source(0, 0);
  MemSink sink;
  syncblock::testing::FakeClock clock;
  std::vector<uint64_t> reads;
  auto done = ShipRanges(
      {{0, 64 << 10}, {512 << 10, 64 << 10}}, {{64 << 10, 448 << 10}, {576 << 10, 448 << 10}}, {},
      ReaderOf(source, &reads), sink, SmallChunks(),
      [](const ShipTotals&) { return absl::OkStatus(); }, [] { return false; }, clock);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(reads, (std::vector<uint64_t>{0, 512 << 10}));
  EXPECT_EQ(sink.ops, (std::vector<std::string>{"w0", "z65536", "w524288", "z589824"}));
  EXPECT_EQ(done->zero_bytes, 896u << 10);
  EXPECT_EQ(done->through_offset, kSize);
}

TEST(RangeShipperTest, ResumesFromItsCheckpointWithoutReadingWhatWasShipped) {
  const std::string source = Source(0, 0);
  MemSink sink;
  sink.fail_writes_at = 600 << 10;
  syncblock::testing::FakeClock clock;
  ShipTotals last;
  auto checkpoint = [&](const ShipTotals& t) {
    last = t;
    return absl::OkStatus();
  };
  ByteRanges ranges{{0, kSize}};
  auto first = ShipRanges(
      ranges, {}, {}, ReaderOf(source), sink, SmallChunks(), checkpoint, [] { return false; },
      clock);
  ASSERT_EQ(first.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(last.through_offset, 640u << 10);  // the last checkpoint before the failure

  sink.fail_writes_at = -1;
  std::vector<uint64_t> reads;
  auto second = ShipRanges(
      ranges, {}, last, ReaderOf(source, &reads), sink, SmallChunks(), checkpoint,
      [] { return false; }, clock);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_FALSE(reads.empty());
  EXPECT_EQ(reads.front(), 640u << 10);
  EXPECT_EQ(second->bytes_shipped, kSize);  // counted on from the first attempt's checkpoint
  EXPECT_EQ(sink.data, source);
}

TEST(RangeShipperTest, StopsWhenAskedAndWhenACheckpointFails) {
  const std::string source = Source(0, 0);
  MemSink sink;
  syncblock::testing::FakeClock clock;
  int chunks = 0;
  auto stopped = ShipRanges(
      {{0, kSize}}, {}, {}, ReaderOf(source), sink, SmallChunks(),
      [](const ShipTotals&) { return absl::OkStatus(); }, [&] { return ++chunks > 3; }, clock);
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(sink.ops.size(), 3u);

  MemSink sink2;
  auto refused = ShipRanges(
      {{0, kSize}}, {}, {}, ReaderOf(source), sink2, SmallChunks(),
      [](const ShipTotals&) { return absl::FailedPreconditionError("promoted there"); },
      [] { return false; }, clock);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(sink2.ops.empty());  // the check before the first write refused
}

TEST(RangeShipperTest, AShortOrFailedReadStopsTheTransfer) {
  MemSink sink;
  syncblock::testing::FakeClock clock;
  auto short_read = ShipRanges(
      {{0, 4096}}, {}, {}, [](uint64_t, uint32_t) -> absl::StatusOr<std::string> { return "abc"; },
      sink, SmallChunks(), [](const ShipTotals&) { return absl::OkStatus(); }, [] { return false; },
      clock);
  EXPECT_EQ(short_read.status().code(), absl::StatusCode::kDataLoss);
  auto failed = ShipRanges(
      {{0, 4096}}, {}, {},
      [](uint64_t, uint32_t) -> absl::StatusOr<std::string> {
        return absl::DataLossError("checksum mismatch");
      },
      sink, SmallChunks(), [](const ShipTotals&) { return absl::OkStatus(); }, [] { return false; },
      clock);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(sink.ops.empty());
}

// A process frozen mid-transfer (the clock moves on) checks that the target
// is still its own before it writes again.
TEST(RangeShipperTest, AWriteAfterALongPauseIsCheckedFirst) {
  const std::string source = Source(0, 0);
  MemSink sink;
  syncblock::testing::FakeClock clock;
  std::vector<uint64_t> checkpoints;
  bool taken = false;  // another controller took the target meanwhile
  int reads = 0;
  ShipOptions o = SmallChunks();
  o.checkpoint_bytes = 1 << 30;  // none by size: only the validity's
  auto done = ShipRanges(
      {{0, kSize}}, {}, {},
      [&](uint64_t offset, uint32_t len) -> absl::StatusOr<std::string> {
        if (++reads == 3) {
          clock.Advance(std::chrono::seconds(30));  // frozen here
          taken = true;
        }
        return source.substr(offset, len);
      },
      sink, o,
      [&](const ShipTotals& t) {
        checkpoints.push_back(t.through_offset);
        return taken ? absl::AbortedError("another controller runs this sync now")
                     : absl::OkStatus();
      },
      [] { return false; }, clock);
  EXPECT_EQ(done.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(sink.ops.size(), 2u);  // the third chunk was never written
  EXPECT_EQ(checkpoints, (std::vector<uint64_t>{0, 128 << 10}));
}

TEST(RangeShipperTest, NothingToShipStillCheckpointsWhereItStands) {
  MemSink sink;
  syncblock::testing::FakeClock clock;
  int checkpoints = 0;
  ShipTotals start;
  start.through_offset = 4096;
  auto done = ShipRanges(
      {}, {}, start, ReaderOf(Source(0, 0)), sink, SmallChunks(),
      [&](const ShipTotals&) {
        ++checkpoints;
        return absl::OkStatus();
      },
      [] { return false; }, clock);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->through_offset, 4096u);
  EXPECT_EQ(checkpoints, 1);
}

}  // namespace
}  // namespace syncblock::repl
