// `syncblock completion bash|zsh`: a shell completion script for the binary,
// generated from the ctl command table, so every ctl command and flag that
// exists completes and none that does not.
//
//   source <(syncblock completion bash)        # ~/.bashrc
//   source <(syncblock completion zsh)         # ~/.zshrc, after compinit
//   syncblock completion zsh > "${fpath[1]}/_syncblock"
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <vector>

#include "driver/ctl_dispatch.h"

namespace syncblock::driver {

// The script for `shell` ("bash" or "zsh"); empty for another shell.
std::string CompletionScript(const std::string& shell, const std::vector<CtlCommand>& table);

}  // namespace syncblock::driver
