// The IO limiters of a storage node, one per volume it serves as primary,
// configured from the volume's attributes (qos_settings.h): when an NBD
// client opens the export (a new primary takes the manifest's settings) and
// when the attributes change (SetAttributes). A volume without limits still
// gets a limiter, which then passes requests straight through.
//
// Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "replication/qos/io_limiter.h"

namespace syncblock::repl {

class QosRegistry {
 public:
  // The volume's limiter, created on first use, set to `attributes`' limits.
  std::shared_ptr<IoLimiter> Configure(const std::string& volume_id,
                                       const std::map<std::string, std::string>& attributes);
  // The volume is gone from this node.
  void Forget(const std::string& volume_id);
  // Every limiter's counters, by volume id.
  std::vector<std::pair<std::string, IoLimiterStats>> Stats() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<IoLimiter>> limiters_;  // guarded by mu_
};

}  // namespace syncblock::repl
