#include "absl/strings/str_cat.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::repl {

std::string SnapshotId(const std::string& volume_id, const std::string& name) {
  return absl::StrCat(volume_id, "@", name);
}

absl::StatusOr<std::pair<std::string, std::string>> ParseSnapshotId(const std::string& id) {
  // Volume ids never contain '@' ([A-Za-z0-9._-]), so the first one splits.
  const size_t at = id.find('@');
  if (at == std::string::npos || at == 0 || at + 1 == id.size()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot id '", id, "' is not VOLUME@NAME"));
  }
  return std::make_pair(id.substr(0, at), id.substr(at + 1));
}

}  // namespace syncblock::repl
