// `syncblock ctl volume expand` on a real three-node local cluster: a new NBD
// connection sees the new size, and writes past the old end land on every
// replica.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/local_cluster.h"
#include "tests/support/test_util.h"

namespace syncblock::testing {
namespace {

using ::testing::HasSubstr;

TEST(ExpandVolumeTest, GrowsOnlineOnEveryReplica) {
  if (!HaveTool("qemu-io") || !HaveTool("nbdinfo")) GTEST_SKIP() << "needs qemu-io and nbdinfo";
  LocalCluster c(3);
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create g --size 16M --replicas 3").exit_code, 0);
  ASSERT_TRUE(c.WaitInSync("g"));
  auto before = RunCommand("qemu-io -f raw -c 'write -P 0x42 15M 1M' '" + c.Export("g") + "'");
  ASSERT_EQ(before.exit_code, 0) << before.output;

  auto grown = c.CtlJson("volume expand g --size 48M");
  ASSERT_FALSE(grown.is_null());
  EXPECT_EQ(grown["size_bytes"], 48u << 20);
  auto size = RunCommand("nbdinfo --size '" + c.Export("g") + "'");
  ASSERT_EQ(size.exit_code, 0) << size.output;
  EXPECT_EQ(std::stoull(size.output), 48ull << 20);

  auto past = RunCommand("qemu-io -f raw -c 'write -P 0x24 40M 2M' '" + c.Export("g") + "'");
  ASSERT_EQ(past.exit_code, 0) << past.output;
  auto read = RunCommand(
      "qemu-io -f raw -c 'read -P 0x42 15M 1M' -c 'read -P 0 16M 24M' "
      "-c 'read -P 0x24 40M 2M' -c 'read -P 0 42M 6M' '" +
      c.Export("g") + "'");
  EXPECT_EQ(read.exit_code, 0) << read.output;
  EXPECT_THAT(read.output, ::testing::Not(HasSubstr("Pattern verification failed")));
  ASSERT_TRUE(c.WaitInSync("g"));
  auto verify = c.Ctl("verify g");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;

  // The same size again is fine; shrinking is refused.
  EXPECT_EQ(c.Ctl("volume expand g --size 48M").exit_code, 0);
  auto shrink = c.Ctl("volume expand g --size 8M");
  EXPECT_EQ(shrink.exit_code, 1) << shrink.output;
  EXPECT_THAT(shrink.output, HasSubstr("cannot shrink"));
  EXPECT_EQ(c.Ctl("volume expand g").exit_code, 2);
  auto unknown = c.Ctl("volume expand nope --size 8M");
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;  // not found
  EXPECT_THAT(unknown.output, HasSubstr("not found"));
}

// A replica that was down while the volume grew catches up when it returns.
TEST(ExpandVolumeTest, ReplicaAwayDuringGrowthCatchesUp) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "needs qemu-io";
  LocalCluster c(3);
  ASSERT_TRUE(c.ok()) << c.up_output();
  ASSERT_EQ(c.Ctl("volume create h --size 16M --replicas 3 --nodes node-1,node-2,node-3").exit_code,
            0);
  ASSERT_TRUE(c.WaitInSync("h"));
  ASSERT_TRUE(c.Kill("node-3"));
  ASSERT_EQ(c.Ctl("volume expand h --size 32M").exit_code, 0);
  auto past = RunCommand("qemu-io -f raw -c 'write -P 0x66 20M 1M' '" + c.Export("h") + "'");
  ASSERT_EQ(past.exit_code, 0) << past.output;
  ASSERT_TRUE(c.Start("node-3"));
  ASSERT_TRUE(c.WaitInSync("h"));
  auto verify = c.Ctl("verify h");
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

}  // namespace
}  // namespace syncblock::testing
