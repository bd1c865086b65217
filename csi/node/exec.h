// Running the host tools the node plugin drives (mount, mkfs, blkid, losetup,
// syncblock fuse-export, ...). posix_spawn rather than fork: the plugin is a
// multithreaded gRPC server, where only async-signal-safe work is allowed
// between fork and exec, and posix_spawn keeps to that.
//
// Thread-safe: every call is independent.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::csi {

struct ExecResult {
  int exit_code = -1;  // -1: killed by a signal (a timeout included)
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv (argv[0] looked up on PATH) with stdin from /dev/null. Fails only
// when the program cannot be started; a non-zero exit is a result.
absl::StatusOr<ExecResult> Exec(const std::vector<std::string>& argv,
                                std::chrono::milliseconds timeout = std::chrono::minutes(2));

// As Exec, but a non-zero exit is an INTERNAL error quoting the command and
// its output. Returns the output.
absl::StatusOr<std::string> ExecChecked(
    const std::vector<std::string>& argv,
    std::chrono::milliseconds timeout = std::chrono::minutes(2));

// Starts argv in a session of its own with output appended to `log_path`, and
// does not wait: the child outlives the plugin (a restarted plugin re-adopts
// it). Returns its pid. The caller reaps it with ReapIfExited when it is still
// our child.
absl::StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                    const std::string& log_path);

// True when `pid` exited (reaping it if it is our child) or does not exist.
bool ProcessGone(pid_t pid);

// "a b 'c d'" for messages.
std::string FormatCommand(const std::vector<std::string>& argv);

}  // namespace syncblock::csi
