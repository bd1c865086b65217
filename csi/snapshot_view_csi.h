// How snapshots read as CSI: the snapshot name the controller derives from a
// CSI snapshot name, the Snapshot message from a storage-cluster ClusterSnapshotView,
// and a clone's content source (stored as the csi.source attribute) both ways.
//
// Thread-safe: pure functions.
#pragma once

#include <optional>
#include <string>

#include "csi/proto/csi.pb.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::csi {

// The snapshot name (the part after '@' in VOLUME@NAME) for a CSI snapshot
// name: the same rule as volume IDs (VolumeIdForName), so Kubernetes'
// "snapshot-<uid>" is kept as is and anything else becomes "sb-" + a hash.
std::string SnapshotNameForCsiName(const std::string& csi_name);

::csi::v1::Snapshot SnapshotFromView(const repl::ClusterSnapshotView& view);

// The csi.source attribute value for a request's content source.
std::string ContentSourceAttribute(const ::csi::v1::VolumeContentSource& source);
// The content source stored in a volume's attributes, if it is a clone.
std::optional<::csi::v1::VolumeContentSource> ContentSourceOf(const repl::VolumeView& view);

}  // namespace syncblock::csi
