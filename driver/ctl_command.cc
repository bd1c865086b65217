// `syncblock ctl`: the command table. Another area's commands (for example
// `ctl csi ...`) join by appending its list here.
#include <grpc/support/log.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>

#include "driver/commands.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_csi_commands.h"

namespace syncblock::driver {

std::vector<CtlCommand> CtlCommandTable() {
  std::vector<CtlCommand> table;
  for (auto* area : {&VolumeCtlCommands, &NodeCtlCommands, &SyncCtlCommands, &SnapshotCtlCommands,
                     &GroupSnapshotCtlCommands, &RemoteCtlCommands, &CsiCtlCommands}) {
    auto commands = (*area)();
    table.insert(table.end(), commands.begin(), commands.end());
  }
  return table;
}

int RunCtl(int argc, char** argv) {
  // gRPC's own error lines ("Handshake failed with fatal error ...") would
  // interleave with ctl's output, -o json included; ctl's one-line error says
  // what failed (a TLS handshake among others). They go to the debug log.
  gpr_set_log_function([](gpr_log_func_args* args) {
    spdlog::debug("grpc: {}:{}: {}", args->file, args->line, args->message);
  });
  return DispatchCtl(CtlCommandTable(), argc, argv, std::cout, std::cerr,
                     DetectTerminal(STDOUT_FILENO), DetectTerminal(STDERR_FILENO));
}

}  // namespace syncblock::driver
