#include "csi/remote_parameters.h"

#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "replication/node/remote_registry.h"
#include "replication/qos/qos_settings.h"
#include "replication/types/remote_sync_policy.h"
#include "replication/types/volume_types.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {

void RemoteParameters::Override(const RemoteParameters& other) {
  if (other.remote) remote = other.remote;
  if (other.interval) interval = other.interval;
  if (other.keep) keep = other.keep;
  if (other.rate_bytes_per_second) rate_bytes_per_second = other.rate_bytes_per_second;
  if (other.target) target = other.target;
}

std::map<std::string, std::string> RemoteParameters::ToMap() const {
  std::map<std::string, std::string> out;
  if (remote) out[kParamRemote] = *remote;
  if (interval) out[kParamRemoteInterval] = absl::StrCat(interval->count(), "s");
  if (keep) out[kParamRemoteKeep] = absl::StrCat(*keep);
  if (rate_bytes_per_second) out[kParamRemoteRate] = absl::StrCat(*rate_bytes_per_second);
  if (target) out[kParamRemoteTarget] = *target;
  return out;
}

bool IsRemoteParameter(const std::string& key) {
  return key == kParamRemote || key == kParamRemoteInterval || key == kParamRemoteKeep ||
         key == kParamRemoteRate || key == kParamRemoteTarget;
}

absl::Status ParseRemoteParameter(const std::string& what, const std::string& key,
                                  const std::string& value, RemoteParameters& p) {
  const std::string where = absl::StrCat(what, " ", key);
  if (key == kParamRemote) {
    if (absl::Status s = repl::ValidateRemoteName(value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", s.message()));
    }
    p.remote = value;
  } else if (key == kParamRemoteInterval) {
    ASSIGN_OR_RETURN(p.interval, repl::ParseRemoteInterval(where, value));
  } else if (key == kParamRemoteKeep) {
    ASSIGN_OR_RETURN(p.keep, repl::ParseRemoteKeep(where, value));
  } else if (key == kParamRemoteRate) {
    // The same quantities as maxBandwidth: sync traffic is limited the same way.
    ASSIGN_OR_RETURN(p.rate_bytes_per_second, repl::ParseQosBandwidth(key, value));
  } else if (key == kParamRemoteTarget) {
    if (!repl::ValidVolumeId(value)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "='", value,
                       "': must be a volume id (1-128 of A-Z, a-z, 0-9, '.', '_', '-', "
                       "not starting with '.')"));
    }
    p.target = value;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(where, " is not a remote sync parameter"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::string>> RemoteSyncAttributesFor(
    const std::string& what, const RemoteParameters& p, const std::string& volume_id,
    const std::map<std::string, std::string>& existing, const std::string& prefix) {
  auto declared = repl::RemoteSyncPolicyFromAttributes(existing);
  if (!declared.ok() && !p.remote) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", volume_id, " has a remote sync declaration that does not parse (",
        declared.status().message(), "); give ", what, " ", kParamRemote, " to declare it anew"));
  }
  const bool has = declared.ok() && declared->has_value();
  if (!has && !p.remote) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "s ", kParamRemoteInterval, ", ", kParamRemoteKeep, ", ",
                     kParamRemoteRate, " and ", kParamRemoteTarget, " need ", kParamRemote,
                     ": volume ", volume_id, " declares no remote sync"));
  }
  repl::RemoteSyncPolicy policy = has ? **declared : repl::RemoteSyncPolicy{};
  if (p.remote) policy.remote = *p.remote;
  if (p.interval) policy.interval = *p.interval;
  if (p.keep) policy.keep = *p.keep;
  if (p.rate_bytes_per_second) policy.rate_bytes_per_second = *p.rate_bytes_per_second;
  if (p.target) {
    policy.target = *p.target;
  } else if (!has) {
    policy.target = absl::StrCat(prefix, volume_id);
  }
  // The pairing is what the target accepts syncs from: it goes with the
  // target. A new schedule keeps it; another remote or target gets a new one
  // and a new record (a transfer of the old pairing is never resumed
  // elsewhere, and cannot write the new record).
  auto had = existing.find(repl::kAttrRemotePairing);
  auto had_target = existing.find(repl::kAttrRemoteTarget);
  const bool same_target =
      has ? (p.remote.value_or(policy.remote) == (**declared).remote &&
             policy.target == (**declared).target)
          : (had_target != existing.end() && had_target->second == policy.target);
  if (!same_target || had == existing.end() || had->second.empty()) {
    policy.pairing = NewRemotePairing();
  } else {
    policy.pairing = had->second;
  }
  auto out = repl::RemoteSyncAttributes(policy);
  if (had != existing.end() && had->second != policy.pairing) {
    out[repl::kAttrRemoteStatus] = repl::EncodeRemoteSyncStatus(repl::RemoteSyncStatus{});
  }
  return out;
}

absl::StatusOr<std::string> RemotePrefix(repl::StorageCluster& cluster, const std::string& what,
                                         const std::string& name) {
  auto remotes = cluster.ListRemotes();
  if (!remotes.ok()) return remotes.status();
  for (const auto& r : *remotes) {
    if (r.name == name) return r.volume_prefix;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(what, " ", kParamRemote, ": remote \"", name,
                   "\" is not defined in the storage cluster (syncblock ctl remote add ", name,
                   " --storage-nodes HOST:PORT,...)"));
}

std::string NewRemotePairing() {
  std::random_device random;
  uint64_t id = (static_cast<uint64_t>(random()) << 32) ^ random();
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(id));
  return hex;
}

}  // namespace syncblock::csi
