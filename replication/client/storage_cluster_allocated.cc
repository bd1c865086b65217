// GrpcStorageCluster::AllocatedRegions: which regions of a snapshot hold data,
// from one replica's per-region checksums compared with the checksum of zeros.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/util/crc32c.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

absl::StatusOr<SnapshotDiffView> GrpcStorageCluster::AllocatedRegions(
    const std::string& snapshot_id) {
  ASSIGN_OR_RETURN(auto parts, ParseSnapshotId(snapshot_id));
  ASSIGN_OR_RETURN(auto state, FetchVolume(parts.first));
  ASSIGN_OR_RETURN(auto list, VolumeSnapshots(parts.first, state));
  const control::SnapshotStatus* snap = nullptr;
  for (const auto& s : list) {
    if (s.name() == parts.second) snap = &s;
  }
  if (snap == nullptr) {
    return absl::NotFoundError(absl::StrCat("snapshot ", snapshot_id, " not found"));
  }
  // The primary first, then any other replica holding it ready.
  std::vector<std::string> holders;
  const std::string primary = Newest(state).primary_node_id();
  for (const auto& r : snap->replicas()) {
    if (r.state() != control::SNAPSHOT_READY) continue;
    if (r.node_id() == primary) {
      holders.insert(holders.begin(), r.node_id());
    } else {
      holders.push_back(r.node_id());
    }
  }
  absl::Status last =
      absl::UnavailableError(absl::StrCat("no replica holds snapshot ", snapshot_id, " ready"));
  for (const auto& node : holders) {
    auto client = ClientForNode(node, &state);
    if (!client.ok()) {
      last = client.status();
      continue;
    }
    auto sums = (*client)->SnapshotChecksums(parts.first, parts.second, 0);
    if (!sums.ok()) {
      last = sums.status();
      continue;
    }
    SnapshotDiffView v;
    v.region_size = sums->region_size();
    v.exact = false;
    if (v.region_size == 0) return absl::InternalError("a replica answered region size 0");
    const uint64_t size = snap->size_bytes();
    std::vector<char> zeros(v.region_size, 0);
    const uint32_t zero_crc = Crc32c(zeros.data(), zeros.size());
    for (int i = 0; i < sums->crc32c_size(); ++i) {
      const uint64_t offset = static_cast<uint64_t>(i) * v.region_size;
      const uint64_t len = offset + v.region_size <= size ? v.region_size : size - offset;
      const uint32_t zero = len == v.region_size ? zero_crc : Crc32c(zeros.data(), len);
      if (sums->crc32c(i) != zero) v.changed_regions.push_back(static_cast<uint64_t>(i));
    }
    return v;
  }
  return last;
}

}  // namespace syncblock::repl
