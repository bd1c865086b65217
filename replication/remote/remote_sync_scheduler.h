// Runs the remote syncs of a cluster's volumes on their schedules
// (replication/doc/remote_sync.md): every tick it lists the volumes, and for
// each one that declares a sync and is due (its status's next_run), starts a
// cycle on a thread of its own, one at a time per volume and at most
// `max_concurrent` in all. Hosted by the CSI controller next to its other
// chores; with several controllers (a Deployment of two), a lease on each
// volume (kAttrRemoteLease, compare-and-set) lets one run its cycles.
//
// Thread-safe. The destructor asks running cycles to stop at their next chunk
// (their progress is saved: the next run resumes) and waits for them.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "replication/client/storage_cluster.h"
#include "replication/remote/range_shipper.h"

namespace syncblock::repl {

struct RemoteSyncSchedulerOptions {
  int max_concurrent = 4;
  ShipOptions ship;
  // A volume's lease (kAttrRemoteLease) lasts this long unless renewed: a
  // controller that died mid-cycle holds up the others that long at most.
  std::chrono::milliseconds lease_ttl{120000};
};

class RemoteSyncScheduler {
 public:
  using ClusterFn = std::function<std::shared_ptr<StorageCluster>()>;
  // `cluster`: this cluster; `connect`: a client of a remote's nodes.
  RemoteSyncScheduler(ClusterFn cluster,
                      std::function<std::shared_ptr<StorageCluster>(const RemoteView&)> connect,
                      RemoteSyncSchedulerOptions options = {});
  ~RemoteSyncScheduler();

  // Starts the cycles that are due; returns how many it started.
  int RunOnce();
  // Cycles running now.
  int Running();

 private:
  void RunCycle(std::string volume_id);

  const ClusterFn cluster_;
  const std::function<std::shared_ptr<StorageCluster>(const RemoteView&)> connect_;
  const RemoteSyncSchedulerOptions options_;
  const std::string owner_;  // this process, in the volumes' leases
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::thread> running_ ABSL_GUARDED_BY(mu_);  // by volume
  std::vector<std::thread> finished_ ABSL_GUARDED_BY(mu_);           // to join
};

}  // namespace syncblock::repl
