// The storage node's /metrics page (Prometheus text format): NBD IO counters
// and write latency per export, and per volume the role, epoch, each replica's
// state, replication lag and resync progress. Thread-safe.
#pragma once

#include <string>

#include "replication/node/storage_node.h"

namespace syncblock::repl {

std::string RenderNodeMetrics(StorageNode& node);

}  // namespace syncblock::repl
