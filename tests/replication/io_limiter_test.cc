// TokenBucket, IoLimiter and QosSettings: the QoS limiter of a volume's NBD
// export, driven by a FakeClock (no timing in these tests: time only moves
// when a test says so).
#include "replication/qos/io_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "replication/qos/qos_registry.h"
#include "replication/qos/qos_settings.h"
#include "replication/qos/token_bucket.h"
#include "tests/support/fake_clock.h"

namespace syncblock::repl {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using syncblock::testing::FakeClock;

// Records what reaches it, completes nothing by itself.
class RecordingDevice : public BlockDevice {
 public:
  uint64_t Size() const override { return 1 << 30; }
  void Submit(std::shared_ptr<IoRequest> request) override { seen.push_back(request); }
  std::vector<std::shared_ptr<IoRequest>> seen;
};

double Ms(std::optional<nanoseconds> d) { return d ? d->count() / 1e6 : -1; }

std::shared_ptr<IoRequest> Req(IoOp op, uint32_t length = 4096, uint64_t offset = 0) {
  auto r = std::make_shared<IoRequest>();
  r->op = op;
  r->length = length;
  r->offset = offset;
  return r;
}

TEST(TokenBucketTest, StartsFullAndRefillsAtItsRate) {
  FakeClock clock;
  TokenBucket b;
  b.Configure(100, 10, clock.Now());
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b.TryTake(1, clock.Now())) << i;
  EXPECT_FALSE(b.TryTake(1, clock.Now()));
  EXPECT_NEAR(Ms(b.TimeUntil(1, clock.Now())), 10, 1e-3);
  clock.Advance(milliseconds(10));
  EXPECT_TRUE(b.TryTake(1, clock.Now()));
  // Never above its capacity, however long it idles.
  clock.Advance(std::chrono::seconds(100));
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), 10);
}

TEST(TokenBucketTest, ARequestLargerThanTheBucketGoesAndLeavesADebt) {
  FakeClock clock;
  TokenBucket b;
  b.Configure(1000, 100, clock.Now());  // 1000 bytes/s, 100-byte bucket
  EXPECT_TRUE(b.TryTake(500, clock.Now()));
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), -400);
  // The next one waits for the debt and its own share (up to the capacity).
  EXPECT_NEAR(Ms(b.TimeUntil(50, clock.Now())), 450, 1e-3);
  clock.Advance(milliseconds(449));
  EXPECT_FALSE(b.TryTake(50, clock.Now()));
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(b.TryTake(50, clock.Now()));
}

TEST(TokenBucketTest, ZeroRateIsUnlimitedAndReconfigureKeepsTheLevel) {
  FakeClock clock;
  TokenBucket b;
  b.Configure(0, 0, clock.Now());
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(b.TryTake(1e9, clock.Now()));
  b.Configure(10, 5, clock.Now());
  EXPECT_DOUBLE_EQ(b.Level(clock.Now()), 5);  // from unlimited: starts full
  TokenBucket c;
  c.Configure(10, 5, clock.Now());
  EXPECT_TRUE(c.TryTake(3, clock.Now()));
  c.Configure(100, 50, clock.Now());
  EXPECT_DOUBLE_EQ(c.Level(clock.Now()), 2);  // kept
  c.Configure(100, 1, clock.Now());
  EXPECT_DOUBLE_EQ(c.Level(clock.Now()), 1);  // clamped
}

TEST(IoLimiterTest, WithoutLimitsEverythingGoesAtOnce) {
  FakeClock clock;
  IoLimiter limiter(&clock, /*start_thread=*/false);
  auto dev = std::make_shared<RecordingDevice>();
  for (int i = 0; i < 100; ++i) limiter.Submit(dev, Req(IoOp::kWrite, 1 << 20));
  EXPECT_EQ(dev->seen.size(), 100u);
  EXPECT_EQ(limiter.Stats().delayed, 0u);
  EXPECT_EQ(limiter.Pump(), std::nullopt);
}

