// A volume's QoS limits: the IOPS and bandwidth its primary's NBD export
// allows (reads and writes together, across every connection to the volume),
// and how long a burst an idle volume may spend at once. They live in the
// volume's attributes (the manifest every replica keeps), so a new primary
// enforces them too; the keys below, values in canonical form (decimal
// integers; burst in seconds).
//
// Thread-safe: plain values and pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace syncblock::repl {

inline constexpr char kAttrQosMaxIops[] = "qos.maxIops";            // IOs per second
inline constexpr char kAttrQosMaxBandwidth[] = "qos.maxBandwidth";  // bytes per second
inline constexpr char kAttrQosBurst[] = "qos.burst";                // seconds

// Bounds of what a limit may be (0 always means "no limit").
inline constexpr uint64_t kMaxQosIops = 10'000'000;
inline constexpr uint64_t kMinQosBandwidth = 64 * 1024;
inline constexpr uint64_t kMaxQosBandwidth = uint64_t{1} << 40;
inline constexpr double kMaxQosBurstSeconds = 60;

struct QosSettings {
  uint64_t max_iops = 0;       // 0: unlimited
  uint64_t max_bandwidth = 0;  // bytes/s; 0: unlimited
  // An idle volume may spend this many seconds' worth of its limits at
  // once. 0: no burst beyond 20 ms of the limits (at least one request).
  double burst_seconds = 0;

  bool limited() const { return max_iops != 0 || max_bandwidth != 0; }
  bool operator==(const QosSettings&) const = default;
};

// Parse one user-facing value; INVALID_ARGUMENT naming `key` otherwise.
// IOPS: a decimal integer, 0 (or "unlimited") for none, at most kMaxQosIops.
absl::StatusOr<uint64_t> ParseQosIops(const std::string& key, const std::string& value);
// Bandwidth in bytes per second: an integer with an optional Kubernetes
// quantity suffix (k, M, G, T decimal; Ki, Mi, Gi, Ti binary), e.g. "100Mi";
// 0 or "unlimited" for none; otherwise between kMinQosBandwidth and
// kMaxQosBandwidth.
absl::StatusOr<uint64_t> ParseQosBandwidth(const std::string& key, const std::string& value);
// Seconds, a decimal number (an "s" suffix allowed), 0 to kMaxQosBurstSeconds.
absl::StatusOr<double> ParseQosBurst(const std::string& key, const std::string& value);

// The settings in `attributes` (keys above); a missing or malformed value is
// no limit (attributes are written only through the parsers above).
QosSettings QosFromAttributes(const std::map<std::string, std::string>& attributes);
// Canonical attribute values of `s`, every key present.
std::map<std::string, std::string> QosToAttributes(const QosSettings& s);
std::string FormatBurst(double seconds);

// "unlimited", or e.g. "500 IOPS", "100 MiB/s": for `volume show`.
std::string DescribeIops(uint64_t iops);
std::string DescribeBandwidth(uint64_t bytes_per_second);

}  // namespace syncblock::repl
