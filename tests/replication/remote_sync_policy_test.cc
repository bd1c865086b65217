// The remote sync's declaration and status in a volume's attributes
// (replication/types/remote_sync_policy.h): every attribute parsed, good and
// bad values refused with a message naming the attribute, and the status
// JSON round trip.
#include "replication/types/remote_sync_policy.h"

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace syncblock::repl {
namespace {

using Attributes = std::map<std::string, std::string>;

Attributes Declared() {
  return {{kAttrRemoteName, "site-b"},  {kAttrRemoteTarget, "dr-vol"},
          {kAttrRemoteInterval, "30"},  {kAttrRemoteKeep, "5"},
          {kAttrRemoteRate, "1048576"}, {kAttrRemotePairing, "0123456789abcdef"}};
}

TEST(RemoteSyncPolicyTest, NoRemoteNameDeclaresNoSync) {
  auto p = RemoteSyncPolicyFromAttributes({});
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->has_value());
  // The other keys alone declare nothing either.
  Attributes a = Declared();
  a.erase(kAttrRemoteName);
  p = RemoteSyncPolicyFromAttributes(a);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(p->has_value());
}

TEST(RemoteSyncPolicyTest, ParsesEveryAttribute) {
  auto p = RemoteSyncPolicyFromAttributes(Declared());
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->has_value());
  const RemoteSyncPolicy& r = **p;
  EXPECT_EQ(r.remote, "site-b");
  EXPECT_EQ(r.target, "dr-vol");
  EXPECT_EQ(r.interval, std::chrono::seconds(30));
  EXPECT_EQ(r.keep, 5);
  EXPECT_EQ(r.rate_bytes_per_second, 1048576u);
  EXPECT_EQ(r.pairing, "0123456789abcdef");
}

TEST(RemoteSyncPolicyTest, OptionalAttributesHaveDefaults) {
  Attributes a = Declared();
  a.erase(kAttrRemoteInterval);
  a.erase(kAttrRemoteKeep);
  a.erase(kAttrRemoteRate);
  auto p = RemoteSyncPolicyFromAttributes(a);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->interval, std::chrono::seconds(60));
  EXPECT_EQ((*p)->keep, 3);
  EXPECT_EQ((*p)->rate_bytes_per_second, 0u);
}

TEST(RemoteSyncPolicyTest, RoundTripsThroughItsAttributes) {
  RemoteSyncPolicy in;
  in.remote = "far";
  in.target = "dr-x";
  in.interval = std::chrono::seconds(3600);
  in.keep = 100;
  in.rate_bytes_per_second = 50 << 20;
  in.pairing = "fedcba9876543210";
  Attributes a = RemoteSyncAttributes(in);
  EXPECT_EQ(a.count(kAttrRemoteStatus), 0u);  // written by the sync only
  auto out = RemoteSyncPolicyFromAttributes(a);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->has_value());
  EXPECT_EQ((*out)->remote, in.remote);
  EXPECT_EQ((*out)->target, in.target);
  EXPECT_EQ((*out)->interval, in.interval);
  EXPECT_EQ((*out)->keep, in.keep);
  EXPECT_EQ((*out)->rate_bytes_per_second, in.rate_bytes_per_second);
  EXPECT_EQ((*out)->pairing, in.pairing);
}

TEST(RemoteSyncPolicyTest, BadValuesAreInvalidNamingTheAttribute) {
  struct Case {
    const char* key;
    const char* value;  // nullptr: the key is missing
  };
  for (Case c :
       {Case{kAttrRemoteName, ""}, Case{kAttrRemoteTarget, ""}, Case{kAttrRemoteTarget, nullptr},
        Case{kAttrRemoteInterval, "9"}, Case{kAttrRemoteInterval, "86401"},
        Case{kAttrRemoteInterval, "30s"}, Case{kAttrRemoteInterval, "+30"},
        Case{kAttrRemoteInterval, " 30"}, Case{kAttrRemoteInterval, ""}, Case{kAttrRemoteKeep, "0"},
        Case{kAttrRemoteKeep, "101"}, Case{kAttrRemoteKeep, "three"}, Case{kAttrRemoteKeep, "-1"},
        Case{kAttrRemoteRate, "-1"}, Case{kAttrRemoteRate, "50Mi"}, Case{kAttrRemoteRate, "1.5"},
        Case{kAttrRemoteRate, "99999999999999999999999"}, Case{kAttrRemotePairing, ""},
        Case{kAttrRemotePairing, nullptr}}) {
    Attributes a = Declared();
    if (c.value == nullptr) {
      a.erase(c.key);
    } else {
      a[c.key] = c.value;
    }
    auto p = RemoteSyncPolicyFromAttributes(a);
    std::string what = std::string(c.key) + "=" + (c.value ? c.value : "(missing)");
    ASSERT_FALSE(p.ok()) << what;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << what;
    EXPECT_TRUE(absl::StrContains(p.status().message(), c.key)) << what << ": " << p.status();
  }
}

