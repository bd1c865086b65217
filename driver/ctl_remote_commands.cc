// `syncblock ctl remote add|list|remove` and the snapshot-based sync of a
// volume to a remote: `volume replicate`, `volume replication-status`,
// `volume promote-remote` (replication/doc/remote_sync.md).
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_remote_output.h"
#include "driver/human_format.h"
#include "replication/remote/remote_pairing.h"
#include "replication/remote/remote_promotion.h"
#include "replication/remote/remote_sync_cycle.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {
namespace {

std::shared_ptr<repl::StorageCluster> ConnectRemote(const repl::RemoteView& remote) {
  return repl::StorageCluster::Connect(remote.storage_nodes);
}

absl::Status RemoteAdd(CtlContext& ctx, const std::vector<std::string>& args) {
  // The remote's nodes: --remote-nodes, or --storage-nodes, which then names
  // the remote's and not this cluster's (given by --cluster, or the default).
  std::string flag = "remote-nodes";
  if (!ctx.flags().Has(flag)) {
    flag = "storage-nodes";
    ctx.ClaimFlag(flag);
  }
  std::vector<std::string> nodes =
      absl::StrSplit(ctx.flags().Get(flag), ',', absl::SkipWhitespace());
  if (nodes.empty()) {
    return UsageError(
        "remote add needs --storage-nodes HOST:PORT,... (the remote's control addresses)");
  }
  // This cluster first: connecting sets the process's TLS identity, which
  // the remote is dialled with too.
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  repl::RemoteView remote;
  remote.name = args[0];
  remote.storage_nodes = nodes;
  remote.volume_prefix = ctx.flags().Get("prefix", repl::kDefaultRemotePrefix);
  if (!ctx.flags().GetBool("no-check")) {
    // A remote nobody answers for is most likely a typo: say so now, not at
    // the first cycle.
    auto answered = ConnectRemote(remote)->Nodes();
    if (!answered.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "remote ", remote.name, ": none of its storage nodes answers (",
          answered.status().message(), "); check the addresses, or add it anyway with --no-check"));
    }
    std::vector<std::string> down;
    int up = 0;
    for (const auto& n : *answered) {
      if (n.reachable) {
        ++up;
      } else {
        down.push_back(absl::StrCat(n.control_address, ": ", n.error));
      }
    }
    if (up == 0) {
      return absl::UnavailableError(absl::StrCat(
          "remote ", remote.name, ": none of its storage nodes answers (",
          absl::StrJoin(down, "; "), "); check the addresses, or add it anyway with --no-check"));
    }
  }
  ASSIGN_OR_RETURN(auto kept, cluster->PutRemote(remote, /*deleted=*/false));
  ctx.Print(RemoteToJson(kept), RenderRemotes({kept}, ctx.style()));
  return absl::OkStatus();
}

absl::Status RemoteList(CtlContext& ctx, const std::vector<std::string>&) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto remotes, cluster->ListRemotes());
  nlohmann::json all = nlohmann::json::array();
  for (const auto& r : remotes) all.push_back(RemoteToJson(r));
  ctx.Print(nlohmann::json{{"remotes", all}}, RenderRemotes(remotes, ctx.style()));
  return absl::OkStatus();
}

absl::Status RemoteRemove(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto volumes, cluster->ListVolumes());
  std::vector<std::string> users;
  for (const auto& v : volumes) {
    auto it = v.attributes.find(repl::kAttrRemoteName);
    if (it != v.attributes.end() && it->second == args[0]) users.push_back(v.id);
  }
  if (!users.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("remote ", args[0], " is in use by the sync of ", absl::StrJoin(users, ", "),
                     ": stop those first (ctl volume replicate VOLUME --stop)"));
  }
  repl::RemoteView remote;
  remote.name = args[0];
  ASSIGN_OR_RETURN(auto kept, cluster->PutRemote(remote, /*deleted=*/true));
  ctx.Print(nlohmann::json{{"removed", args[0]}, {"missing_on", kept.missing_on}},
            absl::StrCat("remote ", args[0], " removed\n"));
  return absl::OkStatus();
}

