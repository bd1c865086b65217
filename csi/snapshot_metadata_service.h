// The CSI SnapshotMetadata service (changed-block tracking, KEP-3314):
// GetMetadataAllocated and GetMetadataDelta as server streams.
//
// Served by the controller process (`--mode controller` or `all`) on its CSI
// socket, where the external-snapshot-metadata sidecar of the controller pod
// reaches it; Identity then advertises SNAPSHOT_METADATA_SERVICE.
//
// - Delta: the regions the storage cluster's snapshot diff reports between the
//   base and the target snapshot (StorageCluster::DiffSnapshots, the same
//   answer as `syncblock ctl snapshot diff`). Exact where the engine is (its
//   copy-on-write records: exactly the regions written since the base); where
//   a replica holds a snapshot as a full copy the diff is by content, which can
//   only leave out regions rewritten with the same bytes.
// - Allocated: the regions of the snapshot that are not all zeros
//   (StorageCluster::AllocatedRegions, by per-region CRC32C).
//
// Both answer VARIABLE_LENGTH extents at the engine's region granularity
// (block_metadata.h), volume_capacity_bytes the (target) snapshot's size, at
// most max_results tuples per message (0: 1024). Errors are the spec's:
// INVALID_ARGUMENT for a missing id, a negative starting_offset or
// max_results, snapshots of different volumes, a base newer than the target;
// NOT_FOUND for a snapshot that does not exist; OUT_OF_RANGE for a
// starting_offset at or past the volume's end.
//
// Thread-safe: no state of its own.
#pragma once

#include <memory>

#include "csi/proto/csi.grpc.pb.h"
#include "csi/storage_endpoints.h"

namespace syncblock::csi {

class SnapshotMetadataService final : public ::csi::v1::SnapshotMetadata::Service {
 public:
  explicit SnapshotMetadataService(std::shared_ptr<ClusterProvider> cluster);

  grpc::Status GetMetadataAllocated(
      grpc::ServerContext* context, const ::csi::v1::GetMetadataAllocatedRequest* request,
      grpc::ServerWriter<::csi::v1::GetMetadataAllocatedResponse>* writer) override;
  grpc::Status GetMetadataDelta(
      grpc::ServerContext* context, const ::csi::v1::GetMetadataDeltaRequest* request,
      grpc::ServerWriter<::csi::v1::GetMetadataDeltaResponse>* writer) override;

 private:
  const std::shared_ptr<ClusterProvider> cluster_;
};

}  // namespace syncblock::csi
