// How far an asynchronous replica may fall behind its primary, and what the
// primary does when it would fall further (replication/doc/async_replicas.md).
// Kept in the volume's manifest attributes, so that every replica, and the
// primary after a failover, applies the same bounds.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace syncblock::repl {

inline constexpr char kAttrMaxLagMs[] = "async.max-lag-ms";
inline constexpr char kAttrMaxLagBytes[] = "async.max-lag-bytes";
inline constexpr char kAttrLagPolicy[] = "async.lag-policy";

enum class LagPolicy {
  // Writers wait just long enough for the replica to stay within its bounds:
  // the declared RPO holds, at the cost of the replica's pace.
  kThrottle,
  // The replica is dropped to its dirty bitmap and caught up later: writers
  // never wait for it, and the RPO is broken (and reported) until then.
  kPullAhead,
};
const char* LagPolicyName(LagPolicy p);

struct AsyncPolicy {
  std::chrono::milliseconds max_lag{1000};
  uint64_t max_lag_bytes = 64ull << 20;
  LagPolicy policy = LagPolicy::kThrottle;
};

// The policy the attributes declare; defaults for what they leave out.
// INVALID_ARGUMENT naming the attribute and the accepted values otherwise.
absl::StatusOr<AsyncPolicy> AsyncPolicyFromAttributes(
    const std::map<std::string, std::string>& attributes);

}  // namespace syncblock::repl
