// ControllerService: CreateVolume (also as a clone of a snapshot or a
// volume) and DeleteVolume.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "csi/controller_service.h"
#include "csi/csi_constants.h"
#include "csi/mutable_parameters.h"
#include "csi/publications.h"
#include "csi/remote_parameters.h"
#include "csi/snapshot_view_csi.h"
#include "csi/status_mapping.h"
#include "csi/topology.h"
#include "csi/volume_capabilities.h"
#include "csi/volume_parameters.h"
#include "csi/volume_ready.h"
#include "csi/volume_view_csi.h"
#include "replication/crypt/key_wrap.h"
#include "replication/remote/remote_pairing.h"
#include "replication/types/remote_sync_policy.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

// The smallest filesystem mkfs.xfs makes.
constexpr int64_t kMinXfsVolumeSize = 300ll << 20;

// OK when `existing` is what this request would have created; ALREADY_EXISTS
// naming the first difference otherwise.
absl::Status CheckCompatible(const repl::VolumeView& existing, const std::string& name,
                             const ::csi::v1::CapacityRange& range, const VolumeParameters& params,
                             const std::string& source) {
  auto stored_name = existing.attributes.find(kAttrName);
  if (stored_name == existing.attributes.end()) {
    return absl::AlreadyExistsError(absl::StrCat("volume ", existing.id,
                                                 " exists but was not created through CSI (no ",
                                                 kAttrName, " attribute)"));
  }
  if (stored_name->second != name) {
    return absl::AlreadyExistsError(absl::StrCat(
        "volume ID ", existing.id, " is taken by CSI name '", stored_name->second, "'"));
  }
  int64_t size = static_cast<int64_t>(existing.size_bytes);
  if (!CapacityFits(size, range.required_bytes(), range.limit_bytes())) {
    return absl::AlreadyExistsError(absl::StrCat(
        "volume '", name, "' exists with ", size, " bytes, outside the requested range [",
        range.required_bytes(), ", ", range.limit_bytes(), "]"));
  }
  auto stored_source = existing.attributes.find(kAttrContentSource);
  std::string existing_source =
      stored_source == existing.attributes.end() ? "" : stored_source->second;
  if (existing_source != source) {
    return absl::AlreadyExistsError(absl::StrCat("volume '", name, "' exists with content source '",
                                                 existing_source, "', requested '", source, "'"));
  }
  auto stored = StoredParameters(existing);
  for (const auto& [key, value] : params.ToMap()) {
    auto it = stored.find(key);
    if (it == stored.end() || it->second != value) {
      return absl::AlreadyExistsError(absl::StrCat(
          "volume '", name, "' exists with ", key, "=",
          it == stored.end() ? std::string("(unset)") : it->second, ", requested ", value));
    }
  }
  return absl::OkStatus();
}

// What a clone starts from: its size and the nodes that hold it complete.
struct CloneSource {
  uint64_t size_bytes = 0;
  std::vector<std::string> holders;  // best first
};

// NOT_FOUND for a source that does not exist (a malformed snapshot id too:
// it names nothing). The request was checked for an id already.
absl::StatusOr<CloneSource> FindSource(repl::StorageCluster& cluster,
                                       const ::csi::v1::VolumeContentSource& source) {
  CloneSource out;
  if (source.has_snapshot()) {
    const std::string& id = source.snapshot().snapshot_id();
    if (!repl::ParseSnapshotId(id).ok()) {
      return absl::NotFoundError(absl::StrCat("snapshot ", id, " does not exist"));
    }
    auto snap = cluster.GetSnapshot(id);
    if (!snap.ok()) return FromStorage(snap.status());
    out.size_bytes = snap->size_bytes;
    for (const auto& r : snap->replicas) {
      if (r.state == "ready") out.holders.push_back(r.node);
    }
    return out;
  }
  if (source.has_volume()) {
    const std::string& id = source.volume().volume_id();
    auto view = cluster.GetVolume(id);
    if (!view.ok()) return FromStorage(view.status());
    out.size_bytes = view->size_bytes;
    if (!view->primary.empty()) out.holders.push_back(view->primary);
    for (const auto& r : view->replicas) {
      if (r.state == "in_sync" && r.node != view->primary) out.holders.push_back(r.node);
    }
    return out;
  }
  return absl::InvalidArgumentError("volume_content_source names neither a snapshot nor a volume");
}

