#include "driver/human_format.h"

#include <chrono>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "driver/flags.h"

namespace syncblock::driver {

namespace {

// Two units at most, the larger first: "1 min 15 s", "2 h", "3 d 4 h".
std::string TwoUnits(uint64_t seconds) {
  struct Unit {
    uint64_t seconds;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}};
  for (size_t i = 0; i < 3; ++i) {
    if (seconds < kUnits[i].seconds) continue;
    uint64_t major = seconds / kUnits[i].seconds;
    uint64_t minor = (seconds % kUnits[i].seconds) / kUnits[i + 1].seconds;
    std::string out = absl::StrCat(major, " ", kUnits[i].name);
    if (minor > 0) absl::StrAppend(&out, " ", minor, " ", kUnits[i + 1].name);
    return out;
  }
  return absl::StrCat(seconds, " s");
}

// One unit, rounded down: "2 min", "3 h", "5 days".
std::string OneUnit(uint64_t seconds) {
  if (seconds < 60) return absl::StrCat(seconds, " s");
  if (seconds < 3600) return absl::StrCat(seconds / 60, " min");
  if (seconds < 86400) return absl::StrCat(seconds / 3600, " h");
  uint64_t days = seconds / 86400;
  return absl::StrCat(days, days == 1 ? " day" : " days");
}

}  // namespace

std::string FormatDuration(double seconds) {
  if (!(seconds >= 0) || std::isinf(seconds)) return "?";
  if (seconds < 1) {
    auto ms = static_cast<uint64_t>(std::llround(seconds * 1000));
    if (ms < 1000) return absl::StrCat(ms, " ms");
  }
  return TwoUnits(static_cast<uint64_t>(std::llround(seconds)));
}

std::string FormatRate(double bytes_per_second) {
  if (!(bytes_per_second >= 0) || std::isinf(bytes_per_second)) return "?";
  return absl::StrCat(FormatSize(static_cast<uint64_t>(bytes_per_second)), "/s");
}

std::string FormatAgo(int64_t then_unix_ms, int64_t now_unix_ms) {
  int64_t delta_ms = now_unix_ms - then_unix_ms;
  if (delta_ms < 0) {
    if (-delta_ms < 60000) return "just now";
    return absl::StrCat("in ", OneUnit(static_cast<uint64_t>(-delta_ms / 1000)));
  }
  if (delta_ms < 5000) return "just now";
  return absl::StrCat(OneUnit(static_cast<uint64_t>(delta_ms / 1000)), " ago");
}

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace syncblock::driver