TEST(IoLimiterTest, IopsLimitReleasesOneRequestPerInterval) {
  FakeClock clock;
  IoLimiter limiter(&clock, false);
  // 10 IOPS: the smallest bucket (20 ms of the limit) holds one IO.
  limiter.Configure({.max_iops = 10, .max_bandwidth = 0, .burst_seconds = 0});
  auto dev = std::make_shared<RecordingDevice>();
  for (int i = 0; i < 5; ++i) limiter.Submit(dev, Req(IoOp::kRead, 4096, i * 4096));
  ASSERT_EQ(dev->seen.size(), 1u);
  EXPECT_EQ(limiter.Stats().queued, 4u);
  EXPECT_NEAR(Ms(limiter.Pump()), 100, 1e-3);
  for (int i = 2; i <= 5; ++i) {
    clock.Advance(milliseconds(100));
    limiter.Pump();
    EXPECT_EQ(dev->seen.size(), static_cast<size_t>(i));
  }
  // In arrival order.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(dev->seen[i]->offset, static_cast<uint64_t>(i) * 4096);
  auto stats = limiter.Stats();
  EXPECT_EQ(stats.requests, 5u);
  EXPECT_EQ(stats.delayed, 4u);
  EXPECT_NEAR(stats.delay_seconds, 0.1 + 0.2 + 0.3 + 0.4, 1e-9);
}

TEST(IoLimiterTest, BurstLetsAnIdleVolumeSpendSecondsOfItsLimitAtOnce) {
  FakeClock clock;
  IoLimiter limiter(&clock, false);
  limiter.Configure({.max_iops = 100, .max_bandwidth = 0, .burst_seconds = 2});
  auto dev = std::make_shared<RecordingDevice>();
  for (int i = 0; i < 250; ++i) limiter.Submit(dev, Req(IoOp::kRead));
  EXPECT_EQ(dev->seen.size(), 200u);
  clock.Advance(std::chrono::milliseconds(500));
  limiter.Pump();
  EXPECT_EQ(dev->seen.size(), 250u);
}

TEST(IoLimiterTest, BandwidthLimitCountsReadAndWriteBytesOnly) {
  FakeClock clock;
  IoLimiter limiter(&clock, false);
  const uint64_t mib = 1 << 20;
  limiter.Configure({.max_iops = 0, .max_bandwidth = mib, .burst_seconds = 0});
  auto dev = std::make_shared<RecordingDevice>();
  limiter.Submit(dev, Req(IoOp::kWrite, 1 << 20));  // goes, leaves ~1 MiB of debt
  limiter.Submit(dev, Req(IoOp::kRead, 1 << 19));
  EXPECT_EQ(dev->seen.size(), 1u);
  // A FLUSH costs nothing but keeps its place behind the read.
  limiter.Submit(dev, Req(IoOp::kFlush, 0));
  EXPECT_EQ(dev->seen.size(), 1u);
  auto wait = limiter.Pump();
  ASSERT_TRUE(wait.has_value());
  clock.Advance(*wait);
  limiter.Pump();
  ASSERT_EQ(dev->seen.size(), 3u);
  EXPECT_EQ(dev->seen[1]->op, IoOp::kRead);
  EXPECT_EQ(dev->seen[2]->op, IoOp::kFlush);
  // Over 10 s, at most 10 MiB (plus the bucket) goes.
  for (int i = 0; i < 100; ++i) limiter.Submit(dev, Req(IoOp::kWrite, 1 << 18));
  size_t before = dev->seen.size();
  for (int ms = 0; ms < 10000; ms += 5) {
    clock.Advance(milliseconds(5));
    limiter.Pump();
  }
  size_t sent = dev->seen.size() - before;
  EXPECT_GE(sent, 38u);  // ~10 MiB / 256 KiB = 40, less the debt carried in
  EXPECT_LE(sent, 41u);
}

TEST(IoLimiterTest, RaisingOrRemovingTheLimitReleasesTheQueue) {
  FakeClock clock;
  IoLimiter limiter(&clock, false);
  limiter.Configure({.max_iops = 1, .max_bandwidth = 0, .burst_seconds = 0});
  auto dev = std::make_shared<RecordingDevice>();
  for (int i = 0; i < 10; ++i) limiter.Submit(dev, Req(IoOp::kTrim));
  EXPECT_EQ(dev->seen.size(), 1u);
  limiter.Configure({});
  limiter.Pump();
  EXPECT_EQ(dev->seen.size(), 10u);
  EXPECT_EQ(limiter.Stats().queued, 0u);
}

TEST(IoLimiterTest, DestroyingTheLimiterSendsWhatWaitsRatherThanDroppingIt) {
  FakeClock clock;
  auto dev = std::make_shared<RecordingDevice>();
  {
    IoLimiter limiter(&clock, false);
    limiter.Configure({.max_iops = 1, .max_bandwidth = 0, .burst_seconds = 0});
    for (int i = 0; i < 3; ++i) limiter.Submit(dev, Req(IoOp::kRead));
    EXPECT_EQ(dev->seen.size(), 1u);
  }
  EXPECT_EQ(dev->seen.size(), 3u);
}

