// GrpcStorageCluster: attributes, replica add/remove, promotion, resync and
// verify, expansion: the calls that act on an existing volume through its
// primary.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/client/parallel.h"
#include "replication/client/verify_compare.h"
#include "replication/client/volume_view.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

namespace {

constexpr int kMaxReplicas = 5;

bool IsMember(const control::ReplicaStatus& status, const std::string& node_id) {
  return std::any_of(status.members().begin(), status.members().end(),
                     [&](const auto& m) { return m.node_id() == node_id; });
}

}  // namespace

absl::StatusOr<VolumeView> GrpcStorageCluster::SetAttributes(
    const std::string& id, const std::map<std::string, std::string>& set,
    const std::vector<std::string>& remove) {
  return SetAttributesIf(id, {}, set, remove);
}

absl::StatusOr<VolumeView> GrpcStorageCluster::SetAttributesIf(
    const std::string& id, const std::map<std::string, std::string>& expect,
    const std::map<std::string, std::string>& set, const std::vector<std::string>& remove) {
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(id, state));
  control::SetAttributesRequest req;
  req.set_volume_id(id);
  for (const auto& [k, v] : expect) (*req.mutable_expect())[k] = v;
  for (const auto& [k, v] : set) (*req.mutable_set())[k] = v;
  for (const auto& k : remove) req.add_remove(k);
  RETURN_IF_ERROR(primary->SetAttributes(req).status());
  return GetVolume(id);
}

absl::Status GrpcStorageCluster::JoinVolume(const VolumeState& state, NodeClient* primary,
                                            const control::ReplicaStatus& current,
                                            const std::string& node_id, const std::string& leaving,
                                            JoinAs as, const std::vector<std::string>& outdated,
                                            const std::string& what) {
  const std::string& id = current.volume_id();
  ASSIGN_OR_RETURN(NodeClient * target, ClientForNode(node_id, &state));
  ASSIGN_OR_RETURN(control::Member member, MemberOf(target));
  if (member.node_id() != node_id) {
    return absl::FailedPreconditionError(
        absl::StrCat("node at ", target->address(), " is ", member.node_id(), ", not ", node_id));
  }
  member.set_witness(as == JoinAs::kWitness);
  member.set_async(as == JoinAs::kAsyncReplica);

  control::CreateReplicaRequest create;
  create.set_volume_id(id);
  create.set_size_bytes(current.size_bytes());
  for (const auto& m : current.members()) {
    if (m.node_id() != leaving) *create.add_members() = m;
  }
  *create.add_members() = member;
  create.set_primary_node_id(current.node_id());
  create.set_epoch(current.epoch());
  // A fresh generation: a new replica holds zeros, not the volume's data,
  // until the primary's full copy reaches it.
  create.set_data_generation(NewDataGeneration());
  for (const auto& [k, v] : current.attributes()) (*create.mutable_attributes())[k] = v;
  for (const auto& o : outdated) create.add_outdated(o);
  RETURN_IF_ERROR(target->CreateReplica(create).status());

  control::SetMembersRequest set;
  set.set_volume_id(id);
  *set.mutable_members() = create.members();
  auto changed = primary->SetMembers(set);
  if (changed.ok()) return absl::OkStatus();
  std::string undo;
  if (auto s = target->DeleteReplica(id); !s.ok()) {
    undo = absl::StrCat("; and could not undo: ", s.message());
  }
  return absl::Status(changed.status().code(),
                      absl::StrCat(what, ": ", changed.status().message(), undo));
}

absl::StatusOr<VolumeView> GrpcStorageCluster::AddReplica(const std::string& id,
                                                          const std::string& node_id, bool async) {
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(id, state));
  const control::ReplicaStatus current = *AuthoritativeReplica(state.answers);
  for (const auto& m : current.members()) {
    if (m.node_id() == node_id && m.witness()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "node ", node_id, " is the witness of volume ", id,
          ": move the witness elsewhere first (ctl volume witness) to put data there"));
    }
  }
  for (const auto& m : current.members()) {
    if (m.node_id() != node_id || m.async() == async) continue;
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", node_id, " already holds ", m.async() ? "an asynchronous" : "a synchronous",
        " replica of volume ", id, ": remove it first to add it as ",
        async ? "an asynchronous" : "a synchronous", " one"));
  }
  if (IsMember(current, node_id)) return BuildVolumeView(state.answers);
  if (current.members_size() >= kMaxReplicas) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", id, " already has ", kMaxReplicas, " replicas"));
  }
  RETURN_IF_ERROR(JoinVolume(state, primary, current, node_id, /*leaving=*/"",
                             async ? JoinAs::kAsyncReplica : JoinAs::kReplica, {},
                             absl::StrCat("adding ", node_id, " to volume ", id)));
  return GetVolume(id);
}

