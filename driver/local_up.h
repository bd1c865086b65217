// `syncblock local up` (see local_command.cc for the flags).
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "driver/flags.h"

namespace syncblock::driver {

absl::Status LocalUp(const Flags& flags);

// The zone of each of `nodes` nodes: `given` round-robin, or zone-a, zone-b,
// ... (one per node) when none are given.
std::vector<std::string> LocalZones(int nodes, const std::vector<std::string>& given);

}  // namespace syncblock::driver
