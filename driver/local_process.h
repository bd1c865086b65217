// Process plumbing of `syncblock local`: starting a daemon detached from the
// terminal (its own session, so it outlives `local up` and a Ctrl-C), telling
// whether a recorded pid is still that daemon, stopping it, picking free
// ports, and reading the end of a log.
//
// Thread-compatible: no shared state.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace syncblock::driver {

// The running binary (/proc/self/exe), which local starts its daemons from.
absl::StatusOr<std::string> SelfExecutable();

// Forks and execs `argv` in a new session, stdin from /dev/null, stdout and
// stderr appended to `log_path`.
absl::StatusOr<pid_t> SpawnDetached(const std::vector<std::string>& argv,
                                    const std::string& log_path);

// True while `pid` runs a syncblock process (not a zombie, not a reused pid).
bool IsSyncblockProcess(pid_t pid);

// True when `pid` holds a listening TCP socket on `port` (any address), from
// /proc/net/tcp{,6} and the process's open files.
bool ListensOn(pid_t pid, int port);

// Reaps `pid` if it is our child and has exited; true if it has. A no-op for
// processes that are not our children.
bool ReapIfExited(pid_t pid, int* exit_status);

// SIGTERM, then SIGKILL once `grace` has passed; returns when it is gone.
// Pids that are not (or no longer) syncblock processes are left alone.
void StopProcess(pid_t pid, std::chrono::milliseconds grace);
void StopProcesses(const std::vector<pid_t>& pids, std::chrono::milliseconds grace);

// `count` distinct TCP ports on 127.0.0.1 that were free a moment ago.
absl::StatusOr<std::vector<int>> FreePorts(int count);

// The last `lines` lines of a file ("" when it cannot be read).
std::string TailFile(const std::string& path, int lines);

}  // namespace syncblock::driver
