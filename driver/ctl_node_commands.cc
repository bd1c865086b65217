// `syncblock ctl node list`, `replica add|remove`, `promote`.
#include <ostream>

#include "driver/ctl_commands.h"
#include "driver/ctl_follow.h"
#include "driver/output_json.h"
#include "driver/output_text.h"
#include "replication/util/status_macros.h"

namespace syncblock::driver {

namespace {

absl::Status NodeList(CtlContext& ctx, const std::vector<std::string>&) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto nodes, cluster->Nodes());
  ctx.Print(NodesToJson(nodes), RenderNodes(nodes, ctx.style()));
  return absl::OkStatus();
}

absl::Status ReplicaAdd(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto follow, FollowFlags(ctx.flags()));
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto view, cluster->AddReplica(args[0], args[1], ctx.flags().GetBool("async")));
  if (ctx.flags().GetBool("wait")) {
    RETURN_IF_ERROR(FollowVolume(ctx, args[0], follow));
    ASSIGN_OR_RETURN(view, cluster->GetVolume(args[0]));
  }
  PrintVolume(ctx, view);
  return absl::OkStatus();
}

absl::Status ReplicaRemove(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  ASSIGN_OR_RETURN(auto view, cluster->RemoveReplica(args[0], args[1]));
  PrintVolume(ctx, view);
  return absl::OkStatus();
}

absl::Status PromoteNode(CtlContext& ctx, const std::vector<std::string>& args) {
  ASSIGN_OR_RETURN(auto* cluster, ctx.Cluster());
  const bool accept = ctx.flags().GetBool("accept-data-loss");
  ASSIGN_OR_RETURN(
      auto view,
      cluster->Promote(args[0], args[1], accept ? "ctl promote --accept-data-loss" : "ctl promote",
                       accept ? repl::PromoteLoss::kAccept : repl::PromoteLoss::kRefuse));
  PrintVolume(ctx, view);
  return absl::OkStatus();
}

}  // namespace

std::vector<CtlCommand> NodeCtlCommands() {
  return {
      MakeCtlCommand({"node", "list"}, "",
                     "the storage nodes: zone, addresses, space, replicas, reachability", 0, 0,
                     NodeList),
      WithFollowFlags(MakeCtlCommand({"replica", "add"}, "VOLUME NODE-ID [--async] [--wait]",
                                     "add a replica of the volume on a node (it gets a full copy)",
                                     2, 2, ReplicaAdd)
                          .Flag("async", "",
                                "an asynchronous replica: in no quorum, its lag bounded by the "
                                "volume's lag policy")
                          .Flag("wait", "", "show the full copy's progress until it is in sync")),
      MakeCtlCommand({"replica", "remove"}, "VOLUME NODE-ID",
                     "remove a secondary replica and delete its data", 2, 2, ReplicaRemove),
      MakeCtlCommand({"promote"}, "VOLUME NODE-ID [--accept-data-loss]",
                     "make the replica on NODE-ID the volume's primary (new epoch)", 2, 2,
                     PromoteNode)
          .Flag("accept-data-loss", "",
                "when no majority of the synchronous replicas is left: promote this one (an "
                "asynchronous replica too) with what it holds, remove the members that do not "
                "answer, and show what may be lost"),
  };
}

}  // namespace syncblock::driver
