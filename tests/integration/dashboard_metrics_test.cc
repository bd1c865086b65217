// The chart's Grafana dashboard and alert rules query only series that the
// storage daemons really serve: a real 3-node cluster with a volume that has
// done IO is scraped, and every syncblock_* name in the dashboard's queries
// and the alert rules' expressions must be among the scraped series. The
// volume also declares a remote sync, with the status a sync with a shipped
// snapshot, a transfer under way and a failed last cycle writes, so that
// every remote sync series is served.
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "replication/types/remote_sync_policy.h"
#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

std::set<std::string> NamesIn(const std::string& text) {
  static const std::regex kName(R"(\bsyncblock_[a-z0-9_]+)");
  std::set<std::string> names;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

// Series names in a Prometheus text exposition.
std::set<std::string> Served(const std::string& exposition) {
  std::set<std::string> names;
  for (absl::string_view line : absl::StrSplit(exposition, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    size_t end = line.find_first_of("{ ");
    names.insert(std::string(line.substr(0, end)));
  }
  return names;
}

TEST(DashboardMetricsTest, EverySeriesTheDashboardAndAlertsQueryIsServed) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "qemu-io not installed";
  LocalCluster cluster(3);
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  // An asynchronous replica, for the recovery-point series.
  ASSERT_EQ(cluster
                .Ctl("volume create dash --size 64M --replicas 3 --async-replicas 1 "
                     "--no-witness")
                .exit_code,
            0);
  ASSERT_TRUE(cluster.WaitInSync("dash"));
  std::string uri = cluster.Export("dash");
  ASSERT_FALSE(uri.empty());
  CommandResult io =
      RunCommand("qemu-io -f raw -c 'write -P 7 0 1M' -c 'read 0 64k' -c flush " + uri);
  ASSERT_EQ(io.exit_code, 0) << io.output;

  // A remote sync, declared in the volume's attributes as CSI and `ctl volume
  // replicate` declare it, and its status as the sync writes it.
  repl::RemoteSyncPolicy policy;
  policy.remote = "site-b";
  policy.target = std::string(repl::kDefaultRemotePrefix) + "dash";
  policy.interval = std::chrono::seconds(30);
  policy.pairing = "0123456789abcdef";
  std::map<std::string, std::string> attributes = repl::RemoteSyncAttributes(policy);
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  repl::RemoteSyncStatus status;
  status.cycles_ok = 1;
  status.cycles_failed = 1;
  status.bytes_shipped_total = 1 << 20;
  status.newest_remote_point_unix_ms = now_ms - 120'000;
  status.newest_remote_snapshot = repl::RemoteSnapshotName(status.newest_remote_point_unix_ms);
  status.last.emplace();
  status.last->ok = false;
  status.last->error = "remote site-b unreachable";
  status.progress.emplace();
  status.progress->bytes_shipped = 4096;
  status.progress->changed_bytes = 65536;
  attributes[repl::kAttrRemoteStatus] = repl::EncodeRemoteSyncStatus(status);
  auto set = cluster.StorageClient()->SetAttributes("dash", attributes, {});
  ASSERT_TRUE(set.ok()) << set.status();

  std::set<std::string> served;
  nlohmann::json file = nlohmann::json::parse(ReadFile(cluster.dir() + "/cluster.json"));
  for (const auto& node : file["storage"]) {
    std::string address = node.value("metrics", "");
    ASSERT_FALSE(address.empty()) << node.dump();
    httplib::Client client("http://" + address);
    auto res = client.Get("/metrics");
    ASSERT_TRUE(res) << "no /metrics from " << address;
    ASSERT_EQ(res->status, 200);
    for (const auto& name : Served(res->body)) served.insert(name);
  }
  ASSERT_GT(served.size(), 10u);
  EXPECT_TRUE(served.count("syncblock_remote_sync_rpo_seconds"))
      << "the declared remote sync is not reported: " << absl::StrJoin(served, ", ");

  const std::string chart = SourceDir() + "/charts/syncblock";
  nlohmann::json dashboard = nlohmann::json::parse(ReadFile(chart + "/dashboards/syncblock.json"));
  std::set<std::string> wanted;
  for (const auto& panel : dashboard["panels"]) {
    for (const auto& target : panel.value("targets", nlohmann::json::array())) {
      for (const auto& n : NamesIn(target.value("expr", ""))) wanted.insert(n);
    }
  }
  for (const auto& variable : dashboard["templating"]["list"]) {
    for (const auto& n : NamesIn(variable.dump())) wanted.insert(n);
  }
  std::string rules = ReadFile(chart + "/alerts/syncblock-rules.yaml");
  ASSERT_FALSE(rules.empty());
  std::set<std::string> alert_names = NamesIn(rules);
  EXPECT_GE(alert_names.size(), 6u);
  wanted.insert(alert_names.begin(), alert_names.end());

  std::vector<std::string> missing;
  for (const auto& n : wanted) {
    if (!served.count(n)) missing.push_back(n);
  }
  EXPECT_TRUE(missing.empty()) << "queried but not served: " << absl::StrJoin(missing, ", ")
                               << "\nserved: " << absl::StrJoin(served, ", ");
}

}  // namespace
}  // namespace syncblock::testing
