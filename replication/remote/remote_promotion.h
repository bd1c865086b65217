// `ctl volume promote-remote`: on the remote cluster, makes a sync's target
// a writable volume again, holding exactly one of the snapshots the sync
// completed (the newest, or the one named), for when the source site is lost
// (replication/doc/remote_sync.md, "Failover and failback").
//
// Thread-compatible.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::repl {

struct RemotePromotion {
  std::string snapshot;         // the snapshot the volume now holds
  int64_t point_unix_ms = 0;    // its recovery point (the source's time)
  uint64_t bytes_restored = 0;  // rolled back from the snapshot: what a transfer had half-written
  std::string source_volume;    // the volume it was a copy of
};

struct RemotePromotionOptions {
  // Between unmarking the target and rolling it back: longer than a
  // transfer's write validity (ShipOptions, 4 s), so that a transfer still
  // under way checks again, finds it is no longer the target's writer and
  // stops before the roll-back starts.
  std::chrono::milliseconds fence_wait{5000};
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// FAILED_PRECONDITION when the volume is not a sync target (or was promoted
// already: then the same call is OK when it names the same snapshot, or
// none), NOT_FOUND for an unknown volume or snapshot, FAILED_PRECONDITION
// when it holds no complete sync snapshot.
absl::StatusOr<RemotePromotion> PromoteRemoteTarget(StorageCluster& cluster,
                                                    const std::string& volume_id,
                                                    const std::string& snapshot,
                                                    const RemotePromotionOptions& options);

}  // namespace syncblock::repl
