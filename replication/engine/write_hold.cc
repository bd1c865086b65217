#include "replication/engine/write_hold.h"

#include <algorithm>

namespace syncblock::repl {

WriteHold::WriteHold(syncblock::Clock* clock, Resubmit resubmit)
    : clock_(clock), resubmit_(std::move(resubmit)) {}

absl::Status WriteHold::Hold(const std::string& id, std::chrono::milliseconds max) {
  if (id.empty()) return absl::InvalidArgumentError("hold id is empty");
  max = std::max(max, std::chrono::milliseconds(1));
  MutexLock l(&mu_);
  auto now = clock_->Now();
  auto [it, inserted] = holds_.try_emplace(id, Entry{now, now + max, 0});
  if (!inserted) it->second.deadline = now + max;
  return absl::OkStatus();
}

HoldRelease WriteHold::Release(const std::string& id) {
  HoldRelease out;
  std::deque<std::shared_ptr<IoRequest>> go;
  {
    MutexLock l(&mu_);
    auto it = holds_.find(id);
    if (it == holds_.end()) return out;
    out.found = true;
    out.held =
        std::chrono::duration_cast<std::chrono::microseconds>(clock_->Now() - it->second.start);
    out.writes_held = it->second.writes_held;
    holds_.erase(it);
    ResubmitIfFree(&go);
  }
  Run(go);
  return out;
}

int WriteHold::ReleaseExpired() {
  int ended = 0;
  std::deque<std::shared_ptr<IoRequest>> go;
  {
    MutexLock l(&mu_);
    if (holds_.empty()) return 0;
    auto now = clock_->Now();
    for (auto it = holds_.begin(); it != holds_.end();) {
      if (it->second.deadline <= now) {
        it = holds_.erase(it);
        ++ended;
      } else {
        ++it;
      }
    }
    ResubmitIfFree(&go);
  }
  Run(go);
  return ended;
}

void WriteHold::ReleaseAll() {
  std::deque<std::shared_ptr<IoRequest>> go;
  {
    MutexLock l(&mu_);
    holds_.clear();
    ResubmitIfFree(&go);
  }
  Run(go);
}

bool WriteHold::Admit(std::shared_ptr<IoRequest>& req) {
  if (req->op == IoOp::kRead || req->op == IoOp::kFlush) return false;
  MutexLock l(&mu_);
  if (holds_.empty()) return false;
  for (auto& [id, e] : holds_) ++e.writes_held;
  kept_.push_back(std::move(req));
  return true;
}

bool WriteHold::holding() const {
  MutexLock l(&mu_);
  return !holds_.empty();
}

size_t WriteHold::waiting() const {
  MutexLock l(&mu_);
  return kept_.size();
}

void WriteHold::ResubmitIfFree(std::deque<std::shared_ptr<IoRequest>>* go) {
  if (holds_.empty()) go->swap(kept_);
}

void WriteHold::Run(std::deque<std::shared_ptr<IoRequest>>& go) {
  for (auto& req : go) resubmit_(std::move(req));
}

}  // namespace syncblock::repl
