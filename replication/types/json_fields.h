// Reading our JSON formats' fields with nlohmann/json, for the decoders of
// the replication hello and snapshot records (wire/) and of the manifest and
// the snapshot index (store/): what they read comes from a peer or a disk,
// so it is checked, not converted.
//
// nlohmann's get<uint64_t>() converts whatever number it finds: a negative
// one wraps (an epoch of -1 becomes the largest there is), a fraction is cut,
// and a float out of range is undefined behaviour. IntegerAt / IntegerOr
// accept only an integer that fits T. Like at() and get<T>() they throw
// nlohmann's type_error for anything else, so the decoder's one catch of
// json::exception (where our code meets the library's) turns every malformed
// field into the decoder's error status.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/statusor.h"
#include "replication/types/volume_types.h"

namespace syncblock::repl {

template <typename T>
bool IntegerFits(const nlohmann::json& v) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  if (v.is_number_unsigned()) {
    return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<T>::max());
  }
  if (!v.is_number_integer()) return false;  // a float, or not a number
  // A negative integer (nlohmann keeps non-negative ones unsigned).
  if constexpr (std::is_unsigned_v<T>) {
    return false;
  } else {
    return v.get<int64_t>() >= static_cast<int64_t>(std::numeric_limits<T>::min());
  }
}

template <typename T>
T IntegerValue(const nlohmann::json& v, const char* key) {
  if (!IntegerFits<T>(v)) {
    throw nlohmann::json::type_error::create(
        302,
        std::string("field '") + key + "' must be an integer in range, not " + v.type_name() +
            (v.is_number() ? " " + v.dump() : std::string()),
        &v);
  }
  return v.get<T>();
}

// The integer at `key`; out_of_range (at()) when missing, type_error when not
// an integer that fits T.
template <typename T>
T IntegerAt(const nlohmann::json& j, const char* key) {
  return IntegerValue<T>(j.at(key), key);
}

// Likewise, or `fallback` when `key` is absent (or `j` is not an object).
template <typename T>
T IntegerOr(const nlohmann::json& j, const char* key, T fallback) {
  if (!j.is_object()) return j.value(key, fallback);  // throws type_error
  auto it = j.find(key);
  return it == j.end() ? fallback : IntegerValue<T>(*it, key);
}

// A list of integers at `key`, or empty when absent.
template <typename T>
std::vector<T> IntegersOr(const nlohmann::json& j, const char* key) {
  std::vector<T> out;
  if (!j.contains(key)) return out;
  const nlohmann::json& list = j.at(key);
  if (!list.is_array()) return list.get<std::vector<T>>();  // throws type_error
  out.reserve(list.size());
  for (const nlohmann::json& v : list) out.push_back(IntegerValue<T>(v, key));
  return out;
}

// MembersFromJson (volume_types.h) on a value already parsed, for the
// decoders that embed a member list. Never serializes: dump() recurses, and
// a deeply nested value from a peer would overflow the stack.
absl::StatusOr<std::vector<MemberInfo>> MembersFromJsonValue(const nlohmann::json& members);
nlohmann::json MembersToJsonValue(const std::vector<MemberInfo>& members);

}  // namespace syncblock::repl
