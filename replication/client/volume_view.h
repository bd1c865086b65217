// Turns what the storage nodes answer about one volume (their ReplicaStatus)
// into the cluster's view of it: a pure function, tested without a cluster.
//
// The authoritative answer is the replica with the highest epoch that says it
// is PRIMARY and is not fenced; its `peers` give the other replicas' states.
// When no such primary answers, the newest epoch seen names the primary, which
// is reported "offline", and every other member that answered is "in_sync" or
// "resyncing" by its own `consistent` flag.
//
// Thread-safe: no state.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"
#include "replication/proto/control.pb.h"

namespace syncblock::repl {

// "in_sync" | "offline" | "resyncing" | "failed".
const char* PeerStateName(::syncblock::control::v1::PeerState state);

// The unfenced primary with the highest epoch, or nullptr.
const ::syncblock::control::v1::ReplicaStatus* AuthoritativeReplica(
    const std::vector<::syncblock::control::v1::ReplicaStatus>& answers);
// The authoritative replica if there is one, else the answer with the highest
// epoch (the one whose member list and primary are the newest known), or nullptr.
const ::syncblock::control::v1::ReplicaStatus* NewestReplica(
    const std::vector<::syncblock::control::v1::ReplicaStatus>& answers);

// NOT_FOUND when `answers` is empty. All answers must be about one volume.
absl::StatusOr<VolumeView> BuildVolumeView(
    const std::vector<::syncblock::control::v1::ReplicaStatus>& answers);

}  // namespace syncblock::repl
