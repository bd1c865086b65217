// Sets of byte ranges for remote sync cycles (replication/remote/byte_ranges.h).
#include "replication/remote/byte_ranges.h"

#include <gtest/gtest.h>

namespace syncblock::repl {
namespace {

TEST(ByteRangesTest, RegionsMergeAndClipToTheVolume) {
  // Regions 1, 2 touch; 5 stands alone; 9 is the last, short one; 12 is past the end.
  ByteRanges r = RangesOfRegions({5, 2, 1, 9, 12, 2}, 100, 950);
  EXPECT_EQ(r, (ByteRanges{{100, 200}, {500, 100}, {900, 50}}));
  EXPECT_EQ(TotalBytes(r), 350u);
  EXPECT_TRUE(RangesOfRegions({1}, 0, 950).empty());
}

TEST(ByteRangesTest, UnionMergesOverlapsAndNeighbours) {
  ByteRanges a{{0, 10}, {50, 10}};
  ByteRanges b{{5, 10}, {60, 5}, {100, 1}};
  EXPECT_EQ(UnionOf(a, b), (ByteRanges{{0, 15}, {50, 15}, {100, 1}}));
  EXPECT_EQ(UnionOf({}, b), b);
}

TEST(ByteRangesTest, ComplementCoversTheRest) {
  EXPECT_EQ(ComplementOf({{10, 10}, {50, 50}}, 100), (ByteRanges{{0, 10}, {20, 30}}));
  EXPECT_EQ(ComplementOf({}, 100), (ByteRanges{{0, 100}}));
  EXPECT_TRUE(ComplementOf({{0, 100}}, 100).empty());
}

TEST(ByteRangesTest, FromAnOffsetCutsTheRangeItFallsIn) {
  ByteRanges r{{0, 10}, {20, 10}, {40, 10}};
  EXPECT_EQ(RangesFrom(r, 25), (ByteRanges{{25, 5}, {40, 10}}));
  EXPECT_EQ(RangesFrom(r, 30), (ByteRanges{{40, 10}}));
  EXPECT_EQ(RangesFrom(r, 0), r);
  EXPECT_TRUE(RangesFrom(r, 50).empty());
}

}  // namespace
}  // namespace syncblock::repl