// With its own thread and the real clock: every request completes. (How
// fast is the benchmark's business, tests/bench/qos_bench.sh.)
TEST(IoLimiterTest, ItsThreadSendsOnEveryQueuedRequest) {
  class Completing : public BlockDevice {
   public:
    uint64_t Size() const override { return 1 << 20; }
    void Submit(std::shared_ptr<IoRequest> r) override { r->done(*r); }
  };
  auto dev = std::make_shared<Completing>();
  auto limiter = std::make_shared<IoLimiter>();
  limiter->Configure({.max_iops = 2000, .max_bandwidth = 0, .burst_seconds = 0});
  ThrottledDevice throttled(dev, limiter);
  std::atomic<int> done{0};
  for (int i = 0; i < 50; ++i) {
    auto r = Req(IoOp::kRead);
    r->done = [&](IoRequest&) { done++; };
    throttled.Submit(r);
  }
  for (int i = 0; i < 500 && done < 50; ++i) std::this_thread::sleep_for(milliseconds(10));
  EXPECT_EQ(done.load(), 50);
}

TEST(QosSettingsTest, ParsesValuesAndNamesTheKeyOfABadOne) {
  EXPECT_EQ(*ParseQosIops("maxIops", "500"), 500u);
  EXPECT_EQ(*ParseQosIops("maxIops", "0"), 0u);
  EXPECT_EQ(*ParseQosIops("maxIops", "unlimited"), 0u);
  for (const char* bad : {"", "-1", "1.5", "abc", "+3", "99999999999"}) {
    auto s = ParseQosIops("maxIops", bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("maxIops"), std::string::npos);
  }
  EXPECT_EQ(*ParseQosBandwidth("maxBandwidth", "100Mi"), 100u << 20);
  EXPECT_EQ(*ParseQosBandwidth("maxBandwidth", "50M"), 50'000'000u);
  EXPECT_EQ(*ParseQosBandwidth("maxBandwidth", "1048576"), 1048576u);
  EXPECT_EQ(*ParseQosBandwidth("maxBandwidth", "1Gi"), 1u << 30);
  EXPECT_EQ(*ParseQosBandwidth("maxBandwidth", "0"), 0u);
  for (const char* bad : {"", "Mi", "10MB", "1.5Mi", "-5Mi", "1000", "2Ti0", "9999Ti"}) {
    auto s = ParseQosBandwidth("maxBandwidth", bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.status().message().find("maxBandwidth"), std::string::npos);
  }
  EXPECT_DOUBLE_EQ(*ParseQosBurst("burst", "2"), 2);
  EXPECT_DOUBLE_EQ(*ParseQosBurst("burst", "0.5s"), 0.5);
  for (const char* bad : {"", "s", "-1", "61", "nan", "inf", "x"}) {
    EXPECT_FALSE(ParseQosBurst("burst", bad).ok()) << bad;
  }
}

TEST(QosSettingsTest, AttributesRoundTripAndBadStoredValuesMeanNoLimit) {
  QosSettings s{.max_iops = 500, .max_bandwidth = 100 << 20, .burst_seconds = 1.5};
  EXPECT_EQ(QosFromAttributes(QosToAttributes(s)), s);
  EXPECT_EQ(QosFromAttributes({}), QosSettings{});
  EXPECT_EQ(QosFromAttributes({{kAttrQosMaxIops, "lots"}}).max_iops, 0u);
  EXPECT_EQ(DescribeIops(0), "unlimited");
  EXPECT_EQ(DescribeIops(500), "500 IOPS");
  EXPECT_EQ(DescribeBandwidth(100 << 20), "100 MiB/s");
}

TEST(QosRegistryTest, OneLimiterPerVolumeFollowsItsAttributes) {
  QosRegistry registry;
  auto a = registry.Configure("vol-a", {{kAttrQosMaxIops, "100"}});
  auto again = registry.Configure("vol-a", {{kAttrQosMaxIops, "200"}});
  EXPECT_EQ(a, again);
  EXPECT_EQ(a->settings().max_iops, 200u);
  auto b = registry.Configure("vol-b", {});
  EXPECT_NE(a, b);
  EXPECT_FALSE(b->settings().limited());
  EXPECT_EQ(registry.Stats().size(), 2u);
  registry.Forget("vol-a");
  EXPECT_EQ(registry.Stats().size(), 1u);
}

}  // namespace
}  // namespace syncblock::repl
