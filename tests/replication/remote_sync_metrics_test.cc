// The remote sync's /metrics series (replication/node/remote_sync_metrics.h),
// from the declaration and status in a volume's attributes.
#include "replication/node/remote_sync_metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "replication/types/remote_sync_policy.h"

namespace syncblock::repl {
namespace {

constexpr int64_t kNow = 1'700'000'100'000;

std::map<std::string, std::string> Declaring(const std::string& remote,
                                             std::chrono::seconds interval) {
  RemoteSyncPolicy p;
  p.remote = remote;
  p.target = std::string(kDefaultRemotePrefix) + "vol";
  p.interval = interval;
  p.pairing = "0123456789abcdef";
  return RemoteSyncAttributes(p);
}

bool Has(const std::string& text, const std::string& line) {
  return absl::StrContains(text, "\n" + line + "\n");
}

TEST(RemoteSyncMetricsTest, EveryFamilyHasHelpAndTypeEvenWithoutVolumes) {
  std::string out = RenderRemoteSyncMetrics({}, kNow);
  for (const char* family :
       {"syncblock_remote_sync_cycles_total counter",
        "syncblock_remote_sync_bytes_shipped_total counter",
        "syncblock_remote_sync_last_cycle_bytes gauge",
        "syncblock_remote_sync_last_cycle_failed gauge", "syncblock_remote_sync_rpo_seconds gauge",
        "syncblock_remote_sync_rpo_bound_seconds gauge",
        "syncblock_remote_sync_transfer_progress_bytes gauge",
        "syncblock_remote_sync_transfer_changed_bytes gauge"}) {
    EXPECT_TRUE(absl::StrContains(out, std::string("# TYPE ") + family)) << family << "\n" << out;
  }
  EXPECT_FALSE(absl::StrContains(out, "{")) << out;
}

TEST(RemoteSyncMetricsTest, AVolumeWithoutADeclarationHasNoSeries) {
  std::map<std::string, std::string> broken = Declaring("b", std::chrono::seconds(30));
  broken.erase(kAttrRemotePairing);  // declared, but not so that a sync could run
  std::string out =
      RenderRemoteSyncMetrics({{"plain", {{"qos.maxIops", "5"}}}, {"broken", broken}}, kNow);
  EXPECT_FALSE(absl::StrContains(out, "{")) << out;
}

TEST(RemoteSyncMetricsTest, BeforeTheFirstCycleOnlyZerosAndTheBound) {
  std::string out =
      RenderRemoteSyncMetrics({{"vol", Declaring("site-b", std::chrono::seconds(30))}}, kNow);
  const std::string l = "{volume=\"vol\",remote=\"site-b\"";
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_cycles_total" + l + ",result=\"succeeded\"} 0"))
      << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_cycles_total" + l + ",result=\"failed\"} 0")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_bytes_shipped_total" + l + "} 0")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_last_cycle_bytes" + l + "} 0")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_last_cycle_failed" + l + "} 0")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_rpo_bound_seconds" + l + "} 60")) << out;
  // No recovery point on the remote yet, and no transfer.
  EXPECT_FALSE(absl::StrContains(out, "syncblock_remote_sync_rpo_seconds{")) << out;
  EXPECT_FALSE(absl::StrContains(out, "syncblock_remote_sync_transfer_progress_bytes{")) << out;
  EXPECT_FALSE(absl::StrContains(out, "syncblock_remote_sync_transfer_changed_bytes{")) << out;
}

TEST(RemoteSyncMetricsTest, ReportsTheStatusTheSyncWrote) {
  auto a = Declaring("site-b", std::chrono::seconds(300));
  RemoteSyncStatus s;
  s.cycles_ok = 12;
  s.cycles_failed = 3;
  s.bytes_shipped_total = 1 << 30;
  s.last.emplace();
  s.last->bytes_shipped = 4096;
  s.last->ok = false;
  s.newest_remote_snapshot = RemoteSnapshotName(kNow - 90'500);
  s.newest_remote_point_unix_ms = kNow - 90'500;
  s.progress.emplace();
  s.progress->bytes_shipped = 8192;
  s.progress->changed_bytes = 65536;
  a[kAttrRemoteStatus] = EncodeRemoteSyncStatus(s);
  std::string out = RenderRemoteSyncMetrics({{"vol", a}}, kNow);
  const std::string l = "{volume=\"vol\",remote=\"site-b\"";
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_cycles_total" + l + ",result=\"succeeded\"} 12"))
      << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_cycles_total" + l + ",result=\"failed\"} 3")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_bytes_shipped_total" + l + "} 1073741824")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_last_cycle_bytes" + l + "} 4096")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_last_cycle_failed" + l + "} 1")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_rpo_seconds" + l + "} 90.5")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_rpo_bound_seconds" + l + "} 600")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_transfer_progress_bytes" + l + "} 8192")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_transfer_changed_bytes" + l + "} 65536")) << out;

  // A successful last cycle; a recovery point a skewed clock puts ahead.
  s.last->ok = true;
  s.newest_remote_point_unix_ms = kNow + 2000;
  s.progress.reset();
  a[kAttrRemoteStatus] = EncodeRemoteSyncStatus(s);
  out = RenderRemoteSyncMetrics({{"vol", a}}, kNow);
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_last_cycle_failed" + l + "} 0")) << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_rpo_seconds" + l + "} 0")) << out;
  EXPECT_FALSE(absl::StrContains(out, "syncblock_remote_sync_transfer_progress_bytes{")) << out;
}

TEST(RemoteSyncMetricsTest, AStatusThatDoesNotDecodeCountsAsNoCycleYet) {
  auto a = Declaring("r", std::chrono::seconds(60));
  a[kAttrRemoteStatus] = "{broken";
  std::string out = RenderRemoteSyncMetrics({{"vol", a}}, kNow);
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_last_cycle_failed{volume=\"vol\",remote=\"r\"} 0"))
      << out;
  EXPECT_TRUE(Has(out, "syncblock_remote_sync_rpo_bound_seconds{volume=\"vol\",remote=\"r\"} 120"))
      << out;
}

TEST(RemoteSyncMetricsTest, LabelValuesAreEscaped) {
  std::string out =
      RenderRemoteSyncMetrics({{"vol", Declaring("a\"b\\c\nd", std::chrono::seconds(60))}}, kNow);
  EXPECT_TRUE(absl::StrContains(out, "remote=\"a\\\"b\\\\c\\nd\"")) << out;
}

}  // namespace
}  // namespace syncblock::repl
