#include "driver/ctl_errors.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "driver/local_cluster_file.h"

namespace syncblock::driver {

namespace {

constexpr char kUsagePayload[] = "type.syncblock/ctl.usage";

bool IsUnreachable(const absl::Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

std::string CommandLine(const std::vector<std::string>& command) {
  return absl::StrCat("syncblock ctl ", absl::StrJoin(command, " "));
}

// The nodes of the local cluster in --cluster DIR that `message` names (by id
// or control address) and that are not running.
std::vector<std::string> NamedNodes(const std::string& message, const LocalCluster& cluster) {
  std::vector<std::string> named;
  for (const auto& node : cluster.storage) {
    bool by_id = absl::StrContains(message, node.id + " ") ||
                 absl::StrContains(message, node.id + ":") ||
                 absl::StrContains(message, node.id + ",") || absl::EndsWith(message, node.id);
    if (by_id || absl::StrContains(message, node.control)) named.push_back(node.id);
  }
  return named;
}

std::string UnavailableHint(const std::string& message, const Flags& flags) {
  if (flags.Has("cluster")) {
    const std::string dir = flags.Get("cluster");
    auto cluster = LoadCluster(dir);
    if (cluster.ok()) {
      auto named = NamedNodes(message, *cluster);
      if (named.size() == 1) {
        return absl::StrCat("start it with `syncblock local start --dir ", dir, " ", named[0], "`");
      }
      if (!named.empty()) {
        return absl::StrCat("start them with `syncblock local start --dir ", dir, " NODE` (",
                            absl::StrJoin(named, ", "), ")");
      }
    }
    return absl::StrCat("see which storage node is down with `syncblock ctl --cluster ", dir,
                        " node list`, then `syncblock local start --dir ", dir, " NODE`");
  }
  if (flags.Has("endpoint")) {
    return "check that the CSI plugin serves --endpoint";
  }
  return absl::StrCat("check that the storage nodes at ",
                      flags.Has("storage-nodes") ? flags.Get("storage-nodes") : "127.0.0.1:7400",
                      " run, or name them with --storage-nodes or --cluster DIR");
}

std::string NotFoundHint(const std::string& message, const std::vector<std::string>& command,
                         const Flags& flags) {
  if (absl::StrContains(message, "no local cluster in")) {
    return absl::StrCat("start one with `syncblock local up --dir ", flags.Get("cluster"), "`");
  }
  std::string where = flags.Has("cluster") ? absl::StrCat(" --cluster ", flags.Get("cluster")) : "";
  if (!command.empty() && command[0] == "csi") {
    return absl::StrCat("`syncblock ctl", where, " csi list` lists the volumes");
  }
  if (absl::StrContains(message, "snapshot") || (!command.empty() && command[0] == "snapshot")) {
    return absl::StrCat("`syncblock ctl", where,
                        " snapshot list VOLUME` lists a volume's snapshots");
  }
  if (absl::StrContains(message, "node") && !absl::StrContains(message, "volume")) {
    return absl::StrCat("`syncblock ctl", where, " node list` lists the storage nodes");
  }
  return absl::StrCat("`syncblock ctl", where, " volume list` lists the volumes");
}

}  // namespace

absl::Status UsageError(absl::string_view message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kUsagePayload, absl::Cord("1"));
  return s;
}

bool IsUsageError(const absl::Status& status) {
  return status.GetPayload(kUsagePayload).has_value();
}

int ExitCodeFor(const absl::Status& status) {
  if (status.ok()) return 0;
  if (IsUsageError(status)) return kExitUsage;
  if (status.code() == absl::StatusCode::kNotFound) return kExitNotFound;
  if (IsUnreachable(status)) return kExitUnavailable;
  return kExitFailure;
}

std::string ErrorLine(const absl::Status& status, const std::vector<std::string>& command,
                      const Flags& flags) {
  std::string message = absl::StrReplaceAll(status.message(), {{"\r", ""}, {"\n", "; "}});
  absl::StripTrailingAsciiWhitespace(&message);
  std::string hint;
  if (IsUsageError(status)) {
    if (!absl::StrContains(message, "--help")) {
      hint = command.empty() ? "see `syncblock ctl --help`"
                             : absl::StrCat("see `", CommandLine(command), " --help`");
    }
  } else if (status.code() == absl::StatusCode::kNotFound) {
    hint = NotFoundHint(message, command, flags);
  } else if (IsUnreachable(status)) {
    hint = UnavailableHint(message, flags);
  }
  if (hint.empty()) return message;
  return absl::StrCat(message, "; ", hint);
}

}  // namespace syncblock::driver
