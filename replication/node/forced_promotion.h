// A promotion that accepts data loss (`ctl promote VOL NODE
// --accept-data-loss`, replication/doc/async_replicas.md, "Promotion"): when
// no majority of a volume's synchronous replicas is left, the operator may
// make a replica that answers the primary anyway, an asynchronous one
// included. It takes the most advanced data among the replicas that answer,
// becomes a synchronous member, and the members that did not answer are
// removed, so that the volume serves with what is left; should they return,
// the remaining members refuse to elect them. What may be lost, the lag its
// source last reported, is kept as the reason of the move.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "replication/node/promotion.h"
#include "replication/node/storage_node.h"

namespace syncblock::repl {

// FAILED_PRECONDITION, changing nothing, while a primary serves the volume or
// a majority of its synchronous replicas answers (nothing need be lost: an
// election or an ordinary `ctl promote` gives it a primary), and when no
// replica that answers holds complete data. The caller (PromoteReplica) has
// refused a witness and returned for a replica that is primary already.
absl::Status PromoteAcceptingDataLoss(StorageNode& node, Replica& replica,
                                      const PromoteOptions& options);

}  // namespace syncblock::repl
