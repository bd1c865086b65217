// Keeps every 2- and 4-replica volume's witness on a live node
// (replication/doc/failover.md, "Witness"): a witness whose node has been
// unreachable for `replace_after` is moved to another node that placement
// picks. The CSI controller runs a pass periodically.
//
// Thread-compatible: one caller of RunOnce at a time.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::repl {

struct WitnessKeeperOptions {
  std::chrono::milliseconds replace_after{60000};
};

class WitnessKeeper {
 public:
  using ClusterFn = std::function<absl::StatusOr<std::shared_ptr<StorageCluster>>()>;
  WitnessKeeper(ClusterFn cluster, WitnessKeeperOptions opts);

  // One look at every volume at time `now`; the number of witnesses moved.
  int RunOnce(std::chrono::steady_clock::time_point now);

 private:
  const ClusterFn cluster_;
  const WitnessKeeperOptions opts_;
  // By volume: since when its witness has been seen offline.
  std::map<std::string, std::chrono::steady_clock::time_point> offline_since_;
};

}  // namespace syncblock::repl