// A clone's primary starts from the source's data on its own node, so it must
// be a node holding the source: the placed node that does, else a holder in
// place of the placed primary when the zone rules allow it. Otherwise the
// placement is left as is and the storage cluster decides.
void PreferSourceHolder(const std::vector<repl::StorageNodeView>& nodes,
                        const std::vector<std::string>& holders, const VolumeParameters& params,
                        const ZoneRequirement& zones, std::vector<std::string>* node_ids) {
  for (const auto& h : holders) {
    auto it = std::find(node_ids->begin(), node_ids->end(), h);
    if (it != node_ids->end()) {
      std::rotate(node_ids->begin(), it, it + 1);
      return;
    }
  }
  auto zone_of = [&](const std::string& id) -> const repl::StorageNodeView* {
    for (const auto& n : nodes) {
      if (n.id == id) return &n;
    }
    return nullptr;
  };
  for (const auto& h : holders) {
    const auto* n = zone_of(h);
    if (n == nullptr || !n->reachable) continue;
    if (!zones.allowed.empty() &&
        std::find(zones.allowed.begin(), zones.allowed.end(), n->zone) == zones.allowed.end()) {
      continue;
    }
    std::vector<std::string> candidate = *node_ids;
    candidate[0] = h;
    if (params.zone_spread) {
      auto z = ZonesOfNodes(nodes, candidate);
      if (z.size() != candidate.size()) continue;
    }
    *node_ids = std::move(candidate);
    return;
  }
}

}  // namespace

absl::Status UnlockIfEncrypted(repl::StorageCluster& cluster, const repl::VolumeView& view,
                               const std::string& secret) {
  if (!view.encrypted || secret.empty()) return absl::OkStatus();
  auto report = cluster.UnlockVolume(view.id, secret);
  if (!report.ok()) return FromStorage(report.status());
  if (!report->missed.empty()) {
    std::vector<std::string> missed;
    for (const auto& [node, why] : report->missed)
      missed.push_back(absl::StrCat(node, " (", why, ")"));
    spdlog::warn("volume {}: unlocked on {}, not reached: {}", view.id,
                 absl::StrJoin(report->unlocked, ","), absl::StrJoin(missed, ", "));
  }
  return absl::OkStatus();
}

