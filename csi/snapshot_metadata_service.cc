#include "csi/snapshot_metadata_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "csi/block_metadata.h"
#include "csi/status_mapping.h"
#include "csi/volume_ready.h"
#include "replication/util/grpc_status.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

constexpr int32_t kDefaultMaxResults = 1024;

struct Answer {
  int64_t capacity = 0;
  std::vector<::csi::v1::BlockMetadata> extents;
};

absl::Status CheckPaging(int64_t starting_offset, int32_t max_results) {
  if (starting_offset < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("starting_offset=", starting_offset, " must not be negative"));
  }
  if (max_results < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_results=", max_results, " must not be negative"));
  }
  return absl::OkStatus();
}

absl::Status CheckOffset(int64_t starting_offset, int64_t capacity, const std::string& id) {
  if (starting_offset >= capacity) {
    return absl::OutOfRangeError(absl::StrCat("starting_offset=", starting_offset,
                                              " is at or past the end of snapshot ", id, " (",
                                              capacity, " bytes)"));
  }
  return absl::OkStatus();
}

// NOT_FOUND for an id that names no snapshot (a malformed one names none).
absl::StatusOr<repl::ClusterSnapshotView> FindSnapshot(repl::StorageCluster& cluster,
                                                       const std::string& id, const char* field) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is required"));
  if (!repl::ParseSnapshotId(id).ok()) {
    return absl::NotFoundError(absl::StrCat("snapshot ", id, " does not exist"));
  }
  auto snap = cluster.GetSnapshot(id);
  if (!snap.ok()) return FromStorage(snap.status());
  return snap;
}

template <typename Response>
grpc::Status Stream(grpc::ServerContext* context, const absl::StatusOr<Answer>& answer,
                    int32_t max_results, grpc::ServerWriter<Response>* writer) {
  if (!answer.ok()) return ToGrpcStatus(answer.status());
  const size_t per_message =
      static_cast<size_t>(max_results > 0 ? max_results : kDefaultMaxResults);
  size_t next = 0;
  // At least one message, so that a client learns the capacity and the type
  // even when nothing changed.
  do {
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    Response resp;
    resp.set_block_metadata_type(::csi::v1::VARIABLE_LENGTH);
    resp.set_volume_capacity_bytes(answer->capacity);
    for (size_t n = 0; n < per_message && next < answer->extents.size(); ++n) {
      *resp.add_block_metadata() = answer->extents[next++];
    }
    if (!writer->Write(resp)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away mid-stream");
    }
  } while (next < answer->extents.size());
  return grpc::Status::OK;
}

absl::StatusOr<Answer> Allocated(ClusterProvider& provider,
                                 const ::csi::v1::GetMetadataAllocatedRequest& req) {
  RETURN_IF_ERROR(CheckPaging(req.starting_offset(), req.max_results()));
  if (req.snapshot_id().empty()) return absl::InvalidArgumentError("snapshot_id is required");
  ASSIGN_OR_RETURN(auto cluster, provider.Get());
  ASSIGN_OR_RETURN(repl::ClusterSnapshotView snap,
                   FindSnapshot(*cluster, req.snapshot_id(), "snapshot_id"));
  Answer a;
  a.capacity = static_cast<int64_t>(snap.size_bytes);
  RETURN_IF_ERROR(CheckOffset(req.starting_offset(), a.capacity, snap.id));
  auto regions = cluster->AllocatedRegions(snap.id);
  if (!regions.ok()) return FromStorage(regions.status());
  a.extents =
      ExtentsOf(regions->changed_regions, regions->region_size, a.capacity, req.starting_offset());
  return a;
}

absl::StatusOr<Answer> Delta(ClusterProvider& provider,
                             const ::csi::v1::GetMetadataDeltaRequest& req, absl::Time deadline) {
  RETURN_IF_ERROR(CheckPaging(req.starting_offset(), req.max_results()));
  if (req.base_snapshot_id().empty() || req.target_snapshot_id().empty()) {
    return absl::InvalidArgumentError("base_snapshot_id and target_snapshot_id are required");
  }
  ASSIGN_OR_RETURN(auto cluster, provider.Get());
  ASSIGN_OR_RETURN(repl::ClusterSnapshotView base,
                   FindSnapshot(*cluster, req.base_snapshot_id(), "base_snapshot_id"));
  ASSIGN_OR_RETURN(repl::ClusterSnapshotView target,
                   FindSnapshot(*cluster, req.target_snapshot_id(), "target_snapshot_id"));
  if (base.volume_id != target.volume_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("snapshots ", base.id, " and ", target.id, " are of different volumes"));
  }
  Answer a;
  a.capacity = static_cast<int64_t>(target.size_bytes);
  RETURN_IF_ERROR(CheckOffset(req.starting_offset(), a.capacity, target.id));
  // The diff is the primary's to compute: wait for one that serves.
  RETURN_IF_ERROR(WaitUntilServing(*cluster, target.volume_id, deadline).status());
  auto diff = cluster->DiffSnapshots(base.id, target.id);
  if (!diff.ok()) return FromStorage(diff.status());
  a.extents =
      ExtentsOf(diff->changed_regions, diff->region_size, a.capacity, req.starting_offset());
  return a;
}

}  // namespace

SnapshotMetadataService::SnapshotMetadataService(std::shared_ptr<ClusterProvider> cluster)
    : cluster_(std::move(cluster)) {}

grpc::Status SnapshotMetadataService::GetMetadataAllocated(
    grpc::ServerContext* context, const ::csi::v1::GetMetadataAllocatedRequest* request,
    grpc::ServerWriter<::csi::v1::GetMetadataAllocatedResponse>* writer) {
  return Stream(context, Allocated(*cluster_, *request), request->max_results(), writer);
}

grpc::Status SnapshotMetadataService::GetMetadataDelta(
    grpc::ServerContext* context, const ::csi::v1::GetMetadataDeltaRequest* request,
    grpc::ServerWriter<::csi::v1::GetMetadataDeltaResponse>* writer) {
  return Stream(context, Delta(*cluster_, *request, CallDeadline(context->deadline())),
                request->max_results(), writer);
}

}  // namespace syncblock::csi
