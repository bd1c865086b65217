#include "replication/crypt/block_range_lock.h"

namespace syncblock::repl {

bool BlockRangeLock::FreeLocked(const Range& r, size_t waiters_before) const {
  for (const Range& h : held_) {
    if (h.Overlaps(r)) return false;
  }
  for (size_t i = 0; i < waiters_before; ++i) {
    if (waiting_[i].range.Overlaps(r)) return false;
  }
  return true;
}

void BlockRangeLock::Acquire(uint64_t first, uint64_t end, std::function<void()> granted) {
  Range r{first, end};
  {
    MutexLock l(&mu_);
    if (!FreeLocked(r, waiting_.size())) {
      waiting_.push_back({r, std::move(granted)});
      return;
    }
    held_.push_back(r);
  }
  granted();
}

void BlockRangeLock::Release(uint64_t first, uint64_t end) {
  std::vector<std::function<void()>> run;
  {
    MutexLock l(&mu_);
    for (auto it = held_.begin(); it != held_.end(); ++it) {
      if (it->first == first && it->end == end) {
        held_.erase(it);
        break;
      }
    }
    for (size_t i = 0; i < waiting_.size();) {
      if (FreeLocked(waiting_[i].range, i)) {
        held_.push_back(waiting_[i].range);
        run.push_back(std::move(waiting_[i].granted));
        waiting_.erase(waiting_.begin() + static_cast<long>(i));
      } else {
        ++i;
      }
    }
  }
  for (auto& f : run) f();
}

size_t BlockRangeLock::held() const {
  MutexLock l(&mu_);
  return held_.size();
}

size_t BlockRangeLock::waiting() const {
  MutexLock l(&mu_);
  return waiting_.size();
}

}  // namespace syncblock::repl
