// `syncblock ctl`: the command table. Another area's commands (for example
// `ctl csi ...`) join by appending its list here.
#include <unistd.h>

#include <iostream>

#include "driver/commands.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_csi_commands.h"

namespace syncblock::driver {

std::vector<CtlCommand> CtlCommandTable() {
  std::vector<CtlCommand> table;
  for (auto* area : {&VolumeCtlCommands, &NodeCtlCommands, &SyncCtlCommands, &SnapshotCtlCommands,
                     &GroupSnapshotCtlCommands, &CsiCtlCommands}) {
    auto commands = (*area)();
    table.insert(table.end(), commands.begin(), commands.end());
  }
  return table;
}

int RunCtl(int argc, char** argv) {
  return DispatchCtl(CtlCommandTable(), argc, argv, std::cout, std::cerr,
                     DetectTerminal(STDOUT_FILENO), DetectTerminal(STDERR_FILENO));
}

}  // namespace syncblock::driver
