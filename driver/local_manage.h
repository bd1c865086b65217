// `syncblock local down|kill|start|status`: acting on the processes recorded
// in DIR/cluster.json (see local_command.cc for the flags).
#pragma once

#include "absl/status/status.h"
#include "driver/flags.h"

namespace syncblock::driver {

absl::Status LocalDown(const Flags& flags);
absl::Status LocalKill(const Flags& flags, const std::string& node_id);
absl::Status LocalStart(const Flags& flags, const std::string& node_id);
absl::Status LocalStatus(const Flags& flags);

}  // namespace syncblock::driver
