#include "csi/group_controller_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "csi/snapshot_view_csi.h"
#include "csi/status_mapping.h"
#include "csi/volume_parameters.h"
#include "csi/volume_ready.h"
#include "replication/client/group_snapshots.h"
#include "replication/util/grpc_status.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

using ::csi::v1::GroupControllerServiceCapability;

// In-flight key of a group: concurrent calls for one group are serialized.
std::string GroupKey(const std::string& group_id) { return absl::StrCat("group/", group_id); }

void FillGroup(const repl::GroupSnapshotView& g, ::csi::v1::VolumeGroupSnapshot* out) {
  out->set_group_snapshot_id(g.id);
  for (const auto& m : g.members) *out->add_snapshots() = SnapshotFromView(m);
  out->mutable_creation_time()->set_seconds(g.creation_time_unix_ms / 1000);
  out->mutable_creation_time()->set_nanos(static_cast<int32_t>(g.creation_time_unix_ms % 1000) *
                                          1000000);
  out->set_ready_to_use(g.ready_to_use);
}

// The spec lets the CO name the members in Get and Delete (REQUIRED there);
// a list that is not the group's is INVALID_ARGUMENT ("snapshot list
// mismatch").
absl::Status CheckMembers(const repl::GroupSnapshotView& g,
                          const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::set<std::string> asked(ids.begin(), ids.end());
  std::set<std::string> have;
  for (const auto& m : g.members) have.insert(m.id);
  if (asked == have) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("snapshot_ids [", absl::StrJoin(asked, ","),
                                                 "] are not the members of group snapshot ", g.id,
                                                 " [", absl::StrJoin(have, ","), "]"));
}

}  // namespace

GroupControllerService::GroupControllerService(std::shared_ptr<ClusterProvider> cluster)
    : cluster_(std::move(cluster)) {}

grpc::Status GroupControllerService::GroupControllerGetCapabilities(
    grpc::ServerContext*, const ::csi::v1::GroupControllerGetCapabilitiesRequest*,
    ::csi::v1::GroupControllerGetCapabilitiesResponse* response) {
  response->add_capabilities()->mutable_rpc()->set_type(
      GroupControllerServiceCapability::RPC::CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT);
  return grpc::Status::OK;
}

grpc::Status GroupControllerService::CreateVolumeGroupSnapshot(
    grpc::ServerContext* context, const ::csi::v1::CreateVolumeGroupSnapshotRequest* request,
    ::csi::v1::CreateVolumeGroupSnapshotResponse* response) {
  return ToGrpcStatus(DoCreate(*request, CallDeadline(context->deadline()), response));
}

grpc::Status GroupControllerService::DeleteVolumeGroupSnapshot(
    grpc::ServerContext*, const ::csi::v1::DeleteVolumeGroupSnapshotRequest* request,
    ::csi::v1::DeleteVolumeGroupSnapshotResponse*) {
  return ToGrpcStatus(DoDelete(*request));
}

grpc::Status GroupControllerService::GetVolumeGroupSnapshot(
    grpc::ServerContext*, const ::csi::v1::GetVolumeGroupSnapshotRequest* request,
    ::csi::v1::GetVolumeGroupSnapshotResponse* response) {
  return ToGrpcStatus(DoGet(*request, response));
}

absl::Status GroupControllerService::DoCreate(
    const ::csi::v1::CreateVolumeGroupSnapshotRequest& req, absl::Time deadline,
    ::csi::v1::CreateVolumeGroupSnapshotResponse* resp) {
  RETURN_IF_ERROR(ValidateVolumeName(req.name()));
  if (req.source_volume_ids().empty()) {
    return absl::InvalidArgumentError("source_volume_ids is required");
  }
  // parameters (VolumeGroupSnapshotClass) define nothing yet; secrets are
  // not used.
  const std::string base = SnapshotNameForCsiName(req.name());
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(GroupKey(base)));
  ASSIGN_OR_RETURN(auto cluster, cluster_->Get());
  std::vector<std::string> volumes(req.source_volume_ids().begin(), req.source_volume_ids().end());
  for (const auto& v : volumes) {
    if (v.empty()) return absl::InvalidArgumentError("source_volume_ids has an empty id");
  }
  // Holds and cuts need serving primaries: wait for them, within the CO's
  // deadline (NOT_FOUND for an unknown volume comes from here too).
  std::set<std::string> distinct(volumes.begin(), volumes.end());
  for (const auto& v : distinct) RETURN_IF_ERROR(WaitUntilServing(*cluster, v, deadline).status());
  repl::GroupSnapshots groups(cluster);
  auto group = groups.Create(base, std::move(volumes));
  if (!group.ok()) return FromStorage(group.status());
  if (group->created) {
    spdlog::info(
        "group snapshot {}: {} volume(s) cut at one point; writes held {} us at most, {} "
        "write(s) waited",
        group->id, group->members.size(), group->hold_us, group->writes_held);
  }
  FillGroup(*group, resp->mutable_group_snapshot());
  return absl::OkStatus();
}

absl::Status GroupControllerService::DoDelete(
    const ::csi::v1::DeleteVolumeGroupSnapshotRequest& req) {
  if (req.group_snapshot_id().empty()) {
    return absl::InvalidArgumentError("group_snapshot_id is required");
  }
  if (req.snapshot_ids().empty()) return absl::InvalidArgumentError("snapshot_ids is required");
  // An id we could not have made names no group: deleting it is OK.
  if (!repl::ParseGroupSnapshotId(req.group_snapshot_id()).ok()) return absl::OkStatus();
  ASSIGN_OR_RETURN(InFlight::Guard guard, inflight_.Acquire(GroupKey(req.group_snapshot_id())));
  ASSIGN_OR_RETURN(auto cluster, cluster_->Get());
  repl::GroupSnapshots groups(cluster);
  auto group = groups.Get(req.group_snapshot_id());
  if (group.ok()) {
    RETURN_IF_ERROR(CheckMembers(*group, req.snapshot_ids()));
  } else if (!absl::IsNotFound(group.status())) {
    return FromStorage(group.status());
  }
  // Also what an interrupted create left (Get does not report it).
  return FromStorage(groups.Delete(req.group_snapshot_id()));
}

absl::Status GroupControllerService::DoGet(const ::csi::v1::GetVolumeGroupSnapshotRequest& req,
                                           ::csi::v1::GetVolumeGroupSnapshotResponse* resp) {
  if (req.group_snapshot_id().empty()) {
    return absl::InvalidArgumentError("group_snapshot_id is required");
  }
  if (req.snapshot_ids().empty()) return absl::InvalidArgumentError("snapshot_ids is required");
  ASSIGN_OR_RETURN(auto cluster, cluster_->Get());
  repl::GroupSnapshots groups(cluster);
  auto group = groups.Get(req.group_snapshot_id());
  if (!group.ok()) return FromStorage(group.status());
  RETURN_IF_ERROR(CheckMembers(*group, req.snapshot_ids()));
  FillGroup(*group, resp->mutable_group_snapshot());
  return absl::OkStatus();
}

}  // namespace syncblock::csi
