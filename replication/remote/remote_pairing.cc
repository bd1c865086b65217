#include "replication/remote/remote_pairing.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "replication/remote/remote_sync_cycle.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

std::string DefaultTarget(const VolumeView& volume, const RemoteView& remote) {
  auto promoted = volume.attributes.find(kAttrRemotePromotedFrom);
  if (promoted != volume.attributes.end()) {
    // "VOLUME@SNAPSHOT": failback goes to the volume this one came from.
    return promoted->second.substr(0, promoted->second.find('@'));
  }
  return remote.volume_prefix + volume.id;
}

// Whether `source` and `target` hold a sync snapshot in common.
absl::StatusOr<bool> ShareASnapshot(StorageCluster& cluster, StorageCluster& remote,
                                    const std::string& source, const std::string& target) {
  ASSIGN_OR_RETURN(auto mine, cluster.ListSnapshots(source));
  ASSIGN_OR_RETURN(auto theirs, remote.ListSnapshots(target));
  for (const auto& a : ReadySyncSnapshots(mine)) {
    for (const auto& b : ReadySyncSnapshots(theirs)) {
      if (a.name == b.name) return true;
    }
  }
  return false;
}

}  // namespace

std::string NewPairingId() {
  std::random_device rd;
  return absl::StrFormat("%08x%08x", rd(), rd());
}

