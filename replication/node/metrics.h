// The storage node's /metrics page (Prometheus text format): NBD IO counters
// and write latency per export, and per volume the role, epoch, each replica's
// state, replication lag and resync progress, the lease and failovers, and
// the QoS limits with what they held back, and the remote sync
// (remote_sync_metrics.h).
// Thread-safe.
#pragma once

#include <string>

#include "replication/node/storage_node.h"

namespace syncblock::repl {

class Elector;

// `elector`, when given, adds the node's election counters.
std::string RenderNodeMetrics(StorageNode& node, const Elector* elector = nullptr);

}  // namespace syncblock::repl