absl::Status ControllerService::DoCreate(const ::csi::v1::CreateVolumeRequest& req,
                                         absl::Time deadline,
                                         ::csi::v1::CreateVolumeResponse* resp) {
  RETURN_IF_ERROR(ValidateVolumeName(req.name()));
  RETURN_IF_ERROR(ValidateCapabilities(req.volume_capabilities()));
  std::map<std::string, std::string> raw(req.parameters().begin(), req.parameters().end());
  ASSIGN_OR_RETURN(VolumeParameters params,
                   ParseVolumeParameters(raw, MountFsType(req.volume_capabilities())));
  // Checked as ControllerModifyVolume checks them; they take precedence over
  // the parameters (the spec's rule).
  std::map<std::string, std::string> raw_mutable(req.mutable_parameters().begin(),
                                                 req.mutable_parameters().end());
  ASSIGN_OR_RETURN(MutableParameters mutable_params, ParseMutableParameters(raw_mutable));
  if (mutable_params.replicas) params.replicas = *mutable_params.replicas;
  ASSIGN_OR_RETURN(int64_t size, ResolveCapacity(req.capacity_range().required_bytes(),
                                                 req.capacity_range().limit_bytes()));
  const bool clone = req.has_volume_content_source();
  if (clone) {
    const auto& cs = req.volume_content_source();
    if ((cs.has_snapshot() && cs.snapshot().snapshot_id().empty()) ||
        (cs.has_volume() && cs.volume().volume_id().empty()) ||
        (!cs.has_snapshot() && !cs.has_volume())) {
      return absl::InvalidArgumentError("volume_content_source needs a snapshot_id or a volume_id");
    }
  }
  const std::string source = clone ? ContentSourceAttribute(req.volume_content_source()) : "";
  bool has_mount = false;
  for (const auto& cap : req.volume_capabilities()) has_mount |= cap.has_mount();
  // A clone's filesystem comes from its source, which had room for it.
  if (!clone && has_mount && params.fs_type == "xfs" && size < kMinXfsVolumeSize) {
    // mkfs.xfs refuses smaller devices: give the smallest it takes when the
    // range allows, rather than a volume that can never be staged.
    int64_t limit = req.capacity_range().limit_bytes();
    if (limit > 0 && limit < kMinXfsVolumeSize) {
      return absl::OutOfRangeError(absl::StrCat("an xfs volume needs at least ", kMinXfsVolumeSize,
                                                " bytes; limit_bytes=", limit));
    }
    size = kMinXfsVolumeSize;
  }
  ZoneRequirement zones;
  if (req.has_accessibility_requirements()) {
    ASSIGN_OR_RETURN(zones, ZonesOf(req.accessibility_requirements()));
  }

  // The key of an encrypted volume (or of a clone's encrypted source).
  std::string secret;
  if (auto it = req.secrets().find(kSecretEncryptionPassphrase); it != req.secrets().end()) {
    secret = it->second;
  }
  if (params.encrypted && secret.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter encrypted=true needs the key '", kSecretEncryptionPassphrase,
                     "' in the CreateVolume secrets (StorageClass parameters "
                     "csi.storage.k8s.io/provisioner-secret-name and -namespace)"));
  }

  const std::string id = VolumeIdForName(req.name());
  // A sync to a remote: the StorageClass' keys, the mutable ones over them.
  // Its target is the default name on the remote unless remoteTarget names
  // one; the pairing is drawn now and used only if the volume is made here.
  RemoteParameters remote = params.remote;
  remote.Override(mutable_params.remote);
  if (!remote.empty() && params.encrypted) {
    // The sync reads snapshots as stored: ciphertext (remote_sync.md).
    return absl::InvalidArgumentError(
        absl::StrCat("parameter ", kParamRemote, ": an encrypted volume cannot sync to a remote"));
  }
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(id));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  std::map<std::string, std::string> remote_attributes;
  if (!remote.empty()) {
    std::string prefix = repl::kDefaultRemotePrefix;
    if (remote.remote) {
      auto found = RemotePrefix(*cluster, "parameter", *remote.remote);
      if (!found.ok()) {
        return found.status().code() == absl::StatusCode::kInvalidArgument
                   ? found.status()
                   : FromStorage(found.status());
      }
      prefix = *found;
    }
    ASSIGN_OR_RETURN(remote_attributes,
                     RemoteSyncAttributesFor("parameter", remote, id, {}, prefix));
  }

  auto existing = cluster->GetVolume(id);
  if (existing.ok()) {
    RETURN_IF_ERROR(CheckCompatible(*existing, req.name(), req.capacity_range(), params, source));
    RETURN_IF_ERROR(UnlockIfEncrypted(*cluster, *existing, secret));
    // A retry after a timeout: the volume is answered once it is usable too.
    ASSIGN_OR_RETURN(auto ready, WaitUntilServing(*cluster, id, deadline));
    *resp->mutable_volume() = VolumeFromView(ready);
    return absl::OkStatus();
  }
  if (existing.status().code() != absl::StatusCode::kNotFound)
    return FromStorage(existing.status());

  CloneSource from;
  if (clone) {
    if (req.volume_content_source().has_volume()) {
      // A volume clone starts with a snapshot of its source, which its
      // primary cuts only once it serves.
      auto source_ready =
          WaitUntilServing(*cluster, req.volume_content_source().volume().volume_id(), deadline);
      if (!source_ready.ok()) return source_ready.status();
    }
    ASSIGN_OR_RETURN(from, FindSource(*cluster, req.volume_content_source()));
    const int64_t source_size = static_cast<int64_t>(from.size_bytes);
    const int64_t limit = req.capacity_range().limit_bytes();
    if (req.capacity_range().required_bytes() == 0) {
      // No size asked for: the source's, rather than the default.
      size = source_size;
    }
    if (size < source_size || (limit > 0 && limit < source_size)) {
      return absl::OutOfRangeError(absl::StrCat("the source has ", source_size,
                                                " bytes; a clone cannot be smaller (requested ",
                                                size, ", limit_bytes=", limit, ")"));
    }
  }

  auto nodes = cluster->Nodes();
  if (!nodes.ok()) return FromStorage(nodes.status());
  ASSIGN_OR_RETURN(auto node_ids, PlaceVolume(*nodes, params, static_cast<uint64_t>(size), zones));
  if (clone) PreferSourceHolder(*nodes, from.holders, params, zones, &node_ids);

  repl::VolumeSpec spec;
  spec.id = id;
  spec.size_bytes = static_cast<uint64_t>(size);
  spec.replicas = params.replicas;
  spec.async_replicas = params.async_replicas;
  for (const auto& [key, value] : params.lag_attributes) spec.attributes[key] = value;
  spec.node_ids = node_ids;
  spec.allowed_zones = zones.allowed;
  spec.attributes[kAttrName] = req.name();
  spec.attributes[kAttrCapabilities] = SummarizeCapabilities(req.volume_capabilities());
  for (const auto& [key, value] : params.ToMap()) {
    spec.attributes[absl::StrCat(kAttrParamPrefix, key)] = value;
  }
  if (clone) {
    spec.attributes[kAttrContentSource] = source;
    if (req.volume_content_source().has_snapshot()) {
      spec.source_snapshot_id = req.volume_content_source().snapshot().snapshot_id();
    } else {
      spec.source_volume_id = req.volume_content_source().volume().volume_id();
    }
  }
  for (const auto& [key, value] : mutable_params.QosAttributes()) spec.attributes[key] = value;
  spec.attributes.insert(remote_attributes.begin(), remote_attributes.end());
  // A clone takes its source's encryption (the same ciphertext and wrapped
  // data key) over these attributes, and cannot be encrypted when its source
  // is not: the storage cluster sees to it.
  if (params.encrypted) {
    auto crypt = repl::NewEncryptionAttributes(secret);
    if (!crypt.ok()) return crypt.status();
    spec.attributes.insert(crypt->begin(), crypt->end());
  }
  auto volume_zones = ZonesOfNodes(*nodes, node_ids);
  if (!volume_zones.empty()) spec.attributes[kAttrZones] = absl::StrJoin(volume_zones, ",");

  auto created = cluster->CreateVolume(spec);
  if (!created.ok()) return FromStorage(created.status());
  RETURN_IF_ERROR(UnlockIfEncrypted(*cluster, *created, secret));
  // Answer only once the volume takes every other call (snapshots, IO).
  ASSIGN_OR_RETURN(auto ready, WaitUntilServing(*cluster, id, deadline));
  *resp->mutable_volume() = VolumeFromView(ready);
  return absl::OkStatus();
}