absl::StatusOr<VolumeView> GrpcStorageCluster::RemoveReplica(const std::string& id,
                                                             const std::string& node_id) {
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(id, state));
  const control::ReplicaStatus current = *AuthoritativeReplica(state.answers);
  if (!IsMember(current, node_id)) {
    return absl::NotFoundError(absl::StrCat("node ", node_id, " holds no replica of volume ", id));
  }
  if (node_id == current.node_id()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "node ", node_id, " is the primary of volume ", id, ": promote another replica first"));
  }
  if (current.members_size() <= 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", id, " would have no replica left"));
  }
  for (const auto& m : current.members()) {
    if (m.node_id() != node_id || !m.witness()) continue;
    // Its record is what keeps a replica that missed acknowledged writes from
    // being elected: without it, that replica's vote would count again.
    std::vector<std::string> behind;
    for (const auto& p : current.peers()) {
      if (p.node_id() != node_id && p.state() != control::PEER_IN_SYNC)
        behind.push_back(p.node_id());
    }
    if (!behind.empty()) {
      return absl::UnavailableError(absl::StrCat("the witness ", node_id, " of volume ", id,
                                                 " stands in for ", absl::StrJoin(behind, ", "),
                                                 ", not in sync: remove it once they are"));
    }
  }
  control::SetMembersRequest set;
  set.set_volume_id(id);
  for (const auto& m : current.members()) {
    if (m.node_id() != node_id) *set.add_members() = m;
  }
  RETURN_IF_ERROR(primary->SetMembers(set).status());
  ASSIGN_OR_RETURN(NodeClient * target, ClientForNode(node_id, &state));
  if (auto s = target->DeleteReplica(id); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("node ", node_id, " left volume ", id,
                                     " but its data could not be deleted: ", s.message()));
  }
  return GetVolume(id);
}

absl::StatusOr<VolumeView> GrpcStorageCluster::MoveWitness(const std::string& id,
                                                           const std::string& node_id,
                                                           std::string* note) {
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(id, state));
  const control::ReplicaStatus current = *AuthoritativeReplica(state.answers);
  std::string old_witness;
  for (const auto& m : current.members()) {
    if (m.witness()) {
      old_witness = m.node_id();
    } else if (m.node_id() == node_id) {
      return absl::InvalidArgumentError(absl::StrCat("node ", node_id,
                                                     " holds a replica of volume ", id,
                                                     ": the witness must be another node"));
    }
  }
  if (old_witness == node_id) return BuildVolumeView(state.answers);
  if (old_witness.empty() && current.members_size() >= kMaxReplicas) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", id, " already has ", kMaxReplicas, " members"));
  }
  // Until the primary's own record reaches it, the new witness names every
  // data replica but the primary: a status read here could miss one that
  // left the stream since, or one the old record still holds back.
  std::vector<std::string> outdated;
  for (const auto& m : current.members()) {
    if (!m.witness() && m.node_id() != current.node_id()) outdated.push_back(m.node_id());
  }
  RETURN_IF_ERROR(JoinVolume(state, primary, current, node_id, old_witness, JoinAs::kWitness,
                             outdated,
                             absl::StrCat("making ", node_id, " the witness of volume ", id)));
  if (!old_witness.empty()) {
    auto old_client = ClientForNode(old_witness, &state);
    absl::Status deleted = old_client.ok() ? (*old_client)->DeleteReplica(id) : old_client.status();
    if (!deleted.ok() && note) {
      *note =
          absl::StrCat("the former witness ", old_witness,
                       " was not cleaned up (it is removed with the volume): ", deleted.message());
    }
  }
  return GetVolume(id);
}

