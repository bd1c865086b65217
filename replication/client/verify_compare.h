// Compares the per-region checksums of a volume's replicas (ctl verify): a
// pure function, tested without a cluster.
//
// Thread-safe: no state.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace syncblock::repl {

// Indexes of the regions where any two replicas' checksums differ, ascending.
// A region one replica has and another lacks (different lengths) differs.
std::vector<uint64_t> DifferingRegions(
    const std::map<std::string, std::vector<uint32_t>>& checksums_by_node);

}  // namespace syncblock::repl