absl::Status Replicate(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  if (ctx.flags().GetBool("stop")) {
    if (ctx.flags().Has("remote")) {
      return absl::InvalidArgumentError("give --stop or --remote NAME, not both");
    }
    ASSIGN_OR_RETURN(auto view, repl::StopRemoteSync(*cluster, args[0]));
    ctx.Print(nlohmann::json{{"volume", view.id}, {"replicating", false}},
              absl::StrCat(view.id, ": remote sync stopped (its snapshots stay on both sides)\n"));
    return absl::OkStatus();
  }
  if (!ctx.flags().Has("remote") && ctx.flags().GetBool("now")) {
    // A cycle now, the declaration as it is.
    ASSIGN_OR_RETURN(auto volume, cluster->GetVolume(args[0]));
    ASSIGN_OR_RETURN(auto declared, repl::RemoteSyncPolicyFromAttributes(volume.attributes));
    if (!declared.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat(args[0], " does not sync to a remote (ctl volume replicate ", args[0],
                       " --remote NAME starts it)"));
    }
    RETURN_IF_ERROR(cluster->SetAttributes(args[0], {{repl::kAttrRemoteRunNow, "1"}}, {}).status());
    ctx.Print(nlohmann::json{{"volume", args[0]}, {"run_now", true}},
              absl::StrCat(args[0], ": a cycle runs at the controller's next tick\n"));
    return absl::OkStatus();
  }
  if (!ctx.flags().Has("remote")) {
    return UsageError("volume replicate needs --remote NAME (or --now, or --stop)");
  }
  repl::RemoteSyncRequest req;
  req.volume_id = args[0];
  req.remote = ctx.flags().Get("remote");
  req.target = ctx.flags().Get("target");
  ASSIGN_OR_RETURN(req.interval,
                   repl::ParseRemoteInterval("--interval", ctx.flags().Get("interval", "60s")));
  ASSIGN_OR_RETURN(req.keep, repl::ParseRemoteKeep("--keep", ctx.flags().Get("keep", "3")));
  ASSIGN_OR_RETURN(req.rate_bytes_per_second, ctx.flags().GetSize("rate", 0));
  req.run_now = ctx.flags().GetBool("now");
  req.claim = ctx.flags().GetBool("claim");
  ASSIGN_OR_RETURN(auto policy, repl::DeclareRemoteSync(*cluster, ConnectRemote, req));
  ctx.Print(
      PolicyToJson(args[0], policy),
      absl::StrCat(args[0], ": syncs to ", policy.target, " on remote ", policy.remote, " every ",
                   FormatDuration(static_cast<double>(policy.interval.count())), ", keeping ",
                   policy.keep, " snapshots there",
                   policy.rate_bytes_per_second
                       ? absl::StrCat(", at most ",
                                      FormatRate(static_cast<double>(policy.rate_bytes_per_second)))
                       : "",
                   "\n(the CSI controller runs the cycles; `ctl volume replication-status ",
                   args[0], "` follows them)\n"));
  return absl::OkStatus();
}

absl::Status ReplicationStatus(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto volume, cluster->GetVolume(args[0]));
  ASSIGN_OR_RETURN(auto policy, repl::RemoteSyncPolicyFromAttributes(volume.attributes));
  if (!policy.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(args[0], " does not sync to a remote (ctl volume replicate ", args[0],
                     " --remote NAME starts it)"));
  }
  ReplicationReport report;
  report.volume = args[0];
  report.policy = *policy;
  report.status = repl::RemoteSyncStatusFromAttributes(volume.attributes);
  report.now_unix_ms = NowUnixMs();
  // The remote's own word on its newest complete snapshot, when it answers.
  auto remotes = cluster->ListRemotes();
  const repl::RemoteView* remote = nullptr;
  if (remotes.ok()) {
    for (const auto& r : *remotes) {
      if (r.name == policy->remote) remote = &r;
    }
  }
  if (remote == nullptr) {
    report.remote_error = absl::StrCat("remote ", policy->remote, " is not defined");
  } else {
    auto snaps = ConnectRemote(*remote)->ListSnapshots(policy->target);
    if (snaps.ok()) {
      auto ready = repl::ReadySyncSnapshots(*snaps);
      report.remote_answered = true;
      for (const auto& s : ready) report.remote_snapshots.push_back(s.name);
    } else {
      report.remote_error = std::string(snaps.status().message());
    }
  }
  ctx.Print(ReplicationReportToJson(report), RenderReplicationReport(report, ctx.style()));
  return absl::OkStatus();
}