TEST(RemoteSyncPolicyTest, BoundsOfTheAttributesAreAccepted) {
  for (auto [key, value] : {std::pair{kAttrRemoteInterval, "10"},
                            {kAttrRemoteInterval, "86400"},
                            {kAttrRemoteKeep, "1"},
                            {kAttrRemoteKeep, "100"},
                            {kAttrRemoteRate, "0"},
                            {kAttrRemoteRate, "18446744073709551615"}}) {
    Attributes a = Declared();
    a[key] = value;
    auto p = RemoteSyncPolicyFromAttributes(a);
    EXPECT_TRUE(p.ok()) << key << "=" << value << ": " << p.status();
  }
}

TEST(RemoteIntervalTest, TakesSecondsMinutesHoursFromTenSecondsToADay) {
  struct Case {
    const char* text;
    int64_t seconds;
  };
  for (Case c :
       {Case{"10", 10}, Case{"10s", 10}, Case{"30s", 30}, Case{"5m", 300}, Case{"2h", 7200},
        Case{"24h", 86400}, Case{"1440m", 86400}, Case{"86400", 86400}}) {
    auto s = ParseRemoteInterval("--interval", c.text);
    ASSERT_TRUE(s.ok()) << c.text << ": " << s.status();
    EXPECT_EQ(s->count(), c.seconds) << c.text;
  }
}

TEST(RemoteIntervalTest, RefusesTheRestNamingWhatItIs) {
  for (const char* bad :
       {"", "s", "9", "9s", "0", "0m", "-30s", "25h", "1441m", "86401", "1d", "30 s", " 30", "+30",
        "1.5m", "thirty", "30ms", "99999999999999999999h"}) {
    auto s = ParseRemoteInterval("parameter remoteInterval", bad);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.status().message(), "parameter remoteInterval")) << s.status();
    EXPECT_TRUE(absl::StrContains(s.status().message(), std::string("\"") + bad + "\""))
        << s.status();
  }
}

TEST(RemoteKeepTest, TakesOneToAHundred) {
  EXPECT_EQ(*ParseRemoteKeep("--keep", "1"), 1);
  EXPECT_EQ(*ParseRemoteKeep("--keep", "100"), 100);
  for (const char* bad : {"", "0", "101", "-1", "+3", " 3", "3x", "2.5"}) {
    auto k = ParseRemoteKeep("--keep", bad);
    ASSERT_FALSE(k.ok()) << bad;
    EXPECT_EQ(k.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(k.status().message(), "--keep")) << k.status();
  }
}

TEST(RemoteSnapshotTest, NamesCarryTheirRecoveryPoint) {
  EXPECT_EQ(RemoteSnapshotName(1700000000123), "rs-1700000000123");
  EXPECT_EQ(RemoteSnapshotPoint(RemoteSnapshotName(1700000000123)), 1700000000123);
  EXPECT_EQ(RemoteSnapshotPoint("rs-1"), 1);
  for (const char* other : {"", "rs-", "rs-0", "rs--5", "rs-+5", "rs- 5", "rs-12x", "rs-1.5",
                            "snap-123", "RS-123", "xrs-123", "rs-99999999999999999999"}) {
    EXPECT_EQ(RemoteSnapshotPoint(other), std::nullopt) << other;
  }
}

