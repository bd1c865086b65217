// The StorageControl RPCs that hold a primary's new writes while a group
// snapshot is cut (engine/write_hold.h). The hold ends at its deadline even
// when the client never comes back, so the cap below bounds how long a dead
// controller can stall a volume's writes.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "replication/engine/primary_engine.h"
#include "replication/node/control_service.h"
#include "replication/node/serving_primary.h"
#include "replication/util/grpc_status.h"
#include "replication/util/logging.h"

namespace syncblock::repl {
namespace {

namespace pb = syncblock::control::v1;

constexpr uint32_t kMaxHoldMs = 30000;

grpc::Status Invalid(const std::string& msg) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
}

}  // namespace

grpc::Status ControlService::HoldWrites(Ctx* ctx, const pb::HoldWritesRequest* req,
                                        pb::HoldWritesResponse*) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (req->volume_id().empty()) return Invalid("volume_id is required");
  if (req->hold_id().empty()) return Invalid("hold_id is required");
  if (req->max_hold_ms() == 0) return Invalid("max_hold_ms is required");
  auto p = ServingPrimary(*node_, req->volume_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  const uint32_t ms = std::min(req->max_hold_ms(), kMaxHoldMs);
  absl::Status s = p->second->HoldWrites(req->hold_id(), std::chrono::milliseconds(ms));
  if (s.ok()) {
    spdlog::info("volume {}: writes held for group snapshot {} (at most {} ms)", req->volume_id(),
                 req->hold_id(), ms);
  }
  return ToGrpcStatus(s);
}

grpc::Status ControlService::ReleaseWrites(Ctx* ctx, const pb::ReleaseWritesRequest* req,
                                           pb::ReleaseWritesResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (req->volume_id().empty()) return Invalid("volume_id is required");
  if (req->hold_id().empty()) return Invalid("hold_id is required");
  auto p = ServingPrimary(*node_, req->volume_id());
  // No serving primary here: its engine, and any hold in it, is gone.
  if (!p.ok()) return grpc::Status::OK;
  HoldRelease r = p->second->ReleaseWrites(req->hold_id());
  resp->set_found(r.found);
  resp->set_held_us(static_cast<uint64_t>(r.held.count()));
  resp->set_writes_held(r.writes_held);
  if (r.found) {
    spdlog::info("volume {}: writes released for group snapshot {}: held {} us, {} write(s) waited",
                 req->volume_id(), req->hold_id(), r.held.count(), r.writes_held);
  } else {
    spdlog::warn("volume {}: group snapshot {}: no hold to release (ended at its deadline?)",
                 req->volume_id(), req->hold_id());
  }
  return grpc::Status::OK;
}

}  // namespace syncblock::repl
