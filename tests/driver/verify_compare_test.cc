// Comparing replicas' region checksums (replication/client/verify_compare.h).
#include "replication/client/verify_compare.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace syncblock::repl {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(VerifyCompareTest, IdenticalReplicasHaveNoDifference) {
  EXPECT_THAT(DifferingRegions({{"a", {1, 2, 3}}, {"b", {1, 2, 3}}, {"c", {1, 2, 3}}}), IsEmpty());
}

TEST(VerifyCompareTest, AnyPairDifferingMarksTheRegion) {
  // Region 1 differs only between b and c; region 2 only in a.
  EXPECT_THAT(DifferingRegions({{"a", {1, 2, 9}}, {"b", {1, 2, 3}}, {"c", {1, 7, 3}}}),
              ElementsAre(1, 2));
}

TEST(VerifyCompareTest, MissingRegionsDiffer) {
  EXPECT_THAT(DifferingRegions({{"a", {1, 2}}, {"b", {1, 2, 3, 4}}}), ElementsAre(2, 3));
}

TEST(VerifyCompareTest, OneReplicaHasNothingToCompare) {
  EXPECT_THAT(DifferingRegions({{"a", {1, 2}}}), IsEmpty());
  EXPECT_THAT(DifferingRegions({}), IsEmpty());
}

}  // namespace
}  // namespace syncblock::repl
