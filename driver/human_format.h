// Numbers as a person reads them in `syncblock ctl` output: durations
// ("850 ms", "1 min 15 s"), rates ("64.0 MiB/s") and times relative to now
// ("2 min ago"). Sizes are FormatSize (flags.h: "1.5 GiB").
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace syncblock::driver {

// 0.012 -> "12 ms", 45 -> "45 s", 75 -> "1 min 15 s", 7260 -> "2 h 1 min",
// 190000 -> "2 d 4 h"; negative, NaN or infinite -> "?".
std::string FormatDuration(double seconds);

// Bytes per second: "64.0 MiB/s".
std::string FormatRate(double bytes_per_second);

// How long before `now_unix_ms` the time `then_unix_ms` was: "just now",
// "12 s ago", "2 min ago", "3 h ago", "5 days ago"; a time ahead of now (a
// clock skewed between machines) is "just now" when under a minute ahead,
// else "in 2 min".
std::string FormatAgo(int64_t then_unix_ms, int64_t now_unix_ms);

// The current time in milliseconds since the Unix epoch.
int64_t NowUnixMs();

}  // namespace syncblock::driver
