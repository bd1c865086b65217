// The `syncblock ctl` commands, by area. ctl_command.cc puts them in one table.
#pragma once

#include <vector>

#include "driver/ctl_dispatch.h"

namespace syncblock::driver {

// volume create|delete|show|list, export.
std::vector<CtlCommand> VolumeCtlCommands();
// node list, replica add|remove, promote.
std::vector<CtlCommand> NodeCtlCommands();
// verify, resync, resync-status.
std::vector<CtlCommand> SyncCtlCommands();

}  // namespace syncblock::driver
