// `syncblock ctl`: the command table. Another area's commands (for example
// `ctl csi ...`) join by appending its list here.
#include <iostream>

#include "driver/commands.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_csi_commands.h"

namespace syncblock::driver {

int RunCtl(int argc, char** argv) {
  std::vector<CtlCommand> table;
  for (auto* area : {&VolumeCtlCommands, &NodeCtlCommands, &SyncCtlCommands, &SnapshotCtlCommands,
                     &CsiCtlCommands}) {
    auto commands = (*area)();
    table.insert(table.end(), commands.begin(), commands.end());
  }
  return DispatchCtl(table, argc, argv, std::cout, std::cerr);
}

}  // namespace syncblock::driver
