// StorageControl: this node's copy of the list of remotes (remote_registry.h).
#include "replication/node/control_service.h"
#include "replication/util/grpc_status.h"

namespace syncblock::repl {

namespace pb = syncblock::control::v1;

grpc::Status ControlService::PutRemote(Ctx* ctx, const pb::PutRemoteRequest* req,
                                       pb::RemoteRecord* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  auto kept = remotes_.Put(req->remote());
  if (!kept.ok()) return ToGrpcStatus(kept.status());
  *resp = *kept;
  return grpc::Status::OK;
}

grpc::Status ControlService::ListRemotes(Ctx* ctx, const pb::ListRemotesRequest*,
                                         pb::ListRemotesResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  auto all = remotes_.List();
  if (!all.ok()) return ToGrpcStatus(all.status());
  for (auto& r : *all) *resp->add_remotes() = std::move(r);
  return grpc::Status::OK;
}

}  // namespace syncblock::repl
