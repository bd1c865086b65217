// The in-flight guard: at most one CSI operation per volume at a time in this
// process. A CO that lost track of a call (sidecar restart, timeout and retry)
// may send a second one while the first still runs; the spec lets the plugin
// answer it with ABORTED, which the CO retries with backoff. Idea from
// aws-ebs-csi-driver's pkg/driver/internal/inflight.go.
//
// Thread-safe: all methods may be called from any thread.
#pragma once

#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace syncblock::csi {

class InFlight {
 public:
  // Releases its key when destroyed.
  class Guard {
   public:
    Guard(Guard&& other) noexcept;
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    ~Guard();

   private:
    friend class InFlight;
    Guard(InFlight* owner, std::string key) : owner_(owner), key_(std::move(key)) {}
    InFlight* owner_;
    std::string key_;
  };

  // ABORTED naming `key` when an operation on it is already running.
  absl::StatusOr<Guard> Acquire(const std::string& key);
  bool Busy(const std::string& key) const;

 private:
  void Release(const std::string& key);

  mutable absl::Mutex mu_;
  std::set<std::string> keys_ ABSL_GUARDED_BY(mu_);
};

}  // namespace syncblock::csi
