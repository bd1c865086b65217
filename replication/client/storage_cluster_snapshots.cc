// GrpcStorageCluster: snapshots. A snapshot lives on its volume's replicas;
// the volume's primary cuts, deletes and diffs it and knows which members hold
// it, so every call goes there. Listing falls back to the replicas' own views
// when the primary does not answer, so that `snapshot list` still shows what
// exists during a failover.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/client/parallel.h"
#include "replication/client/verify_compare.h"
#include "replication/client/volume_view.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

namespace {

const char* SnapshotStateName(control::SnapshotReplicaState state) {
  switch (state) {
    case control::SNAPSHOT_READY:
      return "ready";
    case control::SNAPSHOT_COPYING:
      return "copying";
    default:
      return "pending";
  }
}

ClusterSnapshotView ToView(const control::SnapshotStatus& s) {
  ClusterSnapshotView v;
  v.id = SnapshotId(s.volume_id(), s.name());
  v.volume_id = s.volume_id();
  v.name = s.name();
  v.size_bytes = s.size_bytes();
  v.creation_time_unix_ms = s.creation_time_unix_ms();
  v.ready_to_use = s.ready_to_use();
  for (const auto& r : s.replicas()) {
    SnapshotReplicaView rv;
    rv.node = r.node_id();
    rv.state = SnapshotStateName(r.state());
    rv.bytes_copied = r.bytes_copied();
    rv.bytes_total = r.bytes_total();
    v.replicas.push_back(std::move(rv));
  }
  std::sort(v.replicas.begin(), v.replicas.end(),
            [](const auto& a, const auto& b) { return a.node < b.node; });
  return v;
}

// Without the primary, each replica reports only its own state: one status a
// snapshot, its replicas the union of theirs, ready when a majority of the
// volume's members say so.
std::vector<control::SnapshotStatus> MergeOwnViews(
    const std::vector<control::ListSnapshotsResponse>& lists, int members) {
  std::map<std::string, control::SnapshotStatus> by_name;
  for (const auto& list : lists) {
    for (const auto& s : list.snapshots()) {
      auto [it, inserted] = by_name.try_emplace(s.name(), s);
      if (!inserted) {
        for (const auto& r : s.replicas()) *it->second.add_replicas() = r;
      }
    }
  }
  std::vector<control::SnapshotStatus> out;
  for (auto& [name, s] : by_name) {
    int ready = 0;
    std::set<std::string> seen;
    for (const auto& r : s.replicas()) {
      if (seen.insert(r.node_id()).second && r.state() == control::SNAPSHOT_READY) ++ready;
    }
    s.set_ready_to_use(ready >= members / 2 + 1);
    out.push_back(std::move(s));
  }
  return out;
}

// OK for a volume whose nodes predate snapshots: they hold none.
bool NoSnapshotSupport(const absl::Status& s) { return absl::IsUnimplemented(s); }

}  // namespace

absl::StatusOr<std::vector<control::SnapshotStatus>> GrpcStorageCluster::VolumeSnapshots(
    const std::string& id, const VolumeState& state) {
  auto primary = PrimaryOf(id, state);
  if (primary.ok()) {
    auto list = (*primary)->ListSnapshots(id);
    if (list.ok()) {
      return std::vector<control::SnapshotStatus>(list->snapshots().begin(),
                                                  list->snapshots().end());
    }
    if (NoSnapshotSupport(list.status())) return std::vector<control::SnapshotStatus>();
  }
  std::vector<NodeClient*> clients;
  for (const auto& [node, client] : state.by_node) clients.push_back(client);
  auto lists = ParallelMap(clients.size(), [&](size_t i) { return clients[i]->ListSnapshots(id); });
  std::vector<control::ListSnapshotsResponse> answered;
  std::map<std::string, std::string> errors;
  size_t denied = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    if (lists[i].ok()) {
      answered.push_back(std::move(*lists[i]));
    } else if (!NoSnapshotSupport(lists[i].status())) {
      errors[clients[i]->address()] = std::string(lists[i].status().message());
      if (absl::IsPermissionDenied(lists[i].status())) ++denied;
    }
  }
  if (answered.empty() && !errors.empty()) {
    // Refused by every node: the caller's certificate, not the cluster, is the problem.
    return absl::Status(
        denied == errors.size() ? absl::StatusCode::kPermissionDenied
                                : absl::StatusCode::kUnavailable,
        absl::StrCat("volume ", id, ": no replica listed its snapshots: ", JoinErrors(errors)));
  }
  return MergeOwnViews(answered, std::max(1, Newest(state).members_size()));
}

