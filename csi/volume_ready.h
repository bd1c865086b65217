// Waiting for a volume to serve. A new volume (or one whose primary just
// moved) has a primary that takes IO, snapshots and expansion only once a
// majority of its replicas has accepted it; until then the storage nodes
// refuse a snapshot with an internal reason. CSI calls wait for it here,
// within their own deadline, so a CO never sees that state: CreateVolume
// returns a volume that takes every other call at once.
//
// Thread-safe: no state.
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::csi {

// The longest a call waits when its caller set no deadline.
inline constexpr absl::Duration kMaxServingWait = absl::Seconds(60);

// The point a call must answer by: the caller's deadline (a gRPC
// ServerContext's), at most kMaxServingWait from now.
absl::Time CallDeadline(std::chrono::system_clock::time_point grpc_deadline);

// The volume once its primary serves (VolumeView::serving), polling the
// storage cluster. NOT_FOUND when the volume does not exist; UNAVAILABLE,
// naming the volume and what it waits for, when `deadline` passes first
// (the CO retries).
absl::StatusOr<repl::VolumeView> WaitUntilServing(repl::StorageCluster& cluster,
                                                  const std::string& volume_id,
                                                  absl::Time deadline);

}  // namespace syncblock::csi
