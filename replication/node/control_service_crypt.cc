// ControlService: encryption at rest (replication/doc/encryption.md).
#include "absl/strings/str_cat.h"
#include "replication/crypt/key_wrap.h"
#include "replication/nbd/nbd_access.h"
#include "replication/node/control_service.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/grpc_status.h"
#include "replication/util/logging.h"

namespace syncblock::repl {

namespace pb = syncblock::control::v1;

grpc::Status ControlService::UnlockVolume(Ctx* ctx, const pb::UnlockVolumeRequest* req,
                                          pb::UnlockVolumeResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (!node_->started()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is starting");
  auto r = node_->Get(req->volume_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  Manifest m = (*r)->manifest();
  // A CSI node plugin unlocks only a volume published to it: the one it
  // staged, with the NodeStage secret, after every replica restarted.
  if (auto caller = security::CallerIdentity(*ctx);
      caller.ok() && caller->role == security::kRoleNode &&
      nbd::PublishedAccess(m.attributes, caller->name) == nbd::Access::kNone) {
    std::string message = absl::StrCat("permission denied: ", caller->ToString(),
                                       " may unlock only volumes published to it, and volume ",
                                       req->volume_id(), " is not");
    spdlog::warn("{} (peer {})", message, ctx->peer());
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message);
  }
  if (!IsEncrypted(m.attributes)) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        absl::StrCat("volume ", req->volume_id(), " is not encrypted")));
  }
  // A witness holds no data to decrypt; it still checks nothing of the key.
  if ((*r)->witness()) return grpc::Status::OK;
  absl::StatusOr<bool> unlocked = node_->keys().Unlock(req->volume_id(), m.attributes, req->key());
  if (!unlocked.ok()) {
    // The message names the volume, never the key.
    spdlog::warn("volume {}: unlock refused: {}", req->volume_id(), unlocked.status().message());
    return ToGrpcStatus(unlocked.status());
  }
  if (*unlocked) spdlog::info("volume {}: unlocked (data key in memory)", req->volume_id());
  resp->set_was_locked(*unlocked);
  return grpc::Status::OK;
}

}  // namespace syncblock::repl
