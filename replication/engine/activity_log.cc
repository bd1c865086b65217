#include "replication/engine/activity_log.h"

#include "replication/util/status_macros.h"

namespace syncblock::repl {

ActivityHold::~ActivityHold() { log_->Release(first_, last_); }

absl::StatusOr<std::shared_ptr<ActivityLog>> ActivityLog::Open(const std::string& path,
                                                               uint64_t regions) {
  ASSIGN_OR_RETURN(auto bits, DirtyBitmap::Open(path, regions));
  return std::shared_ptr<ActivityLog>(new ActivityLog(path, std::move(bits)));
}

absl::StatusOr<std::shared_ptr<ActivityHold>> ActivityLog::Hold(uint64_t first, uint64_t last) {
  MutexLock l(&mu_);
  // Persisted before it is counted: a failed mark holds nothing.
  RETURN_IF_ERROR(bits_->Mark(first, last));
  for (uint64_t r = first; r <= last; ++r) ++holds_[r];
  return std::make_shared<ActivityHold>(shared_from_this(), first, last);
}

void ActivityLog::Release(uint64_t first, uint64_t last) {
  MutexLock l(&mu_);
  for (uint64_t r = first; r <= last; ++r) {
    auto it = holds_.find(r);
    if (it != holds_.end() && --it->second == 0) holds_.erase(it);
  }
}

absl::Status ActivityLog::Trim() {
  MutexLock l(&mu_);
  for (auto r = bits_->NextSet(0); r; r = bits_->NextSet(*r + 1)) {
    if (!holds_.count(*r)) RETURN_IF_ERROR(bits_->Clear(*r));
  }
  return absl::OkStatus();
}

std::vector<uint64_t> ActivityLog::Regions() const {
  MutexLock l(&mu_);
  std::vector<uint64_t> out;
  for (auto r = bits_->NextSet(0); r; r = bits_->NextSet(*r + 1)) out.push_back(*r);
  return out;
}

absl::Status ActivityLog::Grow(uint64_t regions) {
  MutexLock l(&mu_);
  if (regions <= bits_->regions()) return absl::OkStatus();
  ASSIGN_OR_RETURN(bits_, DirtyBitmap::Open(path_, regions));
  return absl::OkStatus();
}

absl::Status ActivityLog::ClearAll() {
  MutexLock l(&mu_);
  return bits_->ClearAll();
}

}  // namespace syncblock::repl
