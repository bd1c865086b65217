// The remote sync keys of a StorageClass, a VolumeAttributesClass and
// ControllerModifyVolume, and the volume attributes that declare the sync
// (replication/types/remote_sync_policy.h, replication/doc/remote_sync.md):
//
//   remote          a remote's name (`syncblock ctl remote list`)
//   remoteInterval  a snapshot shipped every "30s", "5m", "2h" (10s to 24h;
//                   default 60s)
//   remoteKeep      snapshots the remote keeps, 1 to 100 (default 3)
//   remoteRate      bytes per second of sync traffic, e.g. "50Mi" (0: no
//                   limit, the default)
//   remoteTarget    the volume on the remote (default: the remote's prefix,
//                   "dr-" unless `ctl remote add --prefix` said otherwise, +
//                   the volume id)
//
// Thread-safe: pure functions (NewRemotePairing reads std::random_device).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replication/client/storage_cluster.h"

namespace syncblock::csi {

struct RemoteParameters {
  std::optional<std::string> remote;
  std::optional<std::chrono::seconds> interval;
  std::optional<int> keep;
  std::optional<uint64_t> rate_bytes_per_second;
  std::optional<std::string> target;

  bool empty() const { return !remote && !interval && !keep && !rate_bytes_per_second && !target; }
  // The keys `other` gives replace these (mutable parameters over a
  // StorageClass').
  void Override(const RemoteParameters& other);
  // The keys given, normalized ("30s", "3", bytes), under their parameter
  // names: compared on a re-create and returned in volume_context.
  std::map<std::string, std::string> ToMap() const;
};

bool IsRemoteParameter(const std::string& key);

// Parses `key` (IsRemoteParameter) into `p`. INVALID_ARGUMENT naming the key;
// `what` ("parameter", "mutable parameter") says where it came from.
absl::Status ParseRemoteParameter(const std::string& what, const std::string& key,
                                  const std::string& value, RemoteParameters& p);

// The remote-sync.* attributes that make volume `volume_id` declare the sync
// `p` asks for, over the volume's `existing` attributes (empty for a new
// volume): what `p` does not give is kept from an existing declaration, else
// the defaults; an existing pairing is always kept, otherwise a new one is
// drawn. Returns the whole declaration (not only what changed).
// INVALID_ARGUMENT when the volume declares no sync and `p` has no remote;
// FAILED_PRECONDITION when its declaration does not parse and `p` has no
// remote to declare it anew.
// `prefix`: the remote's volume prefix (ctl remote add --prefix), the
// default target being prefix + the volume's id.
absl::StatusOr<std::map<std::string, std::string>> RemoteSyncAttributesFor(
    const std::string& what, const RemoteParameters& p, const std::string& volume_id,
    const std::map<std::string, std::string>& existing, const std::string& prefix);

// The volume prefix of remote `name`, from the storage cluster's list of
// remotes: INVALID_ARGUMENT naming the parameter when it is not defined (a
// typo would otherwise never sync); the cluster's error when it cannot tell.
absl::StatusOr<std::string> RemotePrefix(repl::StorageCluster& cluster, const std::string& what,
                                         const std::string& name);

// A random id of a source-target pairing: 16 hex digits.
std::string NewRemotePairing();

}  // namespace syncblock::csi
