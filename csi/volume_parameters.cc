#include "csi/volume_parameters.h"

#include <cstdio>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "replication/types/async_policy.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {
namespace {

absl::StatusOr<bool> ParseBool(const std::string& key, const std::string& value) {
  std::string v = absl::AsciiStrToLower(value);
  if (v == "true") return true;
  if (v == "false") return false;
  return absl::InvalidArgumentError(
      absl::StrCat("parameter ", key, "='", value, "': must be true or false"));
}

absl::Status CheckFsType(const std::string& where, const std::string& fs) {
  if (fs == "ext4" || fs == "xfs") return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(where, "='", fs, "': supported filesystems are ext4 and xfs"));
}

// StorageClass parameter -> the volume attribute it sets.
constexpr std::pair<const char*, const char*> kLagParameters[] = {
    {kParamMaxLagMs, repl::kAttrMaxLagMs},
    {kParamMaxLagBytes, repl::kAttrMaxLagBytes},
    {kParamLagPolicy, repl::kAttrLagPolicy},
};

// syncMode async: at least one asynchronous replica, never the primary.
absl::Status CheckAsync(VolumeParameters& p, bool async_given) {
  if (p.sync_mode != "async") {
    if (async_given || !p.lag_attributes.empty()) {
      return absl::InvalidArgumentError(
          "parameters asyncReplicas, maxLagMs, maxLagBytes and lagPolicy go with syncMode=async");
    }
    return absl::OkStatus();
  }
  if (!async_given) p.async_replicas = 1;
  if (p.async_replicas < 1 || p.async_replicas >= p.replicas) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter asyncReplicas='", p.async_replicas, "': must be 1 to ", p.replicas - 1,
        " with replicas='", p.replicas, "' (the primary is synchronous)"));
  }
  if (auto policy = repl::AsyncPolicyFromAttributes(p.lag_attributes); !policy.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("parameters: ", policy.status().message()));
  }
  return absl::OkStatus();
}

// Remote sync: the keys other than remote describe the sync to it, and
// snapshot mode is a sync to a remote.
absl::Status CheckRemote(const VolumeParameters& p) {
  if (!p.remote.remote && !p.remote.empty()) {
    return absl::InvalidArgumentError(
        "parameters remoteInterval, remoteKeep, remoteRate and remoteTarget go with remote");
  }
  if (p.sync_mode == "snapshot" && !p.remote.remote) {
    return absl::InvalidArgumentError(
        "parameter syncMode='snapshot' needs parameter remote: the remote cluster the volume's "
        "snapshots are shipped to (`syncblock ctl remote list`)");
  }
  return absl::OkStatus();
}

bool IsDirectIdChar(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

}  // namespace

std::map<std::string, std::string> VolumeParameters::ToMap() const {
  std::map<std::string, std::string> out = {
      {kParamReplicas, absl::StrCat(replicas)},
      {kParamSyncMode, sync_mode},
      {kParamFsType, fs_type},
      {kParamDataLocality, data_locality ? "true" : "false"},
      {kParamZoneSpread, zone_spread ? "true" : "false"},
  };
  // Only when set: volumes made before the parameter existed compare equal.
  if (encrypted) out[kParamEncrypted] = "true";
  if (async_replicas > 0) out[kParamAsyncReplicas] = absl::StrCat(async_replicas);
  for (const auto& [param, attribute] : kLagParameters) {
    if (auto it = lag_attributes.find(attribute); it != lag_attributes.end())
      out[param] = it->second;
  }
  out.merge(remote.ToMap());
  return out;
}

absl::StatusOr<int> ParseReplicaCount(const std::string& what, const std::string& value) {
  int n;
  if (!absl::SimpleAtoi(value, &n) || n < 1 || n > 5) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " replicas='", value, "': must be a number from 1 to 5"));
  }
  return n;
}

