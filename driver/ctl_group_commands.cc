// `syncblock ctl snapshot group create|delete|show`: group snapshots, one
// crash-consistent point across several volumes (repl::GroupSnapshots).
// `create` also says how long writes were held on the members.
#include <memory>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "driver/ctl_commands.h"
#include "driver/ctl_errors.h"
#include "driver/ctl_snapshot_output.h"
#include "replication/client/group_snapshots.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {
namespace {

// The context's cluster, not owned, for GroupSnapshots.
absl::StatusOr<repl::GroupSnapshots> Groups(CtlContext& ctx) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  return repl::GroupSnapshots(
      std::shared_ptr<repl::StorageCluster>(cluster, [](repl::StorageCluster*) {}));
}

nlohmann::json GroupToJson(const repl::GroupSnapshotView& g) {
  nlohmann::json j = {{"id", g.id},
                      {"creation_time", FormatUnixMs(g.creation_time_unix_ms)},
                      {"ready_to_use", g.ready_to_use},
                      {"snapshots", SnapshotsToJson(g.members)}};
  if (g.created) {
    j["hold_us"] = g.hold_us;
    j["writes_held"] = g.writes_held;
  }
  return j;
}

std::string RenderGroup(const repl::GroupSnapshotView& g, const TermStyle& style) {
  std::string out = absl::StrCat("group snapshot ", g.id, ": ", g.members.size(), " volume(s), ",
                                 g.ready_to_use ? "ready" : "not ready", "\n");
  if (g.created) {
    absl::StrAppend(&out, "writes held ", absl::StrFormat("%.3f", g.hold_us / 1000.0),
                    " ms at most (", g.writes_held, " write(s) waited)\n");
  }
  absl::StrAppend(&out, "\n", RenderSnapshots(g.members, NowUnixMs(), style));
  return out;
}

absl::Status CheckGroupId(const std::string& id) {
  auto parsed = repl::ParseGroupSnapshotId(id);
  if (!parsed.ok()) return UsageError(parsed.status().message());
  return absl::OkStatus();
}

absl::Status Create(CtlContext& ctx, const std::vector<std::string>& args) {
  if (!ctx.flags().Has("volumes") || ctx.flags().Get("volumes").empty()) {
    return UsageError("--volumes A,B,... is required");
  }
  std::vector<std::string> volumes =
      absl::StrSplit(ctx.flags().Get("volumes"), ',', absl::SkipWhitespace());
  ASSIGN_OR_RETURN(auto groups, Groups(ctx));
  auto group = groups.Create(args[0], volumes);
  if (absl::IsInvalidArgument(group.status())) return UsageError(group.status().message());
  if (!group.ok()) return group.status();
  ctx.Print(GroupToJson(*group), RenderGroup(*group, ctx.style()));
  return absl::OkStatus();
}

absl::Status Delete(CtlContext& ctx, const std::vector<std::string>& args) {
  RETURN_IF_ERROR(CheckGroupId(args[0]));
  ASSIGN_OR_RETURN(auto groups, Groups(ctx));
  RETURN_IF_ERROR(groups.Delete(args[0]));
  ctx.Print(nlohmann::json({{"deleted", args[0]}}),
            absl::StrCat("deleted group snapshot ", args[0], "\n"));
  return absl::OkStatus();
}

absl::Status Show(CtlContext& ctx, const std::vector<std::string>& args) {
  RETURN_IF_ERROR(CheckGroupId(args[0]));
  ASSIGN_OR_RETURN(auto groups, Groups(ctx));
  ASSIGN_OR_RETURN(auto group, groups.Get(args[0]));
  ctx.Print(GroupToJson(group), RenderGroup(group, ctx.style()));
  return absl::OkStatus();
}

}  // namespace

std::vector<CtlCommand> GroupSnapshotCtlCommands() {
  return {
      MakeCtlCommand({"snapshot", "group", "create"}, "NAME",
                     "cut one crash-consistent snapshot of several volumes (idempotent by name); "
                     "prints the group id grp.N.NAME and how long writes were held",
                     1, 1, Create)
          .Flag("volumes", "A,B,...", "the volumes of the group (required)"),
      MakeCtlCommand({"snapshot", "group", "delete"}, "GROUP",
                     "delete a group snapshot and its members (OK when it does not exist)", 1, 1,
                     Delete),
      MakeCtlCommand({"snapshot", "group", "show"}, "GROUP",
                     "a group snapshot's members and their state", 1, 1, Show),
  };
}

}  // namespace syncblock::driver
