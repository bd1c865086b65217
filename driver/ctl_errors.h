// How `syncblock ctl` reports a failure: one line on standard error that says
// what went wrong and what to do next, and an exit code a script can tell
// apart:
//
//   0  success
//   1  the operation failed (e.g. `verify` found differences, a refused change)
//   2  usage: an unknown command or flag, a missing or malformed argument
//   3  not found: no such volume, snapshot, node or local cluster
//   4  unavailable: the storage nodes (or the volume's primary, or the CSI
//      plugin) could not be reached or did not answer in time
//
// Thread-safe: pure functions.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "driver/flags.h"

namespace syncblock::driver {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitUnavailable = 4;

// Marks a status as a usage error (exit 2, points at --help).
absl::Status UsageError(absl::string_view message);
bool IsUsageError(const absl::Status& status);

int ExitCodeFor(const absl::Status& status);

// The line printed for `status` (without the "syncblock ctl: " prefix and the
// newline): its message on one line, then the next step. `command` is the
// command's path ({"volume", "show"}; empty when none was found) and `flags`
// the command line's flags, which say how the cluster was named.
std::string ErrorLine(const absl::Status& status, const std::vector<std::string>& command,
                      const Flags& flags);

}  // namespace syncblock::driver
