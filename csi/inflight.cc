#include "csi/inflight.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace syncblock::csi {

InFlight::Guard::Guard(Guard&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), key_(std::move(other.key_)) {}

InFlight::Guard::~Guard() {
  if (owner_ != nullptr) owner_->Release(key_);
}

absl::StatusOr<InFlight::Guard> InFlight::Acquire(const std::string& key) {
  absl::MutexLock lock(&mu_);
  if (!keys_.insert(key).second) {
    return absl::AbortedError(
        absl::StrCat("an operation on volume '", key, "' is already in progress"));
  }
  return Guard(this, key);
}

bool InFlight::Busy(const std::string& key) const {
  absl::MutexLock lock(&mu_);
  return keys_.count(key) > 0;
}

void InFlight::Release(const std::string& key) {
  absl::MutexLock lock(&mu_);
  keys_.erase(key);
}

}  // namespace syncblock::csi
