#include "replication/types/async_policy.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace syncblock::repl {
namespace {

// Bounds a person can mean: a lag of a millisecond or a kilobyte would throttle
// every write, one of a day or a terabyte bounds nothing.
constexpr uint64_t kMinLagMs = 10, kMaxLagMs = 24ull * 3600 * 1000;
constexpr uint64_t kMinLagBytes = 1ull << 20, kMaxLagBytes = 1ull << 40;

absl::StatusOr<uint64_t> Number(const std::map<std::string, std::string>& attributes,
                                const char* key, uint64_t fallback, uint64_t min, uint64_t max) {
  auto it = attributes.find(key);
  if (it == attributes.end()) return fallback;
  uint64_t v = 0;
  if (!absl::SimpleAtoi(it->second, &v) || v < min || v > max) {
    return absl::InvalidArgumentError(absl::StrCat(key, " must be a whole number from ", min,
                                                   " to ", max, ", not \"", it->second, "\""));
  }
  return v;
}

}  // namespace

const char* LagPolicyName(LagPolicy p) {
  return p == LagPolicy::kThrottle ? "throttle" : "pull-ahead";
}

absl::StatusOr<AsyncPolicy> AsyncPolicyFromAttributes(
    const std::map<std::string, std::string>& attributes) {
  AsyncPolicy p;
  auto ms = Number(attributes, kAttrMaxLagMs, p.max_lag.count(), kMinLagMs, kMaxLagMs);
  if (!ms.ok()) return ms.status();
  auto bytes = Number(attributes, kAttrMaxLagBytes, p.max_lag_bytes, kMinLagBytes, kMaxLagBytes);
  if (!bytes.ok()) return bytes.status();
  p.max_lag = std::chrono::milliseconds(*ms);
  p.max_lag_bytes = *bytes;
  if (auto it = attributes.find(kAttrLagPolicy); it != attributes.end()) {
    if (it->second == "throttle") {
      p.policy = LagPolicy::kThrottle;
    } else if (it->second == "pull-ahead") {
      p.policy = LagPolicy::kPullAhead;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          kAttrLagPolicy, " must be \"throttle\" or \"pull-ahead\", not \"", it->second, "\""));
    }
  }
  return p;
}

}  // namespace syncblock::repl
