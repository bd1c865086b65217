#include "csi/block_metadata.h"

#include <algorithm>

namespace syncblock::csi {

std::vector<::csi::v1::BlockMetadata> ExtentsOf(const std::vector<uint64_t>& regions,
                                                uint64_t region_size, int64_t capacity,
                                                int64_t starting_offset) {
  std::vector<::csi::v1::BlockMetadata> out;
  if (region_size == 0 || capacity <= 0) return out;
  const uint64_t end_of_volume = static_cast<uint64_t>(capacity);
  const uint64_t from =
      starting_offset <= 0 ? 0 : static_cast<uint64_t>(starting_offset) / region_size * region_size;
  for (uint64_t region : regions) {
    uint64_t begin = region * region_size;
    uint64_t end = std::min(begin + region_size, end_of_volume);
    begin = std::max(begin, from);
    if (begin >= end) continue;
    if (!out.empty()) {
      auto& last = out.back();
      if (static_cast<uint64_t>(last.byte_offset() + last.size_bytes()) == begin) {
        last.set_size_bytes(last.size_bytes() + static_cast<int64_t>(end - begin));
        continue;
      }
    }
    auto& e = out.emplace_back();
    e.set_byte_offset(static_cast<int64_t>(begin));
    e.set_size_bytes(static_cast<int64_t>(end - begin));
  }
  return out;
}

}  // namespace syncblock::csi
