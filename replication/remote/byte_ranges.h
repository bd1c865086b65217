// Sets of byte ranges of a volume, sorted and merged: what a remote sync
// cycle has to bring over, from the regions two snapshot diffs name.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <vector>

namespace syncblock::repl {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const ByteRange&) const = default;
};
using ByteRanges = std::vector<ByteRange>;  // sorted, disjoint, not touching

// Region indexes (any order) as byte ranges, clipped to `volume_size`.
ByteRanges RangesOfRegions(const std::vector<uint64_t>& regions, uint64_t region_size,
                           uint64_t volume_size);
ByteRanges UnionOf(const ByteRanges& a, const ByteRanges& b);
// [0, size) less `r`.
ByteRanges ComplementOf(const ByteRanges& r, uint64_t size);
// The parts of `r` at or past `offset`.
ByteRanges RangesFrom(const ByteRanges& r, uint64_t offset);
uint64_t TotalBytes(const ByteRanges& r);

}  // namespace syncblock::repl
