// `syncblock ctl csi ...`: drive a CSI plugin by hand over its gRPC endpoint
// (identity, controller and node calls), for debugging and demos.
#pragma once

#include <vector>

#include "driver/ctl_dispatch.h"

namespace syncblock::driver {

// csi info|create|delete|list|get|publish|unpublish|stage|unstage|mount|umount|stats.
std::vector<CtlCommand> CsiCtlCommands();

}  // namespace syncblock::driver
