#include "replication/client/verify_compare.h"

#include <algorithm>

namespace syncblock::repl {

std::vector<uint64_t> DifferingRegions(
    const std::map<std::string, std::vector<uint32_t>>& checksums_by_node) {
  std::vector<uint64_t> out;
  if (checksums_by_node.size() < 2) return out;
  size_t longest = 0;
  for (const auto& [node, sums] : checksums_by_node) longest = std::max(longest, sums.size());
  const auto& first = checksums_by_node.begin()->second;
  for (size_t i = 0; i < longest; ++i) {
    for (const auto& [node, sums] : checksums_by_node) {
      if (i >= sums.size() || i >= first.size() || sums[i] != first[i]) {
        out.push_back(i);
        break;
      }
    }
  }
  return out;
}

}  // namespace syncblock::repl
