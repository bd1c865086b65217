// `syncblock ctl snapshot create|delete|list|show|diff|verify`.
#include <ostream>

#include "absl/strings/str_cat.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_snapshot_output.h"
#include "driver/output_json.h"
#include "driver/output_text.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

// A malformed id is the user's typo, not the cluster's answer.
absl::Status CheckId(const std::string& id) {
  auto parts = repl::ParseSnapshotId(id);
  if (!parts.ok()) return UsageError(parts.status().message());
  return absl::OkStatus();
}

absl::Status Create(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto snapshot, cluster->CreateSnapshot(args[0], args[1]));
  ctx.Print(SnapshotToJson(snapshot), RenderSnapshot(snapshot, NowUnixMs(), ctx.style()));
  return absl::OkStatus();
}

absl::Status Delete(CtlContext& ctx, const std::vector<std::string>& args) {
  RETURN_IF_ERROR(CheckId(args[0]));
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  RETURN_IF_ERROR(cluster->DeleteSnapshot(args[0]));
  ctx.Print(nlohmann::json({{"deleted", args[0]}}),
            absl::StrCat("deleted snapshot ", args[0], "\n"));
  return absl::OkStatus();
}

absl::Status List(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto snapshots, cluster->ListSnapshots(args.empty() ? "" : args[0]));
  ctx.Print(SnapshotsToJson(snapshots), RenderSnapshots(snapshots, NowUnixMs(), ctx.style()));
  return absl::OkStatus();
}

absl::Status Show(CtlContext& ctx, const std::vector<std::string>& args) {
  RETURN_IF_ERROR(CheckId(args[0]));
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto snapshot, cluster->GetSnapshot(args[0]));
  ctx.Print(SnapshotToJson(snapshot), RenderSnapshot(snapshot, NowUnixMs(), ctx.style()));
  return absl::OkStatus();
}

absl::Status Diff(CtlContext& ctx, const std::vector<std::string>& args) {
  RETURN_IF_ERROR(CheckId(args[0]));
  const std::string to = args.size() > 1 ? args[1] : "";
  if (!to.empty()) RETURN_IF_ERROR(CheckId(to));
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto diff, cluster->DiffSnapshots(args[0], to));
  ctx.Print(DiffToJson(args[0], to, diff), RenderDiff(args[0], to, diff));
  return absl::OkStatus();
}

absl::Status Verify(CtlContext& ctx, const std::vector<std::string>& args) {
  RETURN_IF_ERROR(CheckId(args[0]));
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto report, cluster->VerifySnapshot(args[0]));
  auto json = VerifyToJson(args[0], report);
  json["snapshot"] = args[0];
  json.erase("volume");
  std::string text = RenderVerify(args[0], report);
  // RenderVerify speaks of a volume; here the thing compared is a snapshot.
  for (size_t at = 0; (at = text.find("volume ", at)) != std::string::npos;) {
    text.replace(at, 7, "snapshot ");
    at += 9;
  }
  ctx.Print(json, text);
  if (report.identical) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat("snapshot ", args[0], ": replicas are not identical (",
                                          report.differing_regions.size(), " regions differ, ",
                                          report.unreachable.size(), " replicas not checked)"));
}

}  // namespace

std::vector<CtlCommand> SnapshotCtlCommands() {
  return {
      MakeCtlCommand({"snapshot", "create"}, "VOLUME NAME",
                     "cut a crash-consistent snapshot on every in-sync replica (idempotent)", 2, 2,
                     Create),
      MakeCtlCommand({"snapshot", "delete"}, "VOLUME@NAME",
                     "delete a snapshot on every replica (OK when it does not exist)", 1, 1,
                     Delete),
      MakeCtlCommand({"snapshot", "list"}, "[VOLUME]",
                     "the snapshots of a volume, or of every volume", 0, 1, List),
      MakeCtlCommand({"snapshot", "show"}, "VOLUME@NAME",
                     "a snapshot's size, creation time and state on each replica", 1, 1, Show),
      MakeCtlCommand({"snapshot", "diff"}, "VOLUME@FROM [VOLUME@TO]",
                     "regions changed between two snapshots, or from a snapshot to the live volume",
                     1, 2, Diff),
      MakeCtlCommand({"snapshot", "verify"}, "VOLUME@NAME",
                     "compare a snapshot across the replicas holding it (exit 1 if they differ)", 1,
                     1, Verify),
  };
}

}  // namespace syncblock::driver