absl::StatusOr<ClusterSnapshotView> GrpcStorageCluster::CreateSnapshot(const std::string& volume_id,
                                                                       const std::string& name) {
  if (volume_id.empty()) return absl::InvalidArgumentError("volume id is empty");
  if (name.empty()) return absl::InvalidArgumentError("snapshot name is empty");
  ASSIGN_OR_RETURN(auto state, FetchVolume(volume_id));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(volume_id, state));
  ASSIGN_OR_RETURN(auto status, primary->CreateSnapshot(volume_id, name));
  return ToView(status);
}

absl::Status GrpcStorageCluster::DeleteSnapshot(const std::string& snapshot_id) {
  ASSIGN_OR_RETURN(auto parts, ParseSnapshotId(snapshot_id));
  auto state = FetchVolume(parts.first);
  if (absl::IsNotFound(state.status())) return absl::OkStatus();
  if (!state.ok()) return state.status();
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(parts.first, *state));
  absl::Status s = primary->DeleteSnapshot(parts.first, parts.second);
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

absl::StatusOr<ClusterSnapshotView> GrpcStorageCluster::GetSnapshot(
    const std::string& snapshot_id) {
  ASSIGN_OR_RETURN(auto parts, ParseSnapshotId(snapshot_id));
  auto state = FetchVolume(parts.first);
  if (absl::IsNotFound(state.status())) {
    return absl::NotFoundError(
        absl::StrCat("snapshot ", snapshot_id, " not found: no volume ", parts.first));
  }
  if (!state.ok()) return state.status();
  ASSIGN_OR_RETURN(auto list, VolumeSnapshots(parts.first, *state));
  for (const auto& s : list) {
    if (s.name() == parts.second) return ToView(s);
  }
  return absl::NotFoundError(absl::StrCat("snapshot ", snapshot_id, " not found"));
}

