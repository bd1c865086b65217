// The StorageControl RPCs for online growth and snapshots: argument checks
// and the mapping onto the primary engine (cut, delete, list with every
// member's state) or onto this replica's own snapshot chain (list elsewhere,
// diff, checksums, reads). Semantics in replication/doc/snapshots.md.
#include "absl/strings/str_cat.h"
#include "replication/engine/primary_engine.h"
#include "replication/node/control_service.h"
#include "replication/node/serving_primary.h"
#include "replication/store/snapshot_chain.h"
#include "replication/util/crc32c.h"
#include "replication/util/grpc_status.h"
#include "replication/util/logging.h"
#include "replication/wire/snapshot_record.h"

namespace syncblock::repl {
namespace {

namespace pb = syncblock::control::v1;

constexpr uint32_t kMaxSnapshotRead = 4 << 20;

grpc::Status Invalid(const std::string& msg) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
}

grpc::Status CheckNames(const std::string& volume_id, const std::string& name) {
  if (volume_id.empty()) return Invalid("volume_id is required");
  if (!ValidSnapshotName(name)) {
    return Invalid(absl::StrCat("snapshot name '", name,
                                "' is invalid: 1-128 of [A-Za-z0-9._-], not starting with '.'"));
  }
  return grpc::Status::OK;
}

pb::SnapshotReplicaState ToProto(SnapshotCopyState s) {
  switch (s) {
    case SnapshotCopyState::kReady:
      return pb::SNAPSHOT_READY;
    case SnapshotCopyState::kPending:
      return pb::SNAPSHOT_PENDING;
    case SnapshotCopyState::kCopying:
      return pb::SNAPSHOT_COPYING;
  }
  return pb::SNAPSHOT_REPLICA_STATE_UNSPECIFIED;
}

void FillRecord(const std::string& volume_id, const std::string& node_id, const SnapshotRecord& r,
                pb::SnapshotStatus* out) {
  out->set_volume_id(volume_id);
  out->set_name(r.name);
  out->set_size_bytes(r.size_bytes);
  out->set_creation_time_unix_ms(r.created_unix_ms);
  out->set_seq(r.seq);
  out->set_node_id(node_id);
}

void FillView(const std::string& volume_id, const std::string& node_id, const SnapshotView& v,
              pb::SnapshotStatus* out) {
  FillRecord(volume_id, node_id, v.record, out);
  out->set_ready_to_use(v.ready);
  for (const auto& m : v.members) {
    auto* rep = out->add_replicas();
    rep->set_node_id(m.node_id);
    rep->set_state(ToProto(m.state));
    rep->set_bytes_copied(m.bytes_copied);
    rep->set_bytes_total(m.bytes_total);
  }
}

// A secondary's own view: whether this node holds each snapshot. Whether a
// majority does only the primary knows, so ready_to_use stays false here.
void FillOwn(const std::string& volume_id, const std::string& node_id, const SnapshotRecord& r,
             pb::SnapshotStatus* out) {
  FillRecord(volume_id, node_id, r, out);
  auto* rep = out->add_replicas();
  rep->set_node_id(node_id);
  rep->set_state(r.complete ? pb::SNAPSHOT_READY : pb::SNAPSHOT_COPYING);
}

// The snapshot as this replica holds it, complete.
absl::StatusOr<SnapshotRecord> CompleteSnapshot(Replica& replica, const std::string& name) {
  auto rec = replica.store().snapshots().Get(name);
  if (!rec.ok()) {
    return absl::NotFoundError(
        absl::StrCat("volume ", replica.id(), " has no snapshot '", name, "' on this node"));
  }
  if (!rec->complete) {
    return absl::FailedPreconditionError(
        absl::StrCat("snapshot ", replica.id(), "@", name, " is still being copied to this node"));
  }
  return rec;
}

}  // namespace

