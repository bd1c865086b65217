// The mutable parameters of a volume (CreateVolume.mutable_parameters,
// ControllerModifyVolume, a VolumeAttributesClass' parameters), checked
// before anything changes:
//
//   replicas      1..5: the size of the replica set (grown with full copies,
//                 shrunk never below a majority of in-sync copies)
//   maxIops       IOs per second, reads and writes together (0: no limit)
//   maxBandwidth  bytes per second, e.g. 100Mi (0: no limit)
//   burst         seconds of those limits an idle volume may spend at once
//   syncMode      only "sync": the sync mode cannot change
//   remote, remoteInterval, remoteKeep, remoteRate, remoteTarget
//                 declare or change a sync to a remote cluster
//                 (remote_parameters.h); a volume that declares none needs
//                 remote, and keeps its pairing when one changes
//
// Only the keys given change anything: an absent key keeps its value (the
// spec's rule for ControllerModifyVolume). Keys under "csi.storage.k8s.io/"
// are ignored, as in the StorageClass parameters.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "csi/remote_parameters.h"

namespace syncblock::csi {

struct MutableParameters {
  std::optional<int> replicas;
  std::optional<uint64_t> max_iops;
  std::optional<uint64_t> max_bandwidth;
  std::optional<double> burst_seconds;
  RemoteParameters remote;

  // The volume attributes (replication/qos/qos_settings.h keys, canonical
  // values) of the QoS keys given; empty when none is.
  std::map<std::string, std::string> QosAttributes() const;
};

// INVALID_ARGUMENT naming the key for an unknown key or a bad value.
absl::StatusOr<MutableParameters> ParseMutableParameters(
    const std::map<std::string, std::string>& parameters);

}  // namespace syncblock::csi