absl::StatusOr<std::vector<ClusterSnapshotView>> GrpcStorageCluster::ListSnapshots(
    const std::string& volume_id) {
  std::vector<std::string> volumes;
  if (!volume_id.empty()) {
    volumes.push_back(volume_id);
  } else {
    ASSIGN_OR_RETURN(auto views, ListVolumes());
    for (const auto& v : views) volumes.push_back(v.id);
  }
  // One volume's trouble must not hide the others' snapshots: a volume that
  // vanished in between is skipped; other errors fail the listing.
  auto lists = ParallelMap(volumes.size(),
                           [&](size_t i) -> absl::StatusOr<std::vector<control::SnapshotStatus>> {
                             ASSIGN_OR_RETURN(auto state, FetchVolume(volumes[i]));
                             return VolumeSnapshots(volumes[i], state);
                           });
  std::vector<ClusterSnapshotView> out;
  for (size_t i = 0; i < volumes.size(); ++i) {
    if (!lists[i].ok()) {
      if (absl::IsNotFound(lists[i].status()) && volume_id.empty()) continue;
      return lists[i].status();
    }
    for (const auto& s : *lists[i]) out.push_back(ToView(s));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

absl::StatusOr<SnapshotDiffView> GrpcStorageCluster::DiffSnapshots(
    const std::string& from_snapshot_id, const std::string& to_snapshot_id) {
  ASSIGN_OR_RETURN(auto from, ParseSnapshotId(from_snapshot_id));
  control::SnapshotDiffRequest req;
  req.set_volume_id(from.first);
  req.set_from_snapshot(from.second);
  if (!to_snapshot_id.empty()) {
    ASSIGN_OR_RETURN(auto to, ParseSnapshotId(to_snapshot_id));
    if (to.first != from.first) {
      return absl::InvalidArgumentError(absl::StrCat("snapshots ", from_snapshot_id, " and ",
                                                     to_snapshot_id, " are of different volumes"));
    }
    req.set_to_snapshot(to.second);
  }
  ASSIGN_OR_RETURN(auto state, FetchVolume(from.first));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(from.first, state));
  ASSIGN_OR_RETURN(auto diff, primary->SnapshotDiff(req));
  SnapshotDiffView v;
  v.region_size = diff.region_size();
  v.changed_regions.assign(diff.changed_regions().begin(), diff.changed_regions().end());
  v.exact = diff.exact();
  return v;
}

absl::StatusOr<VerifyReport> GrpcStorageCluster::VerifySnapshot(const std::string& snapshot_id) {
  ASSIGN_OR_RETURN(auto parts, ParseSnapshotId(snapshot_id));
  ASSIGN_OR_RETURN(auto state, FetchVolume(parts.first));
  ASSIGN_OR_RETURN(auto list, VolumeSnapshots(parts.first, state));
  auto it = std::find_if(list.begin(), list.end(),
                         [&](const auto& s) { return s.name() == parts.second; });
  if (it == list.end())
    return absl::NotFoundError(absl::StrCat("snapshot ", snapshot_id, " not found"));

  VerifyReport report;
  report.region_size = Newest(state).region_size();
  // A member that does not hold it ready cannot be vouched for: it is reported
  // as not checked, so that `identical` means every member holds the same.
  std::set<std::string> ready;
  for (const auto& r : it->replicas()) {
    if (r.state() == control::SNAPSHOT_READY) {
      ready.insert(r.node_id());
    } else {
      report.unreachable[r.node_id()] =
          absl::StrCat("snapshot ", SnapshotStateName(r.state()), " on it");
    }
  }
  for (const auto& m : Newest(state).members()) {
    if (!ready.count(m.node_id()) && !report.unreachable.count(m.node_id())) {
      report.unreachable[m.node_id()] = "snapshot not on it";
    }
  }
  std::vector<std::string> nodes(ready.begin(), ready.end());
  std::vector<NodeClient*> clients(nodes.size(), nullptr);
  for (size_t i = 0; i < nodes.size(); ++i) {
    auto c = ClientForNode(nodes[i], &state);
    if (c.ok()) {
      clients[i] = *c;
    } else {
      report.unreachable[nodes[i]] = std::string(c.status().message());
    }
  }
  auto results = ParallelMap(nodes.size(), [&](size_t i) {
    return clients[i] ? clients[i]->SnapshotChecksums(parts.first, parts.second, report.region_size)
                      : absl::StatusOr<control::RegionChecksumsResponse>(
                            absl::UnavailableError("no client"));
  });
  std::map<std::string, std::vector<uint32_t>> sums;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!clients[i]) continue;
    if (!results[i].ok()) {
      report.unreachable[nodes[i]] = std::string(results[i].status().message());
      continue;
    }
    if (report.region_size == 0) report.region_size = results[i]->region_size();
    if (results[i]->region_size() != report.region_size) {
      report.unreachable[nodes[i]] = absl::StrCat(
          "answered with region size ", results[i]->region_size(), ", asked ", report.region_size);
      continue;
    }
    sums[nodes[i]].assign(results[i]->crc32c().begin(), results[i]->crc32c().end());
  }
  report.differing_regions = DifferingRegions(sums);
  report.identical = report.unreachable.empty() && report.differing_regions.empty();
  return report;
}

}  // namespace syncblock::repl
