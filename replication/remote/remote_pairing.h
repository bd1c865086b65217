// Declaring and ending a volume's sync to a remote (`ctl volume replicate`,
// the CSI parameters): the checks that come before any data moves, so that a
// bad request is refused with nothing changed.
//
// Thread-compatible.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"
#include "replication/types/remote_sync_policy.h"

namespace syncblock::repl {

using RemoteConnector = std::function<std::shared_ptr<StorageCluster>(const RemoteView&)>;

struct RemoteSyncRequest {
  std::string volume_id;
  std::string remote;
  std::string target;  // empty: the remote's prefix + the volume's id, or the
                       // volume it was promoted from (failback)
  std::chrono::seconds interval{60};
  int keep = 3;
  uint64_t rate_bytes_per_second = 0;
  // Run a cycle at the scheduler's next tick, whatever the schedule says.
  bool run_now = false;
  // Take a promoted volume there as the target (nothing may use it there).
  bool claim = false;
};

// Declares the sync on the volume (its attributes) once the remote and the
// target check out:
//  - the remote is defined and answers (NOT_FOUND / UNAVAILABLE otherwise);
//  - the target there is absent (the first cycle creates it), already this
//    sync's, or, for a failback, a volume with no sync of its own that holds
//    a sync snapshot this volume holds too: it is then marked as this sync's
//    target, with a new pairing (FAILED_PRECONDITION for any other volume,
//    a promoted one included);
//  - the target is not larger than the volume.
// The volume's pairing is kept (through `--stop` too): the same request
// again changes only the schedule.
absl::StatusOr<RemoteSyncPolicy> DeclareRemoteSync(StorageCluster& cluster,
                                                   const RemoteConnector& connect,
                                                   const RemoteSyncRequest& request);

// Ends the sync's schedule (a cycle under way stops at its next checkpoint).
// The snapshots stay on both sides, the target stays marked as a target (use
// promote-remote there to write to it), and the pairing and the status stay,
// so that `replicate` again goes on where it was.
absl::StatusOr<VolumeView> StopRemoteSync(StorageCluster& cluster, const std::string& volume_id);

// A random id for a new pairing.
std::string NewPairingId();

}  // namespace syncblock::repl
