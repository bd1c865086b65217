#include "replication/remote/byte_ranges.h"

#include <algorithm>

namespace syncblock::repl {
namespace {

// Sorts and merges overlapping or touching ranges; drops empty ones.
ByteRanges Normalized(ByteRanges r) {
  std::sort(r.begin(), r.end(),
            [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
  ByteRanges out;
  for (const auto& x : r) {
    if (x.length == 0) continue;
    if (!out.empty() && x.offset <= out.back().end()) {
      out.back().length = std::max(out.back().end(), x.end()) - out.back().offset;
    } else {
      out.push_back(x);
    }
  }
  return out;
}

}  // namespace

ByteRanges RangesOfRegions(const std::vector<uint64_t>& regions, uint64_t region_size,
                           uint64_t volume_size) {
  ByteRanges r;
  if (region_size == 0) return r;
  for (uint64_t index : regions) {
    if (index >= (volume_size + region_size - 1) / region_size) continue;
    uint64_t offset = index * region_size;
    r.push_back({offset, std::min(region_size, volume_size - offset)});
  }
  return Normalized(std::move(r));
}

ByteRanges UnionOf(const ByteRanges& a, const ByteRanges& b) {
  ByteRanges all = a;
  all.insert(all.end(), b.begin(), b.end());
  return Normalized(std::move(all));
}

ByteRanges ComplementOf(const ByteRanges& r, uint64_t size) {
  ByteRanges out;
  uint64_t at = 0;
  for (const auto& x : Normalized(r)) {
    if (x.offset >= size) break;
    if (x.offset > at) out.push_back({at, x.offset - at});
    at = std::max(at, x.end());
  }
  if (at < size) out.push_back({at, size - at});
  return out;
}

ByteRanges RangesFrom(const ByteRanges& r, uint64_t offset) {
  ByteRanges out;
  for (const auto& x : r) {
    if (x.end() <= offset) continue;
    if (x.offset >= offset) {
      out.push_back(x);
    } else {
      out.push_back({offset, x.end() - offset});
    }
  }
  return out;
}

uint64_t TotalBytes(const ByteRanges& r) {
  uint64_t n = 0;
  for (const auto& x : r) n += x.length;
  return n;
}

}  // namespace syncblock::repl