absl::Status PromoteRemote(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  repl::RemotePromotionOptions options;
  if (!ctx.json()) {
    options.progress = [&ctx](uint64_t done, uint64_t total) {
      ctx.err() << "rolling back to the snapshot: " << FormatSize(done) << " / "
                << FormatSize(total) << "\n";
    };
  }
  ASSIGN_OR_RETURN(auto promoted, repl::PromoteRemoteTarget(*cluster, args[0],
                                                            ctx.flags().Get("snapshot"), options));
  ctx.Print(PromotionToJson(args[0], promoted), RenderPromotion(args[0], promoted, NowUnixMs()));
  return absl::OkStatus();
}

}  // namespace

std::vector<CtlCommand> RemoteCtlCommands() {
  return {
      MakeCtlCommand({"remote", "add"}, "NAME --storage-nodes HOST:PORT,... [--prefix P]",
                     "define another syncblock cluster that volumes can sync to", 1, 1, RemoteAdd)
          .Flag("storage-nodes", "HOST:PORT,...",
                "the remote's storage nodes (control addresses); this cluster is then --cluster "
                "or the default")
          .Flag("remote-nodes", "HOST:PORT,...",
                "the same, leaving --storage-nodes to name this cluster's")
          .Flag("prefix", "P",
                "its target volumes are named P + the source volume's id (default \"dr-\")")
          .Flag("no-check", "", "add it even when none of its nodes answers now"),
      MakeCtlCommand({"remote", "list"}, "", "the remotes, as every storage node keeps them", 0, 0,
                     RemoteList),
      MakeCtlCommand({"remote", "remove"}, "NAME", "forget a remote no volume syncs to", 1, 1,
                     RemoteRemove),
      MakeCtlCommand(
          {"volume", "replicate"},
          "VOLUME --remote NAME [--interval 60s] [--keep 3] [--rate SIZE] [--now] | --now | --stop",
          "sync the volume to a remote cluster: a snapshot every interval, only the "
          "changed regions shipped",
          1, 1, Replicate)
          .Flag("remote", "NAME", "the remote (ctl remote add)")
          .Flag("interval", "TIME", "between snapshots: 10s to 24h (default 60s)")
          .Flag("keep", "N", "snapshots the remote keeps (default 3)")
          .Flag("rate", "SIZE", "bandwidth per second for the transfers, e.g. 50M (default: none)")
          .Flag("target", "VOLUME",
                "the volume on the remote (default: its prefix + VOLUME; for a promoted volume, "
                "the one it came from: a failback)")
          .Flag("now", "",
                "run a cycle now (at the controller's next tick), whatever the schedule; alone, "
                "without --remote, it keeps the declaration as it is")
          .Flag("claim", "",
                "take a promoted volume on the remote as the target (nothing may use it there)")
          .Flag("stop", "", "stop the sync (the snapshots stay)"),
      MakeCtlCommand({"volume", "replication-status"}, "VOLUME",
                     "the remote sync: newest snapshot there, achieved RPO, bytes shipped, next "
                     "run, errors",
                     1, 1, ReplicationStatus),
      MakeCtlCommand({"volume", "promote-remote"}, "VOLUME [--snapshot NAME]",
                     "on the remote: make a sync target writable, holding its newest (or the "
                     "named) complete snapshot",
                     1, 1, PromoteRemote)
          .Flag("snapshot", "NAME", "the rs-... snapshot to hold (default: the newest)"),
  };
}

}  // namespace syncblock::driver
