// Promotion of a replica to primary (DESIGN.md, rules 3 and 7): the node asks
// every member to accept epoch+1 with itself as primary, needs a majority, takes from
// the most advanced consistent replica whatever it lacks (so that every write
// a majority acknowledged is kept), then starts serving. Replicas whose content
// is uncertain are compared by checksums when they next connect.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "replication/node/storage_node.h"

namespace syncblock::repl {

struct PromoteOptions {
  std::chrono::milliseconds rpc_timeout{10000};
  // A planned move (`ctl promote`): the current primary is asked first and,
  // once it has stepped down, the others need not wait for their promise to
  // it to run out. An election (planned = false) asks everyone at once and
  // is accepted only by replicas whose promise has run out.
  bool planned = true;
  // Why the role moves, kept in the manifest for `ctl volume show`.
  std::string reason = "ctl promote";
  // The epoch to ask for at least (0: this replica's epoch + 1). An election
  // asks past every epoch any member has seen, votes for candidates that
  // never took the role included.
  uint64_t min_epoch = 0;
  // `ctl promote --accept-data-loss` (forced_promotion.h): for when no
  // majority of the synchronous replicas is left.
  bool accept_data_loss = false;
};

absl::Status PromoteReplica(StorageNode& node, const std::string& volume_id,
                            const PromoteOptions& options = {});

}  // namespace syncblock::repl
