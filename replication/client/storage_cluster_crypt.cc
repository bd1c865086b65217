// GrpcStorageCluster: unlocking encrypted volumes (replication/doc/encryption.md).
#include "absl/strings/str_cat.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

absl::StatusOr<UnlockReport> GrpcStorageCluster::UnlockVolume(const std::string& id,
                                                              const std::string& key) {
  if (id.empty()) return absl::InvalidArgumentError("volume id is empty");
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  const control::ReplicaStatus& newest = Newest(state);
  if (!newest.encrypted()) {
    return absl::FailedPreconditionError(absl::StrCat("volume ", id, " is not encrypted"));
  }
  UnlockReport report;
  for (const auto& member : newest.members()) {
    if (member.witness()) continue;  // holds no data
    auto client = ClientForNode(member.node_id(), &state);
    if (!client.ok()) {
      report.missed[member.node_id()] = std::string(client.status().message());
      continue;
    }
    auto r = (*client)->UnlockVolume(id, key);
    if (r.ok()) {
      report.unlocked.push_back(member.node_id());
    } else if (absl::IsUnavailable(r.status()) || absl::IsDeadlineExceeded(r.status()) ||
               absl::IsNotFound(r.status())) {
      report.missed[member.node_id()] = std::string(r.status().message());
    } else {
      return r.status();  // a wrong key, say: the same on every replica
    }
  }
  if (report.unlocked.empty()) {
    return absl::UnavailableError(
        absl::StrCat("volume ", id, ": no replica could be unlocked (none reachable)"));
  }
  return report;
}

}  // namespace syncblock::repl
