// GrpcStorageCluster: volumes made from a snapshot or from another volume.
//
// The clone's primary is a node that holds the snapshot ready (the source's
// primary when it can be): it copies the snapshot into its new replica, only
// the data (holes and zeros are skipped), before it answers. Its manifest
// names only itself as in sync, so the clone's other replicas, created empty
// with another data generation, get a full copy from it once it runs. A clone
// of a volume goes through a temporary snapshot of it, deleted afterwards.
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "replication/client/create_replicas.h"
#include "replication/client/grpc_storage_cluster.h"
#include "replication/client/parallel.h"
#include "replication/client/placement.h"
#include "replication/client/volume_view.h"
#include "replication/crypt/key_wrap.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {

namespace {

std::string SourceLabel(const VolumeSpec& spec) {
  return spec.source_snapshot_id.empty() ? absl::StrCat("volume:", spec.source_volume_id)
                                         : absl::StrCat("snapshot:", spec.source_snapshot_id);
}

// The snapshot that carries a volume into its clone.
std::string TemporarySnapshotName(const std::string& clone_id) {
  return absl::StrCat("clone-for-", clone_id).substr(0, 128);
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

absl::StatusOr<VolumeView> GrpcStorageCluster::CreateClone(const VolumeSpec& spec) {
  if (!spec.source_snapshot_id.empty() && !spec.source_volume_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume ", spec.id, ": give a source snapshot or a source volume, not both"));
  }
  if (spec.source_volume_id == spec.id) {
    return absl::InvalidArgumentError(
        absl::StrCat("volume ", spec.id, " cannot be its own source"));
  }
  const std::string label = SourceLabel(spec);
  auto existing = GetVolume(spec.id);
  if (existing.ok()) {
    auto source = existing->attributes.find(kAttrCloneSource);
    if (existing->size_bytes == spec.size_bytes &&
        existing->replicas.size() == static_cast<size_t>(spec.replicas) &&
        source != existing->attributes.end() && source->second == label) {
      if (!spec.source_volume_id.empty()) {
        // A retry after the temporary snapshot outlived an earlier attempt.
        RETURN_IF_ERROR(
            DeleteSnapshot(SnapshotId(spec.source_volume_id, TemporarySnapshotName(spec.id))));
      }
      return existing;
    }
    return absl::AlreadyExistsError(
        absl::StrCat("volume ", spec.id, " already exists with size ", existing->size_bytes, ", ",
                     existing->replicas.size(), " replicas and source '",
                     source == existing->attributes.end() ? "" : source->second, "' (asked: size ",
                     spec.size_bytes, ", ", spec.replicas, " replicas, source '", label, "')"));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();

  VolumeSpec clone = spec;
  clone.attributes[kAttrCloneSource] = label;
  if (!spec.source_snapshot_id.empty())
    return CreateCloneOfSnapshot(clone, spec.source_snapshot_id);

  auto source = GetVolume(spec.source_volume_id);
  if (absl::IsNotFound(source.status())) {
    return absl::NotFoundError(absl::StrCat("source volume ", spec.source_volume_id, " not found"));
  }
  if (!source.ok()) return source.status();
  if (spec.size_bytes < source->size_bytes) {
    return absl::OutOfRangeError(absl::StrCat("volume ", spec.id, ": size ", spec.size_bytes,
                                              " is smaller than its source volume ", source->id,
                                              " (", source->size_bytes, " bytes)"));
  }
  const std::string temporary = TemporarySnapshotName(spec.id);
  ASSIGN_OR_RETURN(auto snapshot, CreateSnapshot(spec.source_volume_id, temporary));
  auto made = CreateCloneOfSnapshot(clone, snapshot.id);
  absl::Status dropped = DeleteSnapshot(snapshot.id);
  if (!made.ok()) return made.status();
  if (!dropped.ok()) {
    return absl::Status(dropped.code(),
                        absl::StrCat("volume ", spec.id, " was cloned, but the temporary snapshot ",
                                     snapshot.id, " is left: ", dropped.message()));
  }
  return made;
}

absl::StatusOr<VolumeView> GrpcStorageCluster::CreateCloneOfSnapshot(
    const VolumeSpec& spec, const std::string& snapshot_id) {
  ASSIGN_OR_RETURN(auto parts, ParseSnapshotId(snapshot_id));
  ASSIGN_OR_RETURN(auto snapshot, GetSnapshot(snapshot_id));
  if (spec.size_bytes < snapshot.size_bytes) {
    return absl::OutOfRangeError(absl::StrCat("volume ", spec.id, ": size ", spec.size_bytes,
                                              " is smaller than its source snapshot ", snapshot_id,
                                              " (", snapshot.size_bytes, " bytes)"));
  }
  std::vector<std::string> holders;
  for (const auto& r : snapshot.replicas) {
    if (r.state == "ready") holders.push_back(r.node);
  }
  if (holders.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", snapshot_id, " is not ready on any replica yet"));
  }
  // The source's primary first: it answers for the snapshot, and is the most
  // likely to be up to date and reachable.
  auto source = GetVolume(parts.first);
  if (source.ok() && Contains(holders, source->primary)) {
    std::iter_swap(holders.begin(), std::find(holders.begin(), holders.end(), source->primary));
  }
  // An encrypted source's clone keeps its ciphertext and wrapped data key
  // (the clone's primary enforces it too; this gives the secondaries the
  // same attributes from the start).
  std::map<std::string, std::string> attributes = spec.attributes;
  if (source.ok()) {
    RETURN_IF_ERROR(InheritEncryption(source->attributes, &attributes, spec.id, parts.first));
  }

  NodeSurvey survey = SurveyNodes(AskAllNodes());
  const auto& infos = survey.infos;
  std::vector<StorageNodeView>& views = survey.views;  // placement is steered below
  auto usable = [&](const std::string& node) {
    auto it = std::find_if(views.begin(), views.end(), [&](const auto& v) { return v.id == node; });
    return it != views.end() && it->reachable && it->available_bytes >= spec.size_bytes &&
           (spec.allowed_zones.empty() || Contains(spec.allowed_zones, it->zone));
  };

  std::vector<std::string> chosen;
  if (!spec.node_ids.empty()) {
    chosen = spec.node_ids;
    auto holder = std::find_if(chosen.begin(), chosen.end(),
                               [&](const auto& n) { return Contains(holders, n); });
    if (holder == chosen.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", spec.id, ": none of the nodes given holds snapshot ", snapshot_id,
                       " ready (it is on: ", absl::StrJoin(holders, ","), ")"));
    }
    std::iter_swap(chosen.begin(), holder);
    for (const auto& n : chosen) {
      if (!infos.count(n))
        return absl::InvalidArgumentError(absl::StrCat("unknown storage node ", n));
    }
  } else {
    auto primary = std::find_if(holders.begin(), holders.end(), usable);
    if (primary == holders.end()) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "volume ", spec.id, ": no node holding snapshot ", snapshot_id, " (",
          absl::StrJoin(holders, ","), ") is reachable with ", spec.size_bytes, " bytes available",
          spec.allowed_zones.empty() ? "" : " in the allowed zones"));
    }
    // Placement puts the roomiest node first and spreads the rest over zones
    // around it: make the snapshot's holder the roomiest.
    for (auto& v : views) {
      if (v.id == *primary) v.available_bytes = std::numeric_limits<uint64_t>::max();
    }
    ASSIGN_OR_RETURN(chosen,
                     PlaceReplicas(views, spec.replicas, spec.size_bytes, spec.allowed_zones));
  }

  control::CreateReplicaRequest req;
  req.set_volume_id(spec.id);
  req.set_size_bytes(spec.size_bytes);
  req.set_primary_node_id(chosen.front());
  req.set_epoch(1);
  for (size_t i = 0; i < chosen.size(); ++i) {
    control::Member* m = req.add_members();
    *m = MemberFromNodeInfo(infos.at(chosen[i]).second);
    m->set_async(i + spec.async_replicas >= chosen.size());
  }
  for (const auto& [k, v] : attributes) (*req.mutable_attributes())[k] = v;
  // The secondaries hold zeros, not the snapshot: another generation makes the
  // primary copy everything to them.
  control::CreateReplicaRequest secondary_req = req;
  secondary_req.set_data_generation(NewDataGeneration());
  req.set_data_generation(NewDataGeneration());
  req.set_source_volume_id(parts.first);
  req.set_source_snapshot(parts.second);

  std::vector<NodeClient*> secondaries;
  for (auto it = chosen.begin() + 1; it != chosen.end(); ++it) {
    secondaries.push_back(infos.at(*it).first);
  }
  RETURN_IF_ERROR(AddWitness(spec, survey, chosen, &secondary_req, &secondaries));
  *req.mutable_members() = secondary_req.members();
  NodeClient* primary = infos.at(chosen.front()).first;
  // A failed clone call may have got as far as a replica: undo it too.
  return CreateReplicas(
      spec.id, secondaries, secondary_req, primary,
      [&] { return primary->CreateCloneReplica(req); }, /*undo_primary=*/true,
      absl::StrCat("cloning ", snapshot_id, " to volume ", spec.id));
}

}  // namespace syncblock::repl
