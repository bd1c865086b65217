// `syncblock ctl verify`, `resync`, `resync-status [--watch]`.
#include <chrono>
#include <ctime>
#include <ostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "driver/ctl_commands.h"
#include "driver/output_json.h"
#include "driver/output_text.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

absl::Status VerifyVolume(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto report, cluster->Verify(args[0]));
  ctx.Print(VerifyToJson(args[0], report), RenderVerify(args[0], report));
  if (report.identical) return absl::OkStatus();
  // Like cmp(1): a difference is a failure, so scripts can test for it.
  return absl::DataLossError(absl::StrCat("volume ", args[0], ": replicas are not identical (",
                                          report.differing_regions.size(), " regions differ, ",
                                          report.unreachable.size(), " replicas not checked)"));
}

absl::Status ResyncVolume(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto view, cluster->Resync(args[0], args.size() > 1 ? args[1] : "",
                                              ctx.flags().GetBool("full")));
  ctx.Print(ResyncStatusToJson(view), RenderResyncStatus(view));
  return absl::OkStatus();
}

bool AllInSync(const repl::VolumeView& v) {
  for (const auto& r : v.replicas) {
    if (r.state != "in_sync") return false;
  }
  return !v.nbd_uri.empty();
}

absl::Status ResyncStatus(CtlContext& ctx, const std::vector<std::string>& args) {
  const Flags& f = ctx.flags();
  auto interval = f.GetInt("interval-ms", 1000);
  if (!interval.ok() || *interval <= 0)
    return UsageError("--interval-ms must be a positive number");
  auto timeout = f.GetInt("timeout", 0);
  if (!timeout.ok() || *timeout < 0) return UsageError("--timeout must be a number of seconds");
  bool watch = f.GetBool("watch");
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(*timeout);
  while (true) {
    ASSIGN_OR_RETURN(auto view, cluster->GetVolume(args[0]));
    if (ctx.json()) {
      // Watching prints one JSON document a line.
      ctx.out() << ResyncStatusToJson(view).dump(watch ? -1 : 2) << "\n";
    } else {
      if (watch) {
        std::time_t now = std::time(nullptr);
        char stamp[32];
        std::strftime(stamp, sizeof(stamp), "%H:%M:%S", std::localtime(&now));
        ctx.out() << "[" << stamp << "] ";
      }
      ctx.out() << RenderResyncStatus(view);
    }
    ctx.out().flush();
    if (!watch) return absl::OkStatus();
    if (AllInSync(view)) {
      if (!ctx.json()) ctx.out() << "volume " << view.id << ": all replicas in sync\n";
      return absl::OkStatus();
    }
    if (*timeout > 0 && std::chrono::steady_clock::now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("volume ", view.id, " not in sync after ", *timeout, "s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(*interval));
  }
}

}  // namespace

std::vector<CtlCommand> SyncCtlCommands() {
  return {
      MakeCtlCommand({"verify"}, "VOLUME",
                     "compare the replicas by per-region checksums (exit 1 if they differ)", 1, 1,
                     VerifyVolume),
      MakeCtlCommand({"resync"}, "VOLUME [NODE-ID] [--full]",
                     "make the primary resync a replica (default: every replica)", 1, 2,
                     ResyncVolume)
          .Flag("full", "", "copy everything rather than what the checksums say differs"),
      MakeCtlCommand({"resync-status"}, "VOLUME [--watch]",
                     "resync progress per replica: bytes copied / total, rate, ETA", 1, 1,
                     ResyncStatus)
          .Flag("watch", "", "repeat until every replica is in sync")
          .Flag("interval-ms", "N", "between two looks when watching (default 1000)")
          .Flag("timeout", "S", "give up watching after S seconds (exit 1; default never)"),
  };
}

}  // namespace syncblock::driver
