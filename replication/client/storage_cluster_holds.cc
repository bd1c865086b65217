// GrpcStorageCluster: the write holds of group snapshots, on each volume's
// primary (the node that sequences its writes).
#include "absl/strings/str_cat.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

absl::Status GrpcStorageCluster::HoldWrites(const std::string& volume_id,
                                            const std::string& hold_id,
                                            std::chrono::milliseconds max_hold) {
  if (volume_id.empty()) return absl::InvalidArgumentError("volume id is empty");
  ASSIGN_OR_RETURN(auto state, FetchVolume(volume_id));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(volume_id, state));
  return primary->HoldWrites(volume_id, hold_id, max_hold);
}

absl::StatusOr<HoldReleaseView> GrpcStorageCluster::ReleaseWrites(const std::string& volume_id,
                                                                  const std::string& hold_id) {
  ASSIGN_OR_RETURN(auto state, FetchVolume(volume_id));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(volume_id, state));
  ASSIGN_OR_RETURN(auto r, primary->ReleaseWrites(volume_id, hold_id));
  HoldReleaseView v;
  v.found = r.found();
  v.held_us = r.held_us();
  v.writes_held = r.writes_held();
  return v;
}

}  // namespace syncblock::repl