absl::StatusOr<VolumeParameters> ParseVolumeParameters(
    const std::map<std::string, std::string>& parameters, const std::string& mount_fs_type) {
  VolumeParameters p;
  bool fs_given = false;
  bool async_given = false;
  for (const auto& [key, value] : parameters) {
    if (absl::StartsWith(key, kSidecarParamPrefix)) continue;
    if (key == kParamReplicas) {
      ASSIGN_OR_RETURN(p.replicas, ParseReplicaCount("parameter", value));
    } else if (key == kParamSyncMode) {
      if (value != "sync" && value != "async" && value != "snapshot") {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter syncMode='", value, "': must be sync, async or snapshot"));
      }
      p.sync_mode = value;
    } else if (key == kParamAsyncReplicas) {
      if (!absl::SimpleAtoi(value, &p.async_replicas)) {
        return absl::InvalidArgumentError(
            absl::StrCat("parameter asyncReplicas='", value, "': must be a number"));
      }
      async_given = true;
    } else if (key == kParamMaxLagMs || key == kParamMaxLagBytes || key == kParamLagPolicy) {
      for (const auto& [param, attribute] : kLagParameters) {
        if (key == param) p.lag_attributes[attribute] = value;
      }
    } else if (IsRemoteParameter(key)) {
      RETURN_IF_ERROR(ParseRemoteParameter("parameter", key, value, p.remote));
    } else if (key == kParamFsType) {
      if (auto s = CheckFsType("parameter fsType", value); !s.ok()) return s;
      p.fs_type = value;
      fs_given = true;
    } else if (key == kParamDataLocality) {
      auto b = ParseBool(key, value);
      if (!b.ok()) return b.status();
      p.data_locality = *b;
    } else if (key == kParamZoneSpread) {
      auto b = ParseBool(key, value);
      if (!b.ok()) return b.status();
      p.zone_spread = *b;
    } else if (key == kParamEncrypted) {
      auto b = ParseBool(key, value);
      if (!b.ok()) return b.status();
      p.encrypted = *b;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown parameter '", key,
          "' (known: replicas, syncMode, asyncReplicas, maxLagMs, maxLagBytes, lagPolicy, remote, "
          "remoteInterval, remoteKeep, remoteRate, remoteTarget, fsType, dataLocality, zoneSpread, "
          "encrypted)"));
    }
  }
  RETURN_IF_ERROR(CheckAsync(p, async_given));
  RETURN_IF_ERROR(CheckRemote(p));
  if (!mount_fs_type.empty()) {
    if (auto s = CheckFsType("mount capability fs_type", mount_fs_type); !s.ok()) return s;
    if (fs_given && mount_fs_type != p.fs_type) {
      return absl::InvalidArgumentError(absl::StrCat("mount capability fs_type '", mount_fs_type,
                                                     "' differs from parameter fsType '", p.fs_type,
                                                     "'"));
    }
    p.fs_type = mount_fs_type;
  }
  return p;
}

absl::StatusOr<int64_t> ResolveCapacity(int64_t required_bytes, int64_t limit_bytes) {
  if (required_bytes < 0 || limit_bytes < 0) {
    return absl::InvalidArgumentError("capacity_range bounds must not be negative");
  }
  if (required_bytes == 0) {
    int64_t size = kDefaultVolumeSize;
    if (limit_bytes > 0 && limit_bytes < size) size = limit_bytes / kSizeAlignment * kSizeAlignment;
    if (size == 0) {
      return absl::OutOfRangeError(absl::StrCat("capacity_range limit_bytes=", limit_bytes,
                                                " is below the 4096-byte granularity"));
    }
    return size;
  }
  if (required_bytes > INT64_MAX - kSizeAlignment) {
    return absl::OutOfRangeError(absl::StrCat("required_bytes=", required_bytes, " is too large"));
  }
  int64_t size = (required_bytes + kSizeAlignment - 1) / kSizeAlignment * kSizeAlignment;
  if (limit_bytes > 0 && size > limit_bytes) {
    return absl::OutOfRangeError(
        absl::StrCat("capacity_range required_bytes=", required_bytes, " limit_bytes=", limit_bytes,
                     ": sizes are multiples of 4096 and the smallest that fits is ", size));
  }
  return size;
}

bool CapacityFits(int64_t size, int64_t required_bytes, int64_t limit_bytes) {
  if (size < required_bytes) return false;
  return limit_bytes <= 0 || size <= limit_bytes;
}

absl::Status ValidateVolumeName(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("name is required");
  if (name.size() > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("name is ", name.size(), " bytes; the CSI limit is 128"));
  }
  for (size_t i = 0; i < name.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    bool banned = c <= 0x08 || c == 0x0b || c == 0x0c || (c >= 0x0e && c <= 0x1f) || c == 0x7f;
    // U+0080-U+009F encode in UTF-8 as C2 80..C2 9F.
    if (c == 0xc2 && i + 1 < name.size()) {
      unsigned char n = static_cast<unsigned char>(name[i + 1]);
      banned = banned || (n >= 0x80 && n <= 0x9f);
    }
    if (banned) return absl::InvalidArgumentError("name contains a control character");
  }
  return absl::OkStatus();
}

std::string VolumeIdForName(const std::string& name) {
  bool direct = !name.empty() && name.size() <= static_cast<size_t>(kMaxDirectIdLength) &&
                name[0] != '-' && !absl::StartsWith(name, kHashedIdPrefix);
  for (char c : name) direct = direct && IsDirectIdChar(c);
  if (direct) return name;
  // FNV-1a, 128-bit (offset basis and prime from the FNV specification).
  unsigned __int128 hash =
      (static_cast<unsigned __int128>(0x6c62272e07bb0142ULL) << 64) | 0x62b821756295c58dULL;
  const unsigned __int128 prime = (static_cast<unsigned __int128>(1) << 88) | 0x13b;
  for (unsigned char c : name) {
    hash ^= c;
    hash *= prime;
  }
  char hex[33];
  std::snprintf(hex, sizeof(hex), "%016llx%016llx", static_cast<unsigned long long>(hash >> 64),
                static_cast<unsigned long long>(hash));
  return absl::StrCat(kHashedIdPrefix, hex);
}

}  // namespace syncblock::csi