absl::Status ControllerService::DoDelete(const ::csi::v1::DeleteVolumeRequest& req) {
  if (req.volume_id().empty()) return absl::InvalidArgumentError("volume_id is required");
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(req.volume_id()));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto view = cluster->GetVolume(req.volume_id());
  if (view.status().code() == absl::StatusCode::kNotFound) {
    return ConfirmGone(*cluster, req.volume_id());
  }
  if (!view.ok()) return FromStorage(view.status());
  auto published = PublishedNodeIds(*view);
  if (!published.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", req.volume_id(), " is still published to node(s) ",
                     absl::StrJoin(published, ", "), "; unpublish it first"));
  }
  if (view->attributes.count(repl::kAttrRemotePairing) != 0) {
    // A remote sync's own snapshots go with the volume: its sync stops and
    // its rs- snapshots are deleted (the copy on the remote stays there). A
    // snapshot a cycle cuts meanwhile fails this call, and the retry takes it.
    // Not while other snapshots keep the volume anyway: nothing changes then.
    auto snapshots = cluster->ListSnapshots(req.volume_id());
    if (!snapshots.ok()) return FromStorage(snapshots.status());
    std::vector<std::string> others;
    for (const auto& snap : *snapshots) {
      if (!repl::RemoteSnapshotPoint(snap.name)) others.push_back(snap.id);
    }
    if (!others.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", req.volume_id(), " has snapshots (", absl::StrJoin(others, ", "),
                       "); delete them first"));
    }
    auto stopped = repl::StopRemoteSync(*cluster, req.volume_id());
    if (!stopped.ok()) return FromStorage(stopped.status());
    for (const auto& snap : *snapshots) {
      if (!repl::RemoteSnapshotPoint(snap.name)) continue;
      if (absl::Status d = cluster->DeleteSnapshot(snap.id); !d.ok()) return FromStorage(d);
    }
  }
  absl::Status deleted = cluster->DeleteVolume(req.volume_id());
  if (deleted.code() == absl::StatusCode::kFailedPrecondition) {
    // Snapshots live in their volume's replicas, so a volume with snapshots
    // stays (the spec's FAILED_PRECONDITION); any other refusal from the
    // storage nodes is transient for the CO.
    auto snapshots = cluster->ListSnapshots(req.volume_id());
    if (snapshots.ok() && !snapshots->empty()) {
      std::vector<std::string> ids;
      for (const auto& s : *snapshots) ids.push_back(s.id);
      return absl::FailedPreconditionError(
          absl::StrCat("volume ", req.volume_id(), " has snapshots (", absl::StrJoin(ids, ", "),
                       "); delete them first"));
    }
  }
  return FromStorage(deleted);
}

}  // namespace syncblock::csi
