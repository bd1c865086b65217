#include "csi/block_metadata.h"

#include <gtest/gtest.h>

#include <utility>
#include <vector>

namespace syncblock::csi {
namespace {

using Extents = std::vector<std::pair<int64_t, int64_t>>;

Extents Of(const std::vector<::csi::v1::BlockMetadata>& in) {
  Extents out;
  for (const auto& b : in) out.emplace_back(b.byte_offset(), b.size_bytes());
  return out;
}

constexpr uint64_t kRegion = 64 * 1024;

TEST(ExtentsOfTest, AdjacentRegionsMergeIntoOneExtent) {
  EXPECT_EQ(Of(ExtentsOf({0, 1, 2, 5, 7, 8}, kRegion, 1 << 20, 0)),
            (Extents{{0, 3 * kRegion}, {5 * kRegion, kRegion}, {7 * kRegion, 2 * kRegion}}));
  EXPECT_TRUE(ExtentsOf({}, kRegion, 1 << 20, 0).empty());
}

TEST(ExtentsOfTest, TheLastExtentEndsAtTheVolumesEnd) {
  // 200 KiB: the fourth region holds 8 KiB of the volume.
  const int64_t capacity = 200 * 1024;
  EXPECT_EQ(Of(ExtentsOf({2, 3}, kRegion, capacity, 0)),
            (Extents{{2 * kRegion, capacity - 2 * static_cast<int64_t>(kRegion)}}));
  // Regions past the end (a shrunk view) are left out.
  EXPECT_EQ(Of(ExtentsOf({4, 9}, kRegion, capacity, 0)), Extents{});
}

TEST(ExtentsOfTest, AResumedCallStartsAtTheRegionBoundaryBelowTheOffset) {
  const int64_t capacity = 1 << 20;
  // 100 KiB lies in region 1: it starts at 64 KiB, inside the first extent.
  EXPECT_EQ(Of(ExtentsOf({0, 1, 2, 6}, kRegion, capacity, 100 * 1024)),
            (Extents{{kRegion, 2 * kRegion}, {6 * kRegion, kRegion}}));
  EXPECT_EQ(Of(ExtentsOf({0, 1, 2, 6}, kRegion, capacity, 6 * kRegion)),
            (Extents{{6 * kRegion, kRegion}}));
  EXPECT_EQ(Of(ExtentsOf({0, 1, 2, 6}, kRegion, capacity, 7 * kRegion)), Extents{});
}

}  // namespace
}  // namespace syncblock::csi
