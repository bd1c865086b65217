// Rendering of `syncblock ctl` output: tables, text and the JSON shapes that
// scripts depend on (driver/output_*.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"
#include "driver/output_json.h"
#include "driver/output_table.h"
#include "driver/output_text.h"

namespace syncblock::driver {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

repl::VolumeView SampleVolume() {
  repl::VolumeView v;
  v.id = "vol-1";
  v.size_bytes = 1ull << 30;
  v.epoch = 7;
  v.primary = "node-1";
  v.nbd_uri = "nbd://127.0.0.1:7402/vol-1";
  v.attributes["csi.name"] = "pvc-1";
  repl::ReplicaView p;
  p.node = "node-1";
  p.state = "in_sync";
  repl::ReplicaView r;
  r.node = "node-2";
  r.state = "resyncing";
  r.bytes_copied = 256ull << 20;
  r.bytes_total = 1ull << 30;
  r.rate_bytes_per_second = 64ull << 20;
  r.eta_seconds = 12;
  r.full_copy = true;
  repl::ReplicaView o;
  o.node = "node-3";
  o.state = "offline";
  o.message = "connection refused";
  v.replicas = {p, r, o};
  return v;
}

TEST(TableTest, PadsColumnsToTheWidestCell) {
  Table t({"ID", "STATE"});
  t.AddRow({"node-10", "in_sync"});
  t.AddRow({"n2"});
  EXPECT_EQ(t.Render(),
            "ID       STATE\n"
            "node-10  in_sync\n"
            "n2\n");
}

TEST(OutputJsonTest, VolumeShowShape) {
  auto j = VolumeToJson(SampleVolume());
  EXPECT_EQ(j["id"], "vol-1");
  EXPECT_EQ(j["size_bytes"], 1ull << 30);
  EXPECT_EQ(j["epoch"], 7);
  EXPECT_EQ(j["primary"], "node-1");
  EXPECT_EQ(j["nbd_uri"], "nbd://127.0.0.1:7402/vol-1");
  EXPECT_EQ(j["attributes"]["csi.name"], "pvc-1");
  ASSERT_EQ(j["replicas"].size(), 3u);
  const auto& r = j["replicas"][1];
  EXPECT_EQ(r["node"], "node-2");
  EXPECT_EQ(r["state"], "resyncing");
  EXPECT_EQ(r["resync"]["bytes_copied"], 256ull << 20);
  EXPECT_EQ(r["resync"]["bytes_total"], 1ull << 30);
  EXPECT_EQ(r["resync"]["rate_bytes_per_second"], static_cast<double>(64ull << 20));
  EXPECT_EQ(r["resync"]["eta_seconds"], 12.0);
  EXPECT_EQ(j["replicas"][2]["message"], "connection refused");
}

TEST(OutputJsonTest, ResyncStatusShape) {
  auto j = ResyncStatusToJson(SampleVolume());
  EXPECT_EQ(j["volume"], "vol-1");
  const auto& r = j["replicas"][1];
  EXPECT_EQ(r["node"], "node-2");
  EXPECT_EQ(r["state"], "resyncing");
  EXPECT_EQ(r["bytes_copied"], 256ull << 20);
  EXPECT_EQ(r["bytes_total"], 1ull << 30);
  EXPECT_EQ(r["eta_seconds"], 12.0);
  EXPECT_EQ(r["full"], true);
  EXPECT_TRUE(r.contains("rate_bytes_per_second"));
}

TEST(OutputJsonTest, VerifyShape) {
  repl::VerifyReport report;
  report.identical = false;
  report.region_size = 65536;
  report.differing_regions = {3, 9};
  report.unreachable["node-3"] = "down";
  auto j = VerifyToJson("vol-1", report);
  EXPECT_EQ(j["identical"], false);
  EXPECT_EQ(j["region_size"], 65536);
  EXPECT_EQ(j["differing_regions"], nlohmann::json::array({3, 9}));
  EXPECT_EQ(j["unreachable"]["node-3"], "down");
}

TEST(OutputJsonTest, NodeListShape) {
  repl::StorageNodeView up;
  up.id = "node-1";
  up.zone = "zone-a";
  up.control_address = "127.0.0.1:1";
  up.available_bytes = 5;
  up.reachable = true;
  repl::StorageNodeView down;
  down.control_address = "127.0.0.1:2";
  down.error = "connection refused";
  auto j = NodesToJson({up, down});
  ASSERT_EQ(j["nodes"].size(), 2u);
  EXPECT_EQ(j["nodes"][0]["id"], "node-1");
  EXPECT_EQ(j["nodes"][0]["zone"], "zone-a");
  EXPECT_EQ(j["nodes"][0]["reachable"], true);
  EXPECT_EQ(j["nodes"][0]["available_bytes"], 5);
  EXPECT_EQ(j["nodes"][1]["reachable"], false);
  EXPECT_EQ(j["nodes"][1]["error"], "connection refused");
}

TEST(OutputTextTest, VolumeShowsReplicasProgressAndHealth) {
  std::string text = RenderVolume(SampleVolume());
  EXPECT_THAT(text, HasSubstr("nbd://127.0.0.1:7402/vol-1"));
  EXPECT_THAT(text, HasSubstr("degraded (1/3 replicas in sync)"));
  EXPECT_THAT(text, HasSubstr("256.0 MiB / 1.0 GiB (25%), 64.0 MiB/s, ETA 12 s, full copy"));
  EXPECT_THAT(text, HasSubstr("connection refused"));
}

TEST(OutputTextTest, VolumeWithoutPrimaryIsUnavailable) {
  auto v = SampleVolume();
  v.nbd_uri.clear();
  EXPECT_THAT(RenderVolume(v), HasSubstr("(no primary serving)"));
  EXPECT_THAT(RenderVolumes({v}), HasSubstr("unavailable"));
}

TEST(OutputTextTest, VerifyNamesDifferingRegionsAndUncheckedReplicas) {
  repl::VerifyReport ok;
  ok.region_size = 65536;
  EXPECT_THAT(RenderVerify("v", ok), HasSubstr("identical"));
  repl::VerifyReport bad;
  bad.identical = false;
  bad.region_size = 65536;
  bad.differing_regions = {4, 5};
  bad.unreachable["node-2"] = "timeout";
  std::string text = RenderVerify("v", bad);
  EXPECT_THAT(text, HasSubstr("2 regions differ"));
  EXPECT_THAT(text, HasSubstr("4,5"));
  EXPECT_THAT(text, HasSubstr("node-2 not checked: timeout"));
  EXPECT_THAT(text, Not(HasSubstr("identical")));
}

TEST(OutputTextTest, ResyncStatusFitsAnEightyColumnTerminal) {
  auto v = SampleVolume();
  v.replicas[1].node = "a-storage-node-with-a-very-long-name-in-a-big-cluster.example";
  TermStyle style;
  style.width = 80;
  std::string text = RenderResyncStatus(v, style);
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(text, '\n'))) {
    EXPECT_LE(DisplayWidth(line), 80u) << line;
  }
  EXPECT_THAT(text, HasSubstr("a-storage-node-wit...  resyncing"));
  EXPECT_THAT(text, HasSubstr("64.0 MiB/s"));
  EXPECT_THAT(text, HasSubstr("12 s"));
  // Without a width (a pipe), nothing is cut.
  EXPECT_THAT(RenderResyncStatus(v), HasSubstr(v.replicas[1].node));
}

