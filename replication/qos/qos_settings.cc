#include "replication/qos/qos_settings.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace syncblock::repl {
namespace {

bool IsUnlimited(const std::string& value) { return absl::AsciiStrToLower(value) == "unlimited"; }

absl::Status Invalid(const std::string& key, const std::string& value, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("parameter ", key, "='", value, "': ", why));
}

struct Suffix {
  const char* text;
  uint64_t factor;
};
// Longest first, so "Mi" is not read as "M".
constexpr Suffix kSuffixes[] = {
    {"Ki", uint64_t{1} << 10},
    {"Mi", uint64_t{1} << 20},
    {"Gi", uint64_t{1} << 30},
    {"Ti", uint64_t{1} << 40},
    {"k", 1000},
    {"M", 1000'000},
    {"G", 1000'000'000},
    {"T", 1000'000'000'000},
};

}  // namespace

absl::StatusOr<uint64_t> ParseQosIops(const std::string& key, const std::string& value) {
  if (IsUnlimited(value)) return 0;
  uint64_t n;
  if (!absl::SimpleAtoi(value, &n) || value.empty() || value[0] == '+' || value[0] == '-') {
    return Invalid(key, value, "must be a whole number of IOs per second (0: no limit)");
  }
  if (n > kMaxQosIops) {
    return Invalid(key, value, absl::StrCat("must be at most ", kMaxQosIops));
  }
  return n;
}

absl::StatusOr<uint64_t> ParseQosBandwidth(const std::string& key, const std::string& value) {
  if (IsUnlimited(value)) return 0;
  std::string digits = value;
  uint64_t factor = 1;
  for (const auto& s : kSuffixes) {
    if (absl::EndsWith(value, s.text)) {
      digits = value.substr(0, value.size() - std::string(s.text).size());
      factor = s.factor;
      break;
    }
  }
  uint64_t n;
  if (digits.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(digits[0])) ||
      !absl::SimpleAtoi(digits, &n)) {
    return Invalid(key, value,
                   "must be bytes per second, a whole number with an optional suffix "
                   "(k, M, G, T, Ki, Mi, Gi, Ti), e.g. 100Mi (0: no limit)");
  }
  if (n != 0 && n > kMaxQosBandwidth / factor) {
    return Invalid(key, value, absl::StrCat("must be at most ", kMaxQosBandwidth, " bytes/s"));
  }
  n *= factor;
  if (n != 0 && n < kMinQosBandwidth) {
    return Invalid(
        key, value,
        absl::StrCat("must be at least ", kMinQosBandwidth, " bytes/s (or 0: no limit)"));
  }
  return n;
}

absl::StatusOr<double> ParseQosBurst(const std::string& key, const std::string& value) {
  std::string v = value;
  if (absl::EndsWith(v, "s")) v.pop_back();
  double d;
  if (v.empty() || !(absl::ascii_isdigit(static_cast<unsigned char>(v[0])) || v[0] == '.') ||
      !absl::SimpleAtod(v, &d) || !std::isfinite(d)) {
    return Invalid(key, value, "must be a number of seconds, e.g. 2 or 0.5");
  }
  if (d < 0 || d > kMaxQosBurstSeconds) {
    return Invalid(key, value, absl::StrCat("must be from 0 to ", kMaxQosBurstSeconds, " seconds"));
  }
  return d;
}

QosSettings QosFromAttributes(const std::map<std::string, std::string>& attributes) {
  QosSettings s;
  if (auto it = attributes.find(kAttrQosMaxIops); it != attributes.end()) {
    if (auto v = ParseQosIops(it->first, it->second); v.ok()) s.max_iops = *v;
  }
  if (auto it = attributes.find(kAttrQosMaxBandwidth); it != attributes.end()) {
    if (auto v = ParseQosBandwidth(it->first, it->second); v.ok()) s.max_bandwidth = *v;
  }
  if (auto it = attributes.find(kAttrQosBurst); it != attributes.end()) {
    if (auto v = ParseQosBurst(it->first, it->second); v.ok()) s.burst_seconds = *v;
  }
  return s;
}

std::string FormatBurst(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", seconds);
  return buf;
}

std::map<std::string, std::string> QosToAttributes(const QosSettings& s) {
  return {{kAttrQosMaxIops, absl::StrCat(s.max_iops)},
          {kAttrQosMaxBandwidth, absl::StrCat(s.max_bandwidth)},
          {kAttrQosBurst, FormatBurst(s.burst_seconds)}};
}

std::string DescribeIops(uint64_t iops) {
  return iops == 0 ? "unlimited" : absl::StrCat(iops, " IOPS");
}

std::string DescribeBandwidth(uint64_t bps) {
  if (bps == 0) return "unlimited";
  struct Unit {
    const char* name;
    uint64_t size;
  };
  for (Unit u : {Unit{"GiB/s", uint64_t{1} << 30}, Unit{"MiB/s", uint64_t{1} << 20},
                 Unit{"KiB/s", uint64_t{1} << 10}}) {
    if (bps >= u.size) {
      char buf[48];
      std::snprintf(buf, sizeof(buf), "%g %s", static_cast<double>(bps) / u.size, u.name);
      return buf;
    }
  }
  return absl::StrCat(bps, " B/s");
}

}  // namespace syncblock::repl
