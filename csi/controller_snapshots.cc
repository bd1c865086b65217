// ControllerService: CreateSnapshot, DeleteSnapshot, ListSnapshots and
// GetSnapshot (alpha in CSI v1.12; what a CO uses to read one member of a
// group snapshot).
//
// A CSI snapshot is a storage snapshot VOLUME@NAME, NAME derived from the CSI
// name (SnapshotNameForCsiName), so a retried CreateSnapshot finds what it
// made without any state here. Snapshot names are per volume in the storage
// cluster but global in CSI: CreateSnapshot looks for the name on every volume
// to answer ALREADY_EXISTS when another source took it.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "csi/controller_service.h"
#include "csi/list_token.h"
#include "csi/snapshot_view_csi.h"
#include "csi/status_mapping.h"
#include "csi/volume_parameters.h"
#include "csi/volume_ready.h"
#include "replication/client/group_snapshots.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

// In-flight key of a snapshot name: concurrent creates of one CSI name are
// serialized, and do not block operations on the source volume.
std::string SnapshotKey(const std::string& snapshot_name) {
  return absl::StrCat("snapshot/", snapshot_name);
}

}  // namespace

absl::Status ControllerService::DoCreateSnapshot(const ::csi::v1::CreateSnapshotRequest& req,
                                                 absl::Time deadline,
                                                 ::csi::v1::CreateSnapshotResponse* resp) {
  RETURN_IF_ERROR(ValidateVolumeName(req.name()));
  if (req.source_volume_id().empty()) {
    return absl::InvalidArgumentError("source_volume_id is required");
  }
  // parameters (VolumeSnapshotClass) define nothing yet; secrets are not used.
  const std::string name = SnapshotNameForCsiName(req.name());
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(SnapshotKey(name)));
  ASSIGN_OR_RETURN(auto cluster, Cluster());

  auto volume = cluster->GetVolume(req.source_volume_id());
  if (!volume.ok()) return FromStorage(volume.status());

  auto all = cluster->ListSnapshots("");
  if (!all.ok()) return FromStorage(all.status());
  for (const auto& s : *all) {
    if (s.name == name && s.volume_id != req.source_volume_id()) {
      return absl::AlreadyExistsError(absl::StrCat("snapshot name '", req.name(),
                                                   "' is taken by snapshot ", s.id, " of volume ",
                                                   s.volume_id));
    }
  }
  // The primary cuts a snapshot only once it serves: wait for that, and again
  // when it moved in between, within the CO's deadline.
  for (;;) {
    RETURN_IF_ERROR(WaitUntilServing(*cluster, req.source_volume_id(), deadline).status());
    auto created = cluster->CreateSnapshot(req.source_volume_id(), name);
    if (created.ok()) {
      *resp->mutable_snapshot() = SnapshotFromView(*created);
      return absl::OkStatus();
    }
    if (created.status().code() != absl::StatusCode::kUnavailable || absl::Now() >= deadline) {
      return FromStorage(created.status());
    }
    auto again = cluster->GetVolume(req.source_volume_id());
    // Serving and still refused (too few replicas hold the snapshot yet):
    // the storage node's reason is the CO's.
    if (again.ok() && again->serving) return FromStorage(created.status());
  }
}

absl::Status ControllerService::DoDeleteSnapshot(const ::csi::v1::DeleteSnapshotRequest& req) {
  if (req.snapshot_id().empty()) return absl::InvalidArgumentError("snapshot_id is required");
  // An id we could not have made names no snapshot, and deleting what does
  // not exist is OK (the spec's idempotence).
  auto parsed = repl::ParseSnapshotId(req.snapshot_id());
  if (!parsed.ok()) return absl::OkStatus();
  // A group's member goes with its group (DeleteVolumeGroupSnapshot): the
  // spec's answer to deleting one alone.
  if (std::string group = repl::GroupOfSnapshot(parsed->second); !group.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot ", req.snapshot_id(),
                                                   " is a member of group snapshot ", group,
                                                   ": delete the group"));
  }
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(SnapshotKey(parsed->second)));
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  return FromStorage(cluster->DeleteSnapshot(req.snapshot_id()));
}

absl::Status ControllerService::DoGetSnapshot(const ::csi::v1::GetSnapshotRequest& req,
                                              ::csi::v1::GetSnapshotResponse* resp) {
  if (req.snapshot_id().empty()) return absl::InvalidArgumentError("snapshot_id is required");
  // An id we could not have made names no snapshot.
  if (!repl::ParseSnapshotId(req.snapshot_id()).ok()) {
    return absl::NotFoundError(absl::StrCat("snapshot ", req.snapshot_id(), " not found"));
  }
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  auto snapshot = cluster->GetSnapshot(req.snapshot_id());
  if (!snapshot.ok()) return FromStorage(snapshot.status());
  *resp->mutable_snapshot() = SnapshotFromView(*snapshot);
  return absl::OkStatus();
}

absl::Status ControllerService::DoListSnapshots(const ::csi::v1::ListSnapshotsRequest& req,
                                                ::csi::v1::ListSnapshotsResponse* resp) {
  if (req.max_entries() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_entries=", req.max_entries(), " must not be negative"));
  }
  ASSIGN_OR_RETURN(auto cluster, Cluster());
  std::vector<repl::ClusterSnapshotView> snapshots;
  if (!req.snapshot_id().empty()) {
    // Unknown (or malformed) ids and a source volume that does not match give
    // an empty list, not an error: the spec asks for that.
    if (repl::ParseSnapshotId(req.snapshot_id()).ok()) {
      auto one = cluster->GetSnapshot(req.snapshot_id());
      if (one.ok()) {
        if (req.source_volume_id().empty() || one->volume_id == req.source_volume_id())
          snapshots.push_back(*std::move(one));
      } else if (one.status().code() != absl::StatusCode::kNotFound) {
        return FromStorage(one.status());
      }
    }
  } else {
    auto listed = cluster->ListSnapshots(req.source_volume_id());
    if (listed.ok()) {
      snapshots = *std::move(listed);
    } else if (listed.status().code() != absl::StatusCode::kNotFound) {
      return FromStorage(listed.status());
    }
  }
  std::sort(snapshots.begin(), snapshots.end(),
            [](const repl::ClusterSnapshotView& a, const repl::ClusterSnapshotView& b) {
              return a.id < b.id;
            });
  snapshots.erase(std::unique(snapshots.begin(), snapshots.end(),
                              [](const repl::ClusterSnapshotView& a,
                                 const repl::ClusterSnapshotView& b) { return a.id == b.id; }),
                  snapshots.end());
  std::vector<std::string> ids;
  for (const auto& s : snapshots) ids.push_back(s.id);
  ASSIGN_OR_RETURN(Page page, PageOf(ids, req.max_entries(), req.starting_token()));
  for (size_t i = page.begin; i < page.end; ++i) {
    *resp->add_entries()->mutable_snapshot() = SnapshotFromView(snapshots[i]);
  }
  resp->set_next_token(page.next_token);
  return absl::OkStatus();
}

}  // namespace syncblock::csi
