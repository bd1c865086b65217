// `syncblock ctl snapshot diff` on a real three-node local cluster: random
// writes at known offsets between snapshots, and the diff reports exactly the
// regions they touched, between two snapshots and from a snapshot to live.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>

#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;
using json = nlohmann::json;

constexpr uint64_t kVolume = 32 << 20;

// `count` writes of random lengths at random offsets (both multiples of 512),
// in one qemu-io run; returns the regions they touch.
std::set<uint64_t> RandomWrites(const std::string& uri, std::mt19937_64& rng, int count,
                                uint64_t region_size) {
  std::set<uint64_t> regions;
  std::string commands;
  for (int i = 0; i < count; ++i) {
    uint64_t len = 512 * (1 + rng() % 400);  // up to 200 KiB: often several regions
    uint64_t offset = 512 * (rng() % ((kVolume - len) / 512));
    commands += " -c 'write -P " + std::to_string(1 + rng() % 250) + " " + std::to_string(offset) +
                " " + std::to_string(len) + "'";
    for (uint64_t r = offset / region_size; r <= (offset + len - 1) / region_size; ++r) {
      regions.insert(r);
    }
  }
  auto w = RunCommand("qemu-io -f raw" + commands + " '" + uri + "'", std::chrono::seconds(120));
  EXPECT_EQ(w.exit_code, 0) << w.output;
  return regions;
}

std::set<uint64_t> Changed(const json& diff) {
  std::set<uint64_t> out;
  for (const auto& r : diff["changed_regions"]) out.insert(r.get<uint64_t>());
  return out;
}

TEST(SnapshotDiffTest, ReportsExactlyTheRegionsWrittenBetween) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "needs qemu-io";
  LocalCluster c(3);
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create d --size 32M --replicas 3").exit_code, 0);
  ASSERT_TRUE(c.WaitInSync("d"));
  const std::string uri = c.Export("d");
  std::mt19937_64 rng(20261122);
  // Data before the first snapshot, so that the diff is not just "written".
  RandomWrites(uri, rng, 30, 64 << 10);
  ASSERT_FALSE(c.CtlJson("snapshot create d s1").is_null());

  json empty = c.CtlJson("snapshot diff d@s1");
  ASSERT_FALSE(empty.is_null());
  const uint64_t region_size = empty["region_size"].get<uint64_t>();
  ASSERT_GT(region_size, 0u);
  EXPECT_TRUE(Changed(empty).empty()) << empty.dump();

  std::set<uint64_t> first = RandomWrites(uri, rng, 25, region_size);
  ASSERT_FALSE(c.CtlJson("snapshot create d s2").is_null());
  std::set<uint64_t> second = RandomWrites(uri, rng, 25, region_size);

  json d12 = c.CtlJson("snapshot diff d@s1 d@s2");
  ASSERT_FALSE(d12.is_null());
  EXPECT_EQ(Changed(d12), first);
  EXPECT_EQ(d12["exact"], true);
  json d2live = c.CtlJson("snapshot diff d@s2");
  ASSERT_FALSE(d2live.is_null());
  EXPECT_EQ(Changed(d2live), second);
  json d1live = c.CtlJson("snapshot diff d@s1");
  std::set<uint64_t> both = first;
  both.insert(second.begin(), second.end());
  EXPECT_EQ(Changed(d1live), both);
  // The extents cover the changed regions and nothing else.
  uint64_t bytes = 0;
  for (const auto& e : d1live["extents"]) bytes += e["length"].get<uint64_t>();
  EXPECT_EQ(bytes, both.size() * region_size);

  auto text = c.Ctl("snapshot diff d@s1 d@s2");
  EXPECT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr(std::to_string(first.size()) + " regions changed"));

  auto reversed = c.Ctl("snapshot diff d@s2 d@s1");
  EXPECT_EQ(reversed.exit_code, 1) << reversed.output;
  auto other_volume = c.Ctl("snapshot diff d@s1 e@s2");
  EXPECT_EQ(other_volume.exit_code, 1) << other_volume.output;
  EXPECT_THAT(other_volume.output, HasSubstr("different volumes"));
  auto unknown = c.Ctl("snapshot diff d@nope");
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;  // not found

  // Listing: both snapshots, by volume and overall.
  json list = c.CtlJson("snapshot list d");
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0]["id"], "d@s1");
  EXPECT_EQ(list[1]["id"], "d@s2");
  EXPECT_EQ(list[0]["replicas"].size(), 3u);
  EXPECT_EQ(c.CtlJson("snapshot list").size(), 2u);
  auto table = c.Ctl("snapshot list");
  EXPECT_THAT(table.output, HasSubstr("d@s2"));
}

}  // namespace
}  // namespace syncblock::testing
