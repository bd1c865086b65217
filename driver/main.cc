#include <cstdio>
#include <cstring>
#include <string_view>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "driver/commands.h"
#include "replication/util/log_rate_limit.h"

namespace {

constexpr char kUsage[] =
    "usage: syncblock <command> [flags]\n"
    "\n"
    "commands:\n"
    "  storage     run a storage node (replicas, replication, NBD export)\n"
    "  csi         run the CSI driver (--mode controller|node|all)\n"
    "  ctl         manage volumes and replicas on storage nodes\n"
    "  local       run a whole cluster on this machine (up|down|kill|start)\n"
    "  completion  print a shell completion script (bash|zsh)\n"
    "  version     print the version\n"
    "\n"
    "`syncblock <command> --help` describes a command's flags.\n";

}  // namespace

int main(int argc, char** argv) {
  // A crash of a daemon leaves its stack in its log: the only trace a CI run
  // or a user's bug report gets.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
  // No retrying client can make a daemon write the same line thousands of
  // times: repeats are counted and summarised (replication/util/log_rate_limit.h).
  syncblock::InstallLogRateLimit();
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::string_view cmd = argv[1];
  // Each subcommand sees argv with its own name as argv[0].
  int sub_argc = argc - 1;
  char** sub_argv = argv + 1;
  if (cmd == "storage") return syncblock::driver::RunStorage(sub_argc, sub_argv);
  if (cmd == "csi") return syncblock::driver::RunCsi(sub_argc, sub_argv);
  if (cmd == "ctl") return syncblock::driver::RunCtl(sub_argc, sub_argv);
  if (cmd == "local") return syncblock::driver::RunLocal(sub_argc, sub_argv);
  if (cmd == "completion") return syncblock::driver::RunCompletion(sub_argc, sub_argv);
  if (cmd == "fuse-export") return syncblock::driver::RunFuseExport(sub_argc, sub_argv);
  if (cmd == "version" || cmd == "--version") {
    std::printf("syncblock %s\n", SYNCBLOCK_VERSION);
    return 0;
  }
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "syncblock: unknown command '%s'\n\n%s", argv[1], kUsage);
  return 2;
}
