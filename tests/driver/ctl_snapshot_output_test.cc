// Rendering of `syncblock ctl snapshot ...` output (driver/ctl_snapshot_output.h):
// the JSON shapes scripts depend on, the diff's byte extents, the tables.
#include "driver/ctl_snapshot_output.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace syncblock::driver {
namespace {

using ::testing::HasSubstr;

repl::ClusterSnapshotView SampleSnapshot() {
  repl::ClusterSnapshotView s;
  s.id = "vol-1@before-upgrade";
  s.volume_id = "vol-1";
  s.name = "before-upgrade";
  s.size_bytes = 1ull << 30;
  s.creation_time_unix_ms = 1795315374123;  // 2026-11-22T02:42:54.123Z
  s.ready_to_use = true;
  s.replicas = {{"node-1", "ready", 0, 0},
                {"node-2", "ready", 0, 0},
                {"node-3", "copying", 256ull << 20, 1ull << 30}};
  return s;
}

TEST(CtlSnapshotOutputTest, SnapshotJsonShape) {
  auto j = SnapshotToJson(SampleSnapshot());
  EXPECT_EQ(j["id"], "vol-1@before-upgrade");
  EXPECT_EQ(j["volume"], "vol-1");
  EXPECT_EQ(j["name"], "before-upgrade");
  EXPECT_EQ(j["size_bytes"], 1ull << 30);
  EXPECT_EQ(j["creation_time"], "2026-11-22T02:42:54.123Z");
  EXPECT_EQ(j["ready_to_use"], true);
  ASSERT_EQ(j["replicas"].size(), 3u);
  EXPECT_EQ(j["replicas"][0], nlohmann::json({{"node", "node-1"}, {"state", "ready"}}));
  EXPECT_EQ(j["replicas"][2]["bytes_copied"], 256ull << 20);
  EXPECT_EQ(SnapshotsToJson({}), nlohmann::json::array());
}

TEST(CtlSnapshotOutputTest, TablesNameEverySnapshotAndReplicaState) {
  auto one = RenderSnapshot(SampleSnapshot());
  EXPECT_THAT(one, HasSubstr("vol-1@before-upgrade"));
  EXPECT_THAT(one, HasSubstr("ready to use:  yes"));
  EXPECT_THAT(one, HasSubstr("copying"));
  auto list = RenderSnapshots({SampleSnapshot()});
  EXPECT_THAT(list, HasSubstr("SNAPSHOT"));
  EXPECT_THAT(list, HasSubstr("node-3=copying(25%)"));
}

TEST(CtlSnapshotOutputTest, DiffJoinsTouchingRegionsIntoExtents) {
  repl::SnapshotDiffView d;
  d.region_size = 65536;
  d.changed_regions = {0, 1, 2, 5, 9, 10};
  auto extents = RegionsToExtents(d);
  ASSERT_EQ(extents.size(), 3u);
  EXPECT_EQ(extents[0].offset, 0u);
  EXPECT_EQ(extents[0].length, 3u * 65536);
  EXPECT_EQ(extents[1].offset, 5u * 65536);
  EXPECT_EQ(extents[1].length, 65536u);
  EXPECT_EQ(extents[2].offset, 9u * 65536);
  EXPECT_EQ(extents[2].length, 2u * 65536);

  auto j = DiffToJson("v@a", "", d);
  EXPECT_EQ(j["region_size"], 65536);
  EXPECT_EQ(j["changed_regions"], nlohmann::json({0, 1, 2, 5, 9, 10}));
  EXPECT_EQ(j["exact"], true);
  EXPECT_EQ(j["to"], "live");
  EXPECT_EQ(j["changed_bytes"], 6u * 65536);
  EXPECT_EQ(j["extents"].size(), 3u);

  auto text = RenderDiff("v@a", "v@b", d);
  EXPECT_THAT(text, HasSubstr("v@a -> v@b: 6 regions changed"));
  EXPECT_THAT(text, HasSubstr("0-2"));
  EXPECT_THAT(text, HasSubstr("9-10"));
}

TEST(CtlSnapshotOutputTest, EmptyDiff) {
  repl::SnapshotDiffView d;
  d.region_size = 65536;
  d.exact = false;
  EXPECT_TRUE(RegionsToExtents(d).empty());
  EXPECT_THAT(RenderDiff("v@a", "", d), HasSubstr("0 regions changed"));
  EXPECT_THAT(RenderDiff("v@a", "", d), HasSubstr("by checksums"));
}

}  // namespace
}  // namespace syncblock::driver
