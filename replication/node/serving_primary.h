// The check the control service makes before an RPC only a volume's primary
// may serve (membership, attributes, growth, snapshots).
//
// Thread-safety: as StorageNode and Replica are (thread-safe).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "replication/engine/primary_engine.h"
#include "replication/engine/replica.h"
#include "replication/node/storage_node.h"

namespace syncblock::repl {

// The volume's replica on `node` and its engine, which must be serving it as
// primary: NOT_FOUND without a replica here, FAILED_PRECONDITION naming the
// primary when this node is not it.
absl::StatusOr<std::pair<std::shared_ptr<Replica>, std::shared_ptr<PrimaryEngine>>>
ServingPrimary(StorageNode& node, const std::string& volume_id);

}  // namespace syncblock::repl