absl::StatusOr<VolumeView> GrpcStorageCluster::Promote(const std::string& id,
                                                       const std::string& node_id,
                                                       const std::string& reason,
                                                       PromoteLoss loss) {
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  if (!IsMember(Newest(state), node_id)) {
    return absl::NotFoundError(absl::StrCat("node ", node_id, " holds no replica of volume ", id));
  }
  ASSIGN_OR_RETURN(NodeClient * target, ClientForNode(node_id, &state));
  RETURN_IF_ERROR(target->Promote(id, reason, loss == PromoteLoss::kAccept).status());
  return GetVolume(id);
}

absl::StatusOr<VolumeView> GrpcStorageCluster::Resync(const std::string& id,
                                                      const std::string& node_id, bool full) {
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(id, state));
  const auto* current = AuthoritativeReplica(state.answers);
  if (!node_id.empty()) {
    if (!IsMember(*current, node_id)) {
      return absl::NotFoundError(
          absl::StrCat("node ", node_id, " holds no replica of volume ", id));
    }
    if (node_id == current->node_id()) {
      return absl::InvalidArgumentError(absl::StrCat("node ", node_id, " is the primary of volume ",
                                                     id, ": it is the resync source"));
    }
  }
  control::ResyncRequest req;
  req.set_volume_id(id);
  req.set_node_id(node_id);
  req.set_full(full);
  RETURN_IF_ERROR(primary->Resync(req).status());
  return GetVolume(id);
}

absl::StatusOr<VerifyReport> GrpcStorageCluster::Verify(const std::string& id) {
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  const auto& newest = Newest(state);
  std::vector<std::string> members;
  for (const auto& m : newest.members()) {
    if (!m.witness()) members.push_back(m.node_id());  // it has no data to compare
  }
  if (members.empty()) members.push_back(newest.node_id());

  VerifyReport report;
  report.region_size = newest.region_size();
  std::vector<NodeClient*> clients(members.size(), nullptr);
  for (size_t i = 0; i < members.size(); ++i) {
    auto c = ClientForNode(members[i], &state);
    if (c.ok()) {
      clients[i] = *c;
    } else {
      report.unreachable[members[i]] = std::string(c.status().message());
    }
  }
  if (report.region_size == 0) {
    // The replica did not say: let the first reachable one choose, and hold
    // the others to it.
    for (auto* c : clients) {
      if (!c) continue;
      auto sums = c->RegionChecksums(id, 0);
      if (sums.ok()) {
        report.region_size = sums->region_size();
        break;
      }
    }
  }
  auto results = ParallelMap(members.size(), [&](size_t i) {
    return clients[i] ? clients[i]->RegionChecksums(id, report.region_size)
                      : absl::StatusOr<control::RegionChecksumsResponse>(
                            absl::UnavailableError("no client"));
  });
  std::map<std::string, std::vector<uint32_t>> sums;
  for (size_t i = 0; i < members.size(); ++i) {
    if (!clients[i]) continue;
    if (!results[i].ok()) {
      report.unreachable[members[i]] = std::string(results[i].status().message());
      continue;
    }
    if (results[i]->region_size() != report.region_size && report.region_size != 0) {
      report.unreachable[members[i]] = absl::StrCat(
          "answered with region size ", results[i]->region_size(), ", asked ", report.region_size);
      continue;
    }
    sums[members[i]].assign(results[i]->crc32c().begin(), results[i]->crc32c().end());
  }
  report.differing_regions = DifferingRegions(sums);
  report.identical = report.unreachable.empty() && report.differing_regions.empty();
  return report;
}

absl::StatusOr<VolumeView> GrpcStorageCluster::ExpandVolume(const std::string& id,
                                                            uint64_t size_bytes) {
  if (id.empty()) return absl::InvalidArgumentError("volume id is empty");
  ASSIGN_OR_RETURN(auto state, FetchVolume(id));
  const auto& newest = Newest(state);
  if (size_bytes < newest.size_bytes()) {
    return absl::InvalidArgumentError(absl::StrCat("volume ", id, " is ", newest.size_bytes(),
                                                   " bytes: it cannot shrink to ", size_bytes));
  }
  if (size_bytes % 4096 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume ", id, ": size ", size_bytes, " is not a multiple of 4096"));
  }
  if (size_bytes == newest.size_bytes()) return BuildVolumeView(state.answers);
  ASSIGN_OR_RETURN(NodeClient * primary, PrimaryOf(id, state));
  RETURN_IF_ERROR(primary->ExpandVolume(id, size_bytes).status());
  return GetVolume(id);
}

}  // namespace syncblock::repl
