// `syncblock ctl verify`, `resync`, `resync-status [--watch]`.
#include <ostream>

#include "absl/strings/str_cat.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_follow.h"
#include "driver/output_json.h"
#include "driver/output_text.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

absl::Status VerifyVolume(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto report, cluster->Verify(args[0]));
  ctx.Print(VerifyToJson(args[0], report), RenderVerify(args[0], report, ctx.style()));
  if (report.identical) return absl::OkStatus();
  // Like cmp(1): a difference is a failure, so scripts can test for it.
  return absl::DataLossError(absl::StrCat("volume ", args[0], ": replicas are not identical (",
                                          report.differing_regions.size(), " regions differ, ",
                                          report.unreachable.size(),
                                          " replicas not checked); make them equal with "
                                          "`syncblock ctl resync ",
                                          args[0], " --wait`"));
}

absl::Status ResyncVolume(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto follow, FollowFlags(ctx.flags()));
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto view, cluster->Resync(args[0], args.size() > 1 ? args[1] : "",
                                              ctx.flags().GetBool("full")));
  if (ctx.flags().GetBool("wait")) return FollowVolume(ctx, args[0], follow);
  ctx.Print(ResyncStatusToJson(view), RenderResyncStatus(view, ctx.style()));
  return absl::OkStatus();
}

absl::Status ResyncStatus(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto follow, FollowFlags(ctx.flags()));
  if (ctx.flags().GetBool("watch")) {
    follow.table = true;
    return FollowVolume(ctx, args[0], follow);
  }
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto view, cluster->GetVolume(args[0]));
  ctx.Print(ResyncStatusToJson(view), RenderResyncStatus(view, ctx.style()));
  return absl::OkStatus();
}

}  // namespace

std::vector<CtlCommand> SyncCtlCommands() {
  return {
      MakeCtlCommand({"verify"}, "VOLUME",
                     "compare the replicas by per-region checksums (exit 1 if they differ)", 1, 1,
                     VerifyVolume),
      WithFollowFlags(MakeCtlCommand({"resync"}, "VOLUME [NODE-ID] [--full] [--wait]",
                                     "make the primary resync a replica (default: every replica)",
                                     1, 2, ResyncVolume)
                          .Flag("full", "", "copy everything, not what the checksums say differs")
                          .Flag("wait", "", "show the progress until every replica is in sync")),
      WithFollowFlags(MakeCtlCommand({"resync-status"}, "VOLUME [--watch]",
                                     "resync progress per replica: bytes copied / total, rate, ETA",
                                     1, 1, ResyncStatus)
                          .Flag("watch", "", "follow, redrawn in place, until all are in sync")),
  };
}

}  // namespace syncblock::driver