absl::StatusOr<RemoteSyncPolicy> DeclareRemoteSync(StorageCluster& cluster,
                                                   const RemoteConnector& connect,
                                                   const RemoteSyncRequest& request) {
  ASSIGN_OR_RETURN(VolumeView volume, cluster.GetVolume(request.volume_id));
  if (volume.attributes.count(kAttrRemoteSourceId) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(request.volume_id,
                     " is itself the target of a remote sync: promote it first "
                     "(ctl volume promote-remote ",
                     request.volume_id, ")"));
  }
  if (volume.encrypted) {
    // The sync reads snapshots as the replicas store them: ciphertext, which
    // the target would take for data.
    return absl::FailedPreconditionError(absl::StrCat(
        request.volume_id, " is encrypted: a remote sync of an encrypted volume is not supported"));
  }
  if (volume.attributes.count(kAttrRemotePromoting) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        request.volume_id, "'s promotion has not finished: run ctl volume promote-remote ",
        request.volume_id, " again"));
  }
  ASSIGN_OR_RETURN(auto remotes, cluster.ListRemotes());
  const RemoteView* remote = nullptr;
  for (const auto& r : remotes) {
    if (r.name == request.remote) remote = &r;
  }
  if (remote == nullptr) {
    return absl::NotFoundError(absl::StrCat("remote \"", request.remote,
                                            "\" is not defined: `ctl remote add ", request.remote,
                                            " --storage-nodes HOST:PORT,...` first"));
  }
  std::shared_ptr<StorageCluster> there = connect(*remote);

  RemoteSyncPolicy p;
  p.remote = request.remote;
  p.target = request.target.empty() ? DefaultTarget(volume, *remote) : request.target;
  p.interval = request.interval;
  p.keep = request.keep;
  p.rate_bytes_per_second = request.rate_bytes_per_second;
  // The pairing goes with the target: the one the target carries when it
  // is this volume's, kept through `--stop`; a new one for a new target or
  // one claimed now (and then a new record).
  auto had_it = volume.attributes.find(kAttrRemotePairing);
  const std::string had = had_it != volume.attributes.end() ? had_it->second : "";
  auto current = RemoteSyncPolicyFromAttributes(volume.attributes);
  const bool same_declaration = current.ok() && current->has_value() &&
                                (*current)->remote == p.remote && (*current)->target == p.target;
  p.pairing = NewPairingId();

  auto target = there->GetVolume(p.target);
  if (!target.ok() && target.status().code() == absl::StatusCode::kUnavailable) {
    return absl::UnavailableError(absl::StrCat("remote ", p.remote,
                                               ": none of its storage nodes answers (",
                                               target.status().message(), ")"));
  }
  if (!target.ok() && target.status().code() != absl::StatusCode::kNotFound) {
    return absl::Status(target.status().code(),
                        absl::StrCat("remote ", p.remote, ": ", target.status().message()));
  }
  if (!target.ok()) {
    // Absent: the first cycle makes it (with the pairing declared before,
    // when it is the same target). The remote must answer now, though.
    if (same_declaration && !had.empty()) p.pairing = had;
    auto nodes = there->Nodes();
    bool any = false;
    if (nodes.ok()) {
      for (const auto& n : *nodes) any = any || n.reachable;
    }
    if (!any) {
      return absl::UnavailableError(
          absl::StrCat("remote ", p.remote, ": none of its storage nodes answers"));
    }
  } else {
    const std::string where = absl::StrCat("volume ", p.target, " on remote ", p.remote);
    if (target->size_bytes > volume.size_bytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume size mismatch: ", volume.id, " is ", volume.size_bytes, " bytes and ", where,
          " is ", target->size_bytes, " bytes; a target is never shrunk"));
    }
    const bool promoted = target->attributes.count(kAttrRemotePromotedFrom) != 0;
    if (promoted && !request.claim) {
      // It takes writes of its own (an application may be using it): never
      // written over unless asked for.
      return absl::FailedPreconditionError(absl::StrCat(
          where,
          " was promoted (ctl volume promote-remote) and is a volume of its own now: sync "
          "it back from there (ctl volume replicate ",
          p.target,
          " --remote ...), or, when "
          "nothing uses it there any more, take it as the target with --claim"));
    }
    auto marker = target->attributes.find(kAttrRemoteSourceId);
    auto from = target->attributes.find(kAttrRemoteSourceVolume);
    if (marker != target->attributes.end()) {
      if (!had.empty() && marker->second == had) {
        p.pairing = had;  // this volume's target: taken up where it was
      } else if (from != target->attributes.end() && from->second == volume.id &&
                 ShareASnapshot(cluster, *there, volume.id, p.target).value_or(false)) {
        p.pairing = marker->second;  // claimed for this volume, its declaration lost
      } else {
        return absl::FailedPreconditionError(
            absl::StrCat(where, " receives another sync (of ",
                         from != target->attributes.end() ? from->second : "another volume", ")"));
      }
    } else {
      // A failback: the volume there must be where this one's data came
      // from, and no longer sync anywhere itself.
      if (target->attributes.count(kAttrRemoteName) != 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            where, " syncs to a remote itself (", target->attributes.at(kAttrRemoteName),
            "): stop that first, there: ctl volume replicate ", p.target, " --stop"));
      }
      ASSIGN_OR_RETURN(bool shared, ShareASnapshot(cluster, *there, volume.id, p.target));
      if (!shared) {
        return absl::FailedPreconditionError(
            absl::StrCat(where, " exists and holds no sync snapshot in common with ", volume.id,
                         ": it is not a copy of it; give another --target, or delete it there"));
      }
      // Claimed now: a pairing of its own, and no transfer of an earlier
      // pairing is ever resumed into it.
      RETURN_IF_ERROR(there
                          ->SetAttributes(p.target,
                                          {{kAttrRemoteSourceId, p.pairing},
                                           {kAttrRemoteSourceVolume, volume.id}},
                                          {kAttrRemoteReceiving, kAttrRemotePromotedFrom})
                          .status());
    }
  }
  auto set = RemoteSyncAttributes(p);
  // A new pairing starts a new record (a cycle of the old one can no longer
  // write it: its writes expect its pairing); the same one keeps its record.
  if (had != p.pairing) {
    set[kAttrRemoteStatus] = EncodeRemoteSyncStatus(RemoteSyncStatus{});
  }
  if (request.run_now) set[kAttrRemoteRunNow] = "1";
  RETURN_IF_ERROR(cluster.SetAttributes(volume.id, set, {}).status());
  return p;
}

absl::StatusOr<VolumeView> StopRemoteSync(StorageCluster& cluster, const std::string& volume_id) {
  // The pairing stays: `replicate` again takes the same target up again.
  return cluster.SetAttributes(volume_id, {},
                               {kAttrRemoteName, kAttrRemoteTarget, kAttrRemoteInterval,
                                kAttrRemoteKeep, kAttrRemoteRate, kAttrRemoteRunNow});
}

}  // namespace syncblock::repl
