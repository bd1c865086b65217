// What a CreateVolume request asks for, checked and normalized: the
// StorageClass parameters, the size from a capacity range, and the volume ID
// derived from the CSI name.
//
// Volume IDs: a CSI name that is already a good ID (1-63 of [a-z0-9-],
// starting with a letter or digit, not starting with "sb-") is used as is:
// Kubernetes' "pvc-<uid>" names are, so `syncblock ctl` shows the PV name.
// Any other name becomes "sb-" + the 128-bit FNV-1a hash of the name in hex.
// Both are pure functions of the name, so a retried CreateVolume finds the
// volume it created, and the two forms cannot collide with each other.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "csi/remote_parameters.h"

namespace syncblock::csi {

struct VolumeParameters {
  int replicas = 3;
  std::string sync_mode = "sync";
  std::string fs_type = "ext4";
  bool data_locality = false;
  bool zone_spread = false;
  bool encrypted = false;
  // syncMode "async": asynchronous replicas among `replicas`, and their lag
  // bounds as the volume's attributes (kAttrMaxLagMs, ...).
  int async_replicas = 0;
  std::map<std::string, std::string> lag_attributes;
  // A sync to a remote cluster (remote_parameters.h): with any syncMode;
  // syncMode "snapshot" (the replicas here are synchronous) requires one.
  RemoteParameters remote;

  // Under the StorageClass names, values normalized ("3", "true", ...):
  // compared on a re-create and returned as volume_context.
  std::map<std::string, std::string> ToMap() const;
};

// INVALID_ARGUMENT naming the parameter for an unknown key (keys under
// "csi.storage.k8s.io/" excepted), a bad value, a sync mode other than
// "sync", "async" and "snapshot", syncMode "snapshot" without a remote, or
// remote* parameters without remote. `mount_fs_type` is the fs_type of the
// request's mount capabilities ("" when none): it is the fsType when the
// parameters do not name one, and must agree with them when they do.
// The `replicas` parameter: 1 to 5. `what` names it in the error ("parameter",
// "mutable parameter").
absl::StatusOr<int> ParseReplicaCount(const std::string& what, const std::string& value);

absl::StatusOr<VolumeParameters> ParseVolumeParameters(
    const std::map<std::string, std::string>& parameters, const std::string& mount_fs_type = "");

// The size to create for a capacity range (0 = unspecified): required_bytes
// rounded up to 4 KiB, or 1 GiB when no size is required, never above a
// non-zero limit. INVALID_ARGUMENT for negative bounds; OUT_OF_RANGE when the
// limit leaves no 4 KiB multiple at or above required_bytes.
absl::StatusOr<int64_t> ResolveCapacity(int64_t required_bytes, int64_t limit_bytes);

// True when `size` satisfies the range (an existing volume on a re-create).
bool CapacityFits(int64_t size, int64_t required_bytes, int64_t limit_bytes);

// INVALID_ARGUMENT for an empty name or one with the control characters the
// spec bans, or longer than 128 bytes.
absl::Status ValidateVolumeName(const std::string& name);

std::string VolumeIdForName(const std::string& name);

}  // namespace syncblock::csi
