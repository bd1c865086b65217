// Starting and waiting for the daemons of a local cluster: a storage node from
// its recorded command line, readiness (the node answers GetNodeInfo with its
// own id), and the optional CSI process.
//
// Thread-compatible: no shared state.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "driver/local_cluster_file.h"
#include "driver/local_tls.h"

namespace syncblock::driver {

struct LocalOptions {
  std::string resync_rate;    // passed through when not empty
  int64_t io_timeout_ms = 0;  // passed through when > 0
  int64_t lease_ms = 0;       // likewise
  std::string log_level;
  LocalTls tls;  // the cluster's certificates (local_tls.h)
};

// "node-1" for index 0.
std::string StorageNodeId(int index);

// Fills in ports, paths and the command line of storage node `index` (0-based)
// of a cluster in `dir`. Creates its data directory and the logs directory.
absl::StatusOr<LocalProcess> PlanStorageNode(const std::string& binary, const std::string& dir,
                                             int index, const std::string& zone,
                                             const LocalOptions& options);

// Spawns `node` from its args, sets pid and state.
absl::Status StartStorageNode(LocalProcess& node);

// Waits until every node answers GetNodeInfo as itself. On failure the error
// names the node and ends with the tail of its log.
absl::Status WaitStorageReady(const std::vector<LocalProcess*>& nodes,
                              std::chrono::seconds timeout);

// Starts `syncblock csi --mode all` on DIR/csi.sock. If it exits at once or
// does not make its socket, `csi.state` is "absent" with the reason, and the
// status says why (the caller decides if that fails `up`).
// It runs with the controller's certificate from `tls`.
absl::Status StartCsi(const std::string& binary, const std::string& dir,
                      const std::vector<std::string>& control_addresses, const std::string& node_id,
                      const LocalTls& tls, LocalCsi& csi);

}  // namespace syncblock::driver