TEST(OutputTextTest, NodeListDropsOptionalColumnsToFit) {
  std::vector<repl::StorageNodeView> nodes(3);
  for (int i = 0; i < 3; ++i) {
    auto& n = nodes[i];
    n.id = "node-" + std::to_string(i + 1);
    n.zone = "europe-west1-b";
    n.control_address = "10.200.100.1" + std::to_string(i) + ":7400";
    n.nbd_address = "10.200.100.1" + std::to_string(i) + ":7402";
    n.capacity_bytes = 3ull << 40;
    n.available_bytes = 1536ull << 30;
    n.replica_count = 12;
    n.reachable = true;
  }
  std::string wide = RenderNodes(nodes);
  EXPECT_THAT(wide, HasSubstr("NBD"));
  TermStyle style;
  style.width = 80;
  std::string narrow = RenderNodes(nodes, style);
  EXPECT_THAT(narrow, Not(HasSubstr("NBD")));
  EXPECT_THAT(narrow, HasSubstr("1.5 TiB"));
  for (const std::string& line : std::vector<std::string>(absl::StrSplit(narrow, '\n'))) {
    EXPECT_LE(DisplayWidth(line), 80u) << line;
  }
}

TEST(OutputTextTest, ColourOnlyWithAColourStyle) {
  auto v = SampleVolume();
  EXPECT_THAT(RenderVolume(v), Not(HasSubstr("\x1b[")));
  TermStyle colour;
  colour.tty = true;
  colour.color = true;
  std::string text = RenderVolume(v, colour);
  EXPECT_THAT(text, HasSubstr("\x1b[33mdegraded\x1b[0m"));
  EXPECT_THAT(text, HasSubstr("\x1b[31moffline\x1b[0m"));
  EXPECT_THAT(text, HasSubstr("\x1b[32min_sync\x1b[0m"));
  // Colour does not move the columns: without the escapes, the same text.
  TermStyle plain = colour;
  plain.color = false;
  std::string stripped;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b') {
      i = text.find('m', i);
      continue;
    }
    stripped += text[i];
  }
  EXPECT_EQ(stripped, RenderVolume(v, plain));
}

}  // namespace
}  // namespace syncblock::driver
