// Promotion of a replica to primary (DESIGN.md, rule 3): the node asks every
// member to accept epoch+1 with itself as primary, needs a majority, takes from
// the most advanced consistent replica whatever it lacks (so that every write
// a majority acknowledged is kept), then starts serving. Replicas whose content
// is uncertain are compared by checksums when they next connect.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "replication/node/storage_node.h"

namespace syncblock::repl {

absl::Status PromoteReplica(StorageNode& node, const std::string& volume_id,
                            std::chrono::milliseconds rpc_timeout = std::chrono::seconds(10));

}  // namespace syncblock::repl
