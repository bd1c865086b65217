// Brings a dataLocality volume's primary back next to its consumer (issue:
// reads stay local): once the node a volume is published read-write to
// holds one of its replicas, every replica is in sync and the volume serves,
// a planned promotion moves the primary there, with no IO error (the
// attachment follows it, replication/doc/failover.md). After a failover the
// primary is elsewhere until the consumer's node is back and resynced; this
// is what moves it home. The CSI controller runs a pass periodically.
//
// Thread-compatible: one caller of RunOnce at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::csi {

// The node `v`'s primary belongs on now, or nullopt: dataLocality on, a
// read-write publication (else any) on a node that holds a data replica,
// not the primary already, every replica in sync and the volume serving.
std::optional<std::string> PrimaryHome(const repl::VolumeView& v);

class PrimaryPlacer {
 public:
  using ClusterFn = std::function<absl::StatusOr<std::shared_ptr<repl::StorageCluster>>()>;
  explicit PrimaryPlacer(ClusterFn cluster);

  // One look at every volume; the number of primaries moved. A volume moves
  // only when two passes in a row found the same home (no move on a state
  // seen once, such as a replica in sync for an instant).
  int RunOnce();

 private:
  const ClusterFn cluster_;
  std::map<std::string, std::string> pending_;  // volume -> home seen last pass
};

}  // namespace syncblock::csi
