// The `syncblock ctl` commands, by area. ctl_command.cc puts them in one table.
#pragma once

#include <vector>

#include "driver/ctl_dispatch.h"
#include "driver/output_json.h"
#include "driver/output_text.h"

namespace syncblock::driver {

// volume create|delete|show|list|expand, export.
std::vector<CtlCommand> VolumeCtlCommands();
// node list, replica add|remove, promote.
std::vector<CtlCommand> NodeCtlCommands();
// verify, resync, resync-status.
std::vector<CtlCommand> SyncCtlCommands();
// snapshot create|delete|list|show|diff|verify.
std::vector<CtlCommand> SnapshotCtlCommands();
// snapshot group create|delete|show.
std::vector<CtlCommand> GroupSnapshotCtlCommands();
// remote add|list|remove, volume replicate|replication-status|promote-remote.
std::vector<CtlCommand> RemoteCtlCommands();
// Every ctl command, of every area (ctl_command.cc).
std::vector<CtlCommand> CtlCommandTable();

// A volume as `volume show` prints it (the answer of every command that
// changes a volume).
inline void PrintVolume(CtlContext& ctx, const repl::VolumeView& v) {
  ctx.Print(VolumeToJson(v), RenderVolume(v, ctx.style()));
}

}  // namespace syncblock::driver