grpc::Status ControlService::ExpandVolume(Ctx* ctx, const pb::ExpandVolumeRequest* req,
                                          pb::ReplicaStatus* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (req->volume_id().empty()) return Invalid("volume_id is required");
  if (req->size_bytes() == 0) return Invalid("size_bytes is required");
  auto p = ServingPrimary(*node_, req->volume_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  PrimaryEngine& engine = *p->second;
  absl::Status s = engine.Expand(req->size_bytes());
  if (!s.ok()) {
    if (s.code() != absl::StatusCode::kInvalidArgument) {
      spdlog::error("expand {}: {}", req->volume_id(), s.message());
    }
    return ToGrpcStatus(s);
  }
  pb::GetReplicaRequest get;
  get.set_volume_id(req->volume_id());
  return GetReplica(ctx, &get, resp);
}

grpc::Status ControlService::CreateSnapshot(Ctx* ctx, const pb::CreateSnapshotRequest* req,
                                            pb::SnapshotStatus* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (grpc::Status s = CheckNames(req->volume_id(), req->name()); !s.ok()) return s;
  auto p = ServingPrimary(*node_, req->volume_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  PrimaryEngine& engine = *p->second;
  auto view = engine.CreateSnapshot(req->name());
  if (!view.ok()) return ToGrpcStatus(view.status());
  FillView(req->volume_id(), node_->options().node_id, *view, resp);
  return grpc::Status::OK;
}

grpc::Status ControlService::DeleteSnapshot(Ctx* ctx, const pb::DeleteSnapshotRequest* req,
                                            pb::DeleteSnapshotResponse*) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (grpc::Status s = CheckNames(req->volume_id(), req->name()); !s.ok()) return s;
  auto p = ServingPrimary(*node_, req->volume_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  PrimaryEngine& engine = *p->second;
  absl::Status s = engine.DeleteSnapshot(req->name());
  if (!s.ok())
    spdlog::error("delete snapshot {}@{}: {}", req->volume_id(), req->name(), s.message());
  return ToGrpcStatus(s);
}

grpc::Status ControlService::ListSnapshots(Ctx* ctx, const pb::ListSnapshotsRequest* req,
                                           pb::ListSnapshotsResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  std::vector<std::shared_ptr<Replica>> replicas;
  if (req->volume_id().empty()) {
    replicas = node_->Replicas();
  } else {
    auto r = node_->Get(req->volume_id());
    if (!r.ok()) return ToGrpcStatus(r.status());
    replicas.push_back(*r);
  }
  const std::string& self = node_->options().node_id;
  for (auto& r : replicas) {
    if (auto engine = r->engine()) {
      for (const auto& v : engine->Snapshots()) FillView(r->id(), self, v, resp->add_snapshots());
    } else {
      for (const auto& rec : r->store().snapshots().List()) {
        FillOwn(r->id(), self, rec, resp->add_snapshots());
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::SnapshotDiff(Ctx* ctx, const pb::SnapshotDiffRequest* req,
                                          pb::SnapshotDiffResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (grpc::Status s = CheckNames(req->volume_id(), req->from_snapshot()); !s.ok()) return s;
  if (!req->to_snapshot().empty() && !ValidSnapshotName(req->to_snapshot())) {
    return Invalid(absl::StrCat("snapshot name '", req->to_snapshot(), "' is invalid"));
  }
  auto p = ServingPrimary(*node_, req->volume_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  Replica& replica = *p->first;
  for (const std::string& name : {req->from_snapshot(), req->to_snapshot()}) {
    if (name.empty()) continue;
    auto rec = CompleteSnapshot(replica, name);
    if (!rec.ok()) return ToGrpcStatus(rec.status());
  }
  auto changed = replica.store().snapshots().Changed(req->from_snapshot(), req->to_snapshot());
  if (!changed.ok()) return ToGrpcStatus(changed.status());
  resp->set_region_size(changed->region_size);
  resp->set_exact(changed->exact);
  for (uint64_t region : changed->regions) resp->add_changed_regions(region);
  return grpc::Status::OK;
}

grpc::Status ControlService::SnapshotChecksums(Ctx* ctx, const pb::SnapshotChecksumsRequest* req,
                                               pb::RegionChecksumsResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (grpc::Status s = CheckNames(req->volume_id(), req->name()); !s.ok()) return s;
  auto r = node_->Get(req->volume_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  auto rec = CompleteSnapshot(**r, req->name());
  if (!rec.ok()) return ToGrpcStatus(rec.status());
  uint64_t region = req->region_size() ? req->region_size() : (*r)->manifest().region_size;
  if (region < 4096 || region > (64u << 20)) {
    return Invalid(absl::StrCat("region_size ", region, " must be 4 KiB to 64 MiB"));
  }
  resp->set_region_size(region);
  resp->set_node_id(node_->options().node_id);
  resp->set_applied_seq(rec->seq);
  for (uint64_t off = 0; off < rec->size_bytes; off += region) {
    auto crc = (*r)->store().snapshots().Checksum(req->name(), off,
                                                  std::min(region, rec->size_bytes - off));
    if (!crc.ok()) return ToGrpcStatus(crc.status());
    resp->add_crc32c(*crc);
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::ReadSnapshotRegion(Ctx* ctx, const pb::ReadSnapshotRegionRequest* req,
                                                pb::ReadRegionResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (grpc::Status s = CheckNames(req->volume_id(), req->name()); !s.ok()) return s;
  auto r = node_->Get(req->volume_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  auto rec = CompleteSnapshot(**r, req->name());
  if (!rec.ok()) return ToGrpcStatus(rec.status());
  if (req->length() > kMaxSnapshotRead || req->offset() > rec->size_bytes ||
      req->length() > rec->size_bytes - req->offset()) {
    return grpc::Status(
        grpc::StatusCode::OUT_OF_RANGE,
        absl::StrCat("read of ", req->length(), " bytes at ", req->offset(),
                     " is past the snapshot's end (", rec->size_bytes, ") or over 4 MiB"));
  }
  std::string* data = resp->mutable_data();
  data->resize(req->length());
  absl::Status read =
      (*r)->store().snapshots().Read(req->name(), req->offset(), data->data(), req->length());
  if (!read.ok()) return ToGrpcStatus(read);
  resp->set_crc32c(Crc32c(data->data(), data->size()));
  return grpc::Status::OK;
}

}  // namespace syncblock::repl
