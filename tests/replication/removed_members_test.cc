// The record of members a promotion that accepted data loss removed
// (replication/types/removed_members.h).
#include "replication/types/removed_members.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace syncblock::repl {
namespace {

using Attributes = std::map<std::string, std::string>;

TEST(RemovedMembersTest, EveryChangeRaisesTheVersion) {
  Attributes a{{"qos.max-iops", "100"}};
  EXPECT_TRUE(RemovedMembers(a).empty());
  EXPECT_EQ(RemovedVersion(a), 0u);
  AddRemovedMembers(a, {"node-2", "node-1"});
  EXPECT_EQ(a[kAttrRemovedMembers], "node-1,node-2");
  EXPECT_EQ(RemovedVersion(a), 1u);
  AddRemovedMembers(a, {"node-2", "node-4"});
  EXPECT_EQ(a[kAttrRemovedMembers], "node-1,node-2,node-4");
  EXPECT_EQ(RemovedVersion(a), 2u);
  EXPECT_TRUE(IsRemovedMember(a, "node-4"));
  EXPECT_FALSE(IsRemovedMember(a, "node-3"));
  ClearRemovedMember(a, "node-3");  // not there: nothing changes
  EXPECT_EQ(RemovedVersion(a), 2u);
  ClearRemovedMember(a, "node-1");
  EXPECT_EQ(a[kAttrRemovedMembers], "node-2,node-4");
  EXPECT_EQ(RemovedVersion(a), 3u);
  ClearRemovedMember(a, "node-2");
  ClearRemovedMember(a, "node-4");
  EXPECT_TRUE(RemovedMembers(a).empty());
  EXPECT_EQ(RemovedVersion(a), 5u) << "the lineage stays newer than any before it";
  EXPECT_EQ(a["qos.max-iops"], "100");
}

TEST(RemovedMembersTest, AdoptedWholeAndBadValuesReadAsNone) {
  Attributes from;
  AddRemovedMembers(from, {"node-1"});
  AddRemovedMembers(from, {"node-2"});
  Attributes mine{{"qos.max-iops", "7"}};
  AdoptRemovedRecord(mine, from);
  EXPECT_EQ(RemovedVersion(mine), 2u);
  EXPECT_EQ(RemovedMembers(mine), (std::set<std::string>{"node-1", "node-2"}));
  EXPECT_EQ(mine["qos.max-iops"], "7");

  // A primary the record removed, or a hello of an older record, speaks for
  // the volume as it was; a node re-added in a newer record does not.
  EXPECT_TRUE(SpeaksForAnOlderVolume(mine, "node-1", mine));
  EXPECT_TRUE(SpeaksForAnOlderVolume(mine, "node-3", Attributes{}));
  EXPECT_FALSE(SpeaksForAnOlderVolume(mine, "node-3", mine));
  Attributes readded = mine;
  ClearRemovedMember(readded, "node-1");
  EXPECT_FALSE(SpeaksForAnOlderVolume(readded, "node-1", readded));

  Attributes odd{{kAttrRemovedMembers, ",node-1,,node-2,"}, {kAttrRemovedVersion, "x"}};
  EXPECT_EQ(RemovedMembers(odd), (std::set<std::string>{"node-1", "node-2"}));
  EXPECT_EQ(RemovedVersion(odd), 0u);
}

}  // namespace
}  // namespace syncblock::repl