RemoteSyncStatus FullStatus() {
  RemoteSyncStatus s;
  s.cycles_ok = 7;
  s.cycles_failed = 2;
  s.bytes_shipped_total = uint64_t{5} << 40;
  RemoteCycle c;
  c.snapshot = "rs-2000";
  c.base = "rs-1000";
  c.started_unix_ms = 2000;
  c.finished_unix_ms = 2500;
  c.bytes_shipped = 65536;
  c.zero_bytes = 4096;
  c.changed_bytes = 69632;
  c.resumed_from = 8192;
  c.ok = false;
  c.error = "remote site-b: connection refused";
  s.last = c;
  RemoteProgress p;
  p.snapshot = "rs-3000";
  p.base = "rs-1000";
  p.target = "dr-vol";
  p.through_offset = 1 << 20;
  p.bytes_shipped = 123;
  p.changed_bytes = 456;
  p.updated_unix_ms = 3100;
  s.progress = p;
  s.newest_remote_snapshot = "rs-1000";
  s.newest_remote_point_unix_ms = 1000;
  s.failing_since_unix_ms = 2500;
  s.next_run_unix_ms = 32500;
  return s;
}

TEST(RemoteSyncStatusTest, RoundTripsEveryField) {
  const RemoteSyncStatus in = FullStatus();
  auto out = DecodeRemoteSyncStatus(EncodeRemoteSyncStatus(in));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->cycles_ok, in.cycles_ok);
  EXPECT_EQ(out->cycles_failed, in.cycles_failed);
  EXPECT_EQ(out->bytes_shipped_total, in.bytes_shipped_total);
  EXPECT_EQ(out->newest_remote_snapshot, in.newest_remote_snapshot);
  EXPECT_EQ(out->newest_remote_point_unix_ms, in.newest_remote_point_unix_ms);
  EXPECT_EQ(out->failing_since_unix_ms, in.failing_since_unix_ms);
  EXPECT_EQ(out->next_run_unix_ms, in.next_run_unix_ms);
  ASSERT_TRUE(out->last.has_value());
  EXPECT_EQ(out->last->snapshot, in.last->snapshot);
  EXPECT_EQ(out->last->base, in.last->base);
  EXPECT_EQ(out->last->started_unix_ms, in.last->started_unix_ms);
  EXPECT_EQ(out->last->finished_unix_ms, in.last->finished_unix_ms);
  EXPECT_EQ(out->last->bytes_shipped, in.last->bytes_shipped);
  EXPECT_EQ(out->last->zero_bytes, in.last->zero_bytes);
  EXPECT_EQ(out->last->changed_bytes, in.last->changed_bytes);
  EXPECT_EQ(out->last->resumed_from, in.last->resumed_from);
  EXPECT_EQ(out->last->ok, in.last->ok);
  EXPECT_EQ(out->last->error, in.last->error);
  ASSERT_TRUE(out->progress.has_value());
  EXPECT_EQ(out->progress->snapshot, in.progress->snapshot);
  EXPECT_EQ(out->progress->base, in.progress->base);
  EXPECT_EQ(out->progress->target, in.progress->target);
  EXPECT_EQ(out->progress->through_offset, in.progress->through_offset);
  EXPECT_EQ(out->progress->bytes_shipped, in.progress->bytes_shipped);
  EXPECT_EQ(out->progress->changed_bytes, in.progress->changed_bytes);
  EXPECT_EQ(out->progress->updated_unix_ms, in.progress->updated_unix_ms);
}

