#include "replication/node/control_authorization.h"

#include <algorithm>
#include <array>

#include "absl/strings/str_cat.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/logging.h"

namespace syncblock::repl {
namespace {

// What a CSI node plugin needs: its initiator looks up a volume's primary,
// and it unlocks an encrypted volume it staged with the NodeStage secret
// (UnlockVolume checks the volume is published to the caller).
constexpr std::array<absl::string_view, 3> kNodeRpcs = {"GetNodeInfo", "GetReplica",
                                                        "UnlockVolume"};

}  // namespace

bool ControlAuthorizer::RoleMayCall(absl::string_view role, absl::string_view rpc) {
  if (role == security::kRoleStorage || role == security::kRoleController ||
      role == security::kRoleAdmin) {
    return true;
  }
  if (role == security::kRoleNode) {
    return std::find(kNodeRpcs.begin(), kNodeRpcs.end(), rpc) != kNodeRpcs.end();
  }
  return false;
}

grpc::Status ControlAuthorizer::Check(const grpc::ServerContext& ctx, absl::string_view rpc) const {
  if (!check_callers_) return grpc::Status::OK;
  auto caller = security::CallerIdentity(ctx);
  if (!caller.ok()) {
    return grpc::Status(
        grpc::StatusCode::UNAUTHENTICATED,
        absl::StrCat("StorageControl/", rpc, " refused: ", caller.status().message()));
  }
  if (RoleMayCall(caller->role, rpc)) return grpc::Status::OK;
  std::string message =
      absl::StrCat("permission denied: ", caller->ToString(), " may not call StorageControl/", rpc,
                   caller->role == security::kRoleNode
                       ? " (a CSI node plugin may only look up volumes, GetNodeInfo and "
                         "GetReplica, and unlock those published to it, UnlockVolume)"
                       : " (unknown role: certificates name storage, controller, node or admin)");
  spdlog::warn("{} (peer {})", message, ctx.peer());
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message);
}

}  // namespace syncblock::repl
