// The record of members a promotion that accepted data loss removed
// (replication/types/removed_members.h), and how a replica treats them.
#include "replication/types/removed_members.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace syncblock::repl {
namespace {

using Attributes = std::map<std::string, std::string>;

TEST(RemovedMembersTest, AddedMergedAndClearedWithTheLineageKept) {
  Attributes a{{"qos.max-iops", "100"}};
  EXPECT_TRUE(RemovedMembers(a).empty());
  EXPECT_FALSE(AfterForcedPromotion(a));
  AddRemovedMembers(a, {"node-2", "node-1"});
  EXPECT_EQ(a[kAttrRemovedMembers], "node-1,node-2");
  AddRemovedMembers(a, {"node-2", "node-4"});
  EXPECT_EQ(a[kAttrRemovedMembers], "node-1,node-2,node-4");
  EXPECT_TRUE(IsRemovedMember(a, "node-4"));
  EXPECT_FALSE(IsRemovedMember(a, "node-3"));
  ClearRemovedMember(a, "node-1");
  ClearRemovedMember(a, "node-3");  // not there: nothing changes
  EXPECT_EQ(a[kAttrRemovedMembers], "node-2,node-4");
  ClearRemovedMember(a, "node-2");
  ClearRemovedMember(a, "node-4");
  EXPECT_TRUE(RemovedMembers(a).empty());
  EXPECT_TRUE(AfterForcedPromotion(a)) << "the lineage stays marked";
  EXPECT_EQ(a["qos.max-iops"], "100");
}

TEST(RemovedMembersTest, EmptyItemsAreIgnored) {
  Attributes a{{kAttrRemovedMembers, ",node-1,,node-2,"}};
  EXPECT_EQ(RemovedMembers(a), (std::set<std::string>{"node-1", "node-2"}));
}

}  // namespace
}  // namespace syncblock::repl
