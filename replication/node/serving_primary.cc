#include "replication/node/serving_primary.h"

#include "absl/strings/str_cat.h"

namespace syncblock::repl {

absl::StatusOr<std::pair<std::shared_ptr<Replica>, std::shared_ptr<PrimaryEngine>>>
ServingPrimary(StorageNode& node, const std::string& volume_id) {
  auto r = node.Get(volume_id);
  if (!r.ok()) return r.status();
  auto engine = (*r)->engine();
  if (!engine) {
    return absl::FailedPreconditionError(
        absl::StrCat("node ", node.options().node_id, " is not the primary of volume ", volume_id,
                     " (primary: ", (*r)->manifest().primary_node_id, ")"));
  }
  return std::make_pair(*r, engine);
}

}  // namespace syncblock::repl