TEST(RemoteSyncStatusTest, AnEmptyStatusRoundTripsWithoutLastOrProgress) {
  auto out = DecodeRemoteSyncStatus(EncodeRemoteSyncStatus({}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->cycles_ok, 0u);
  EXPECT_FALSE(out->last.has_value());
  EXPECT_FALSE(out->progress.has_value());
  EXPECT_TRUE(out->newest_remote_snapshot.empty());
}

TEST(RemoteSyncStatusTest, AnErrorWithInvalidUtf8StillEncodes) {
  RemoteSyncStatus s;
  s.last.emplace();
  s.last->error = std::string("bad \xff\xfe bytes");
  auto out = DecodeRemoteSyncStatus(EncodeRemoteSyncStatus(s));
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_TRUE(out->last.has_value());
  EXPECT_TRUE(absl::StartsWith(out->last->error, "bad ")) << out->last->error;
}

TEST(RemoteSyncStatusTest, MalformedJsonIsInvalidArgument) {
  nlohmann::json good = nlohmann::json::parse(EncodeRemoteSyncStatus(FullStatus()));
  std::vector<std::string> bad = {"", "{", "null", "[]", "5", "\"x\"", "{}"};
  auto mutate = [&](auto change) {
    nlohmann::json j = good;
    change(j);
    bad.push_back(j.dump());
  };
  mutate([](nlohmann::json& j) { j["format_version"] = 2; });
  mutate([](nlohmann::json& j) { j.erase("format_version"); });
  mutate([](nlohmann::json& j) { j.erase("cycles_ok"); });
  mutate([](nlohmann::json& j) { j["cycles_failed"] = -1; });
  mutate([](nlohmann::json& j) { j["bytes_shipped_total"] = 1.5; });
  mutate([](nlohmann::json& j) { j["bytes_shipped_total"] = "12"; });
  mutate([](nlohmann::json& j) { j["newest_remote_snapshot"] = 12; });
  mutate([](nlohmann::json& j) { j.erase("newest_remote_point_unix_ms"); });
  mutate([](nlohmann::json& j) { j.erase("next_run_unix_ms"); });
  mutate([](nlohmann::json& j) { j["last"] = nullptr; });
  mutate([](nlohmann::json& j) { j["last"].erase("ok"); });
  mutate([](nlohmann::json& j) { j["last"]["ok"] = 1; });
  mutate([](nlohmann::json& j) { j["last"]["bytes_shipped"] = -5; });
  mutate([](nlohmann::json& j) { j["progress"] = "half"; });
  mutate([](nlohmann::json& j) { j["progress"].erase("through_offset"); });
  mutate([](nlohmann::json& j) { j["progress"]["target"] = nullptr; });
  for (const std::string& text : bad) {
    auto s = DecodeRemoteSyncStatus(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_TRUE(absl::StrContains(s.status().message(), "remote sync status")) << s.status();
  }
}

TEST(RemoteSyncStatusTest, FromAttributesIsEmptyWhenMissingOrMalformed) {
  EXPECT_EQ(RemoteSyncStatusFromAttributes({}).cycles_ok, 0u);
  EXPECT_EQ(RemoteSyncStatusFromAttributes({{kAttrRemoteStatus, "{not json"}}).cycles_ok, 0u);
  RemoteSyncStatus s =
      RemoteSyncStatusFromAttributes({{kAttrRemoteStatus, EncodeRemoteSyncStatus(FullStatus())}});
  EXPECT_EQ(s.cycles_ok, 7u);
  EXPECT_EQ(s.cycles_failed, 2u);
  ASSERT_TRUE(s.last.has_value());
  EXPECT_FALSE(s.last->ok);
}

// When the scheduler runs the next cycle of a volume.
TEST(RemoteSyncScheduleTest, NextRunFollowsTheOutcomeAndTheDeclaredInterval) {
  RemoteSyncPolicy p;
  p.interval = std::chrono::seconds(600);
  RemoteSyncStatus s;
  EXPECT_EQ(NextRunUnixMs(p, s), 0);  // never ran: now
  s.last = RemoteCycle{};
  s.last->ok = true;
  s.last->started_unix_ms = 1000000;
  s.last->finished_unix_ms = 1005000;
  EXPECT_EQ(NextRunUnixMs(p, s), 1000000 + 600000);
  p.interval = std::chrono::seconds(60);  // shortened: counts at once
  EXPECT_EQ(NextRunUnixMs(p, s), 1000000 + 60000);
  s.last->ok = false;  // failed: 30 s after it ended
  EXPECT_EQ(NextRunUnixMs(p, s), 1005000 + 30000);
  p.interval = std::chrono::seconds(10);  // or the interval, when shorter
  EXPECT_EQ(NextRunUnixMs(p, s), 1005000 + 10000);
  // A transfer whose checkpoints stopped, unrecorded: 10 s after the last one.
  p.interval = std::chrono::seconds(600);
  s.last->ok = true;
  s.progress = RemoteProgress{};
  s.progress->updated_unix_ms = 1006000;
  EXPECT_EQ(NextRunUnixMs(p, s), 1006000 + 10000);
  // Its failure recorded since: the failure's back-off, not a tight loop.
  s.last->ok = false;
  s.last->finished_unix_ms = 1007000;
  EXPECT_EQ(NextRunUnixMs(p, s), 1007000 + 30000);
}

}  // namespace
}  // namespace syncblock::repl
