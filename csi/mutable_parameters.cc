#include "csi/mutable_parameters.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "csi/csi_constants.h"
#include "csi/volume_parameters.h"
#include "replication/qos/qos_settings.h"
#include "replication/util/status_macros.h"

namespace syncblock::csi {

std::map<std::string, std::string> MutableParameters::QosAttributes() const {
  std::map<std::string, std::string> out;
  if (max_iops) out[repl::kAttrQosMaxIops] = absl::StrCat(*max_iops);
  if (max_bandwidth) out[repl::kAttrQosMaxBandwidth] = absl::StrCat(*max_bandwidth);
  if (burst_seconds) out[repl::kAttrQosBurst] = repl::FormatBurst(*burst_seconds);
  return out;
}

absl::StatusOr<MutableParameters> ParseMutableParameters(
    const std::map<std::string, std::string>& parameters) {
  MutableParameters p;
  for (const auto& [key, value] : parameters) {
    if (absl::StartsWith(key, kSidecarParamPrefix)) continue;
    if (key == kParamReplicas) {
      ASSIGN_OR_RETURN(p.replicas, ParseReplicaCount("mutable parameter", value));
    } else if (key == kParamSyncMode) {
      if (value != "sync") {
        return absl::InvalidArgumentError(absl::StrCat(
            "mutable parameter syncMode='", value,
            "': the sync mode of a volume cannot change, only 'sync' is accepted (a sync to a "
            "remote is declared with remote)"));
      }
    } else if (key == kParamMaxIops) {
      auto v = repl::ParseQosIops(key, value);
      if (!v.ok()) return v.status();
      p.max_iops = *v;
    } else if (key == kParamMaxBandwidth) {
      auto v = repl::ParseQosBandwidth(key, value);
      if (!v.ok()) return v.status();
      p.max_bandwidth = *v;
    } else if (key == kParamBurst) {
      auto v = repl::ParseQosBurst(key, value);
      if (!v.ok()) return v.status();
      p.burst_seconds = *v;
    } else if (IsRemoteParameter(key)) {
      RETURN_IF_ERROR(ParseRemoteParameter("mutable parameter", key, value, p.remote));
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown mutable parameter '", key,
          "' (mutable: replicas, maxIops, maxBandwidth, burst, syncMode, remote, remoteInterval, "
          "remoteKeep, remoteRate, remoteTarget)"));
    }
  }
  return p;
}

}  // namespace syncblock::csi
