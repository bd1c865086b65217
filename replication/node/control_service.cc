#include "replication/node/control_service.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "replication/crypt/key_wrap.h"
#include "replication/engine/primary_engine.h"
#include "replication/node/member_proto.h"
#include "replication/node/promotion.h"
#include "replication/node/serving_primary.h"
#include "replication/types/removed_members.h"
#include "replication/util/grpc_status.h"
#include "replication/util/logging.h"

namespace syncblock::repl {
namespace {

namespace pb = syncblock::control::v1;

constexpr uint32_t kMaxReadRegion = 4 << 20;

pb::PeerState ToProto(PeerState s) {
  switch (s) {
    case PeerState::kInSync:
      return pb::PEER_IN_SYNC;
    case PeerState::kOffline:
      return pb::PEER_OFFLINE;
    case PeerState::kResyncing:
      return pb::PEER_RESYNCING;
    case PeerState::kFailed:
      return pb::PEER_FAILED;
  }
  return pb::PEER_STATE_UNSPECIFIED;
}

void FillStatus(StorageNode& node, Replica& replica, pb::ReplicaStatus* out) {
  Manifest m = replica.manifest();
  out->set_volume_id(m.volume_id);
  out->set_size_bytes(m.size_bytes);
  out->set_epoch(m.epoch);
  out->set_primary_node_id(m.primary_node_id);
  out->set_node_id(node.options().node_id);
  out->set_region_size(m.region_size);
  out->set_applied_seq(replica.applied_seq());
  out->set_consistent(replica.consistent());
  out->set_witness(replica.witness());
  if (Replica::ReportedLag told = replica.LastReportedLag(); told.lag) {
    out->mutable_reported_lag()->set_ms(static_cast<int64_t>(told.lag->ms));
    out->mutable_reported_lag()->set_bytes(told.lag->bytes);
    out->mutable_reported_lag()->set_broken(told.lag->broken);
    out->set_reported_lag_unix_ms(told.unix_ms);
  }
  for (const auto& id : m.outdated) out->add_outdated(id);
  for (const auto& mem : m.members) MemberToProto(mem, out->add_members());
  for (const auto& [k, v] : m.attributes) (*out->mutable_attributes())[k] = v;
  out->set_encrypted(IsEncrypted(m.attributes));
  out->set_locked(out->encrypted() && !replica.witness() && !node.keys().Unlocked(m.volume_id));
  bool claims_primary = m.primary_node_id == node.options().node_id;
  auto engine = replica.engine();
  out->set_role(claims_primary ? pb::ROLE_PRIMARY : pb::ROLE_SECONDARY);
  // A candidate whose promotion is under way (not confirmed) is not fenced.
  out->set_fenced(claims_primary && !engine && m.primary_confirmed);
  out->set_primary_since_unix_ms(m.primary_since_unix_ms);
  out->set_last_failover_unix_ms(m.last_failover_unix_ms);
  out->set_last_failover_from(m.last_failover_from);
  out->set_last_failover_reason(m.last_failover_reason);
  if (!engine) {
    out->set_lease_remaining_ms(replica.PromiseRemaining().count());
    return;
  }
  out->set_nbd_uri(node.NbdUri(m.volume_id));
  EngineView view = engine->View();
  out->set_local_error(view.local_error);
  out->set_lease_remaining_ms(view.lease_remaining_ms);
  out->set_serving(view.active && !view.fenced && view.lease_remaining_ms != 0);
  for (const auto& p : view.peers) {
    auto* ps = out->add_peers();
    ps->set_node_id(p.node_id);
    ps->set_state(ToProto(p.state));
    ps->set_acked_seq(p.acked_seq);
    ps->set_lag_seq(p.unacked);
    ps->set_dirty_bytes(p.dirty_bytes);
    ps->set_message(p.message);
    if (p.async) {
      ps->set_async(true);
      auto* lag = ps->mutable_lag();
      lag->set_bytes(p.lag.bytes);
      lag->set_ms(p.lag.ms);
      lag->set_broken(p.lag.broken);
      lag->set_broken_since_unix_ms(p.lag.broken_since_unix_ms);
      lag->set_throttled_writes(p.lag.throttled_writes);
    }
    auto* r = ps->mutable_resync();
    r->set_bytes_copied(p.resync.bytes_copied);
    r->set_bytes_total(p.resync.bytes_total);
    r->set_rate_bytes_per_second(p.resync.rate_bytes_per_second);
    r->set_eta_seconds(p.resync.eta_seconds);
    r->set_full(p.resync.full);
  }
}

// A member list a volume can run with: its primary holds data and is
// synchronous, at most one member is a witness, and an asynchronous member
// holds data.
absl::Status CheckMembers(const std::vector<MemberInfo>& members, const std::string& primary) {
  int witnesses = 0;
  for (const auto& mem : members) {
    if (mem.async && mem.witness) {
      return absl::InvalidArgumentError(
          absl::StrCat(mem.node_id, " cannot be both the witness and an asynchronous replica"));
    }
    if (mem.async && mem.node_id == primary) {
      return absl::InvalidArgumentError(
          absl::StrCat("the primary ", primary, " cannot be an asynchronous replica"));
    }
    if (!mem.witness) continue;
    ++witnesses;
    if (mem.node_id == primary) {
      return absl::InvalidArgumentError(
          absl::StrCat("the primary ", primary, " cannot be the volume's witness"));
    }
  }
  if (witnesses > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("a volume has at most one witness, not ", witnesses));
  }
  return absl::OkStatus();
}

// The calls that read a replica's data have nothing to read on a witness.
absl::Status HoldsData(const Replica& replica) {
  if (!replica.witness()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("volume ", replica.id(), ": this node is its witness and holds no data"));
}

grpc::Status Invalid(const std::string& msg) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, msg);
}

std::string RemovedMembersFixed(const std::string& volume_id, const std::string& key) {
  return absl::StrCat("volume ", volume_id, ": attribute ", key,
                      " is kept by promotions that accept data loss and by replica add; it "
                      "cannot be set");
}

std::string CryptAttributeFixed(const std::string& volume_id, const std::string& key) {
  return absl::StrCat("volume ", volume_id, ": attribute ", key,
                      " is set when an encrypted volume is created and cannot change");
}

}  // namespace

grpc::Status ControlService::GetNodeInfo(Ctx* ctx, const pb::GetNodeInfoRequest*,
                                         pb::NodeInfo* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (!node_->started()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is starting");
  const auto& o = node_->options();
  resp->set_node_id(o.node_id);
  resp->set_zone(o.zone);
  resp->set_control_address(o.control_address);
  resp->set_replication_address(o.replication_address);
  resp->set_nbd_address(o.nbd_address);
  resp->set_metrics_address(o.metrics_address);
  NodeCapacity c = node_->Capacity();
  resp->set_capacity_bytes(c.capacity_bytes);
  resp->set_available_bytes(c.available_bytes);
  resp->set_replica_count(static_cast<uint32_t>(node_->Replicas().size()));
  resp->set_version(SYNCBLOCK_VERSION_STRING);
  return grpc::Status::OK;
}

grpc::Status ControlService::CreateReplica(Ctx* ctx, const pb::CreateReplicaRequest* req,
                                           pb::ReplicaStatus* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (!node_->started()) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "node is starting");
  if (req->members_size() < 1 || req->members_size() > 5) {
    return Invalid(
        absl::StrCat("volume ", req->volume_id(), ": 1 to 5 members, not ", req->members_size()));
  }
  Manifest m;
  m.volume_id = req->volume_id();
  m.size_bytes = req->size_bytes();
  m.epoch = req->epoch() == 0 ? 1 : req->epoch();
  m.primary_node_id = req->primary_node_id();
  m.data_generation = req->data_generation();
  for (const auto& mem : req->members()) m.members.push_back(MemberFromProto(mem));
  for (const auto& [k, v] : req->attributes()) m.attributes[k] = v;
  m.outdated.insert(req->outdated().begin(), req->outdated().end());
  if (absl::Status s = CheckMembers(m.members, m.primary_node_id); !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (req->source_volume_id().empty() != req->source_snapshot().empty()) {
    return Invalid(absl::StrCat("volume ", req->volume_id(),
                                ": a clone needs both source_volume_id and source_snapshot"));
  }
  auto r = req->source_volume_id().empty()
               ? node_->CreateReplica(m)
               : node_->CreateClone(m, req->source_volume_id(), req->source_snapshot());
  if (!r.ok()) return ToGrpcStatus(r.status());
  FillStatus(*node_, **r, resp);
  return grpc::Status::OK;
}

grpc::Status ControlService::DeleteReplica(Ctx* ctx, const pb::DeleteReplicaRequest* req,
                                           pb::DeleteReplicaResponse*) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (req->volume_id().empty()) return Invalid("volume_id is required");
  return ToGrpcStatus(node_->DeleteReplica(req->volume_id()));
}

grpc::Status ControlService::ListReplicas(Ctx* ctx, const pb::ListReplicasRequest*,
                                          pb::ListReplicasResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  for (auto& r : node_->Replicas()) FillStatus(*node_, *r, resp->add_replicas());
  return grpc::Status::OK;
}

grpc::Status ControlService::GetReplica(Ctx* ctx, const pb::GetReplicaRequest* req,
                                        pb::ReplicaStatus* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  auto r = node_->Get(req->volume_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  FillStatus(*node_, **r, resp);
  return grpc::Status::OK;
}

grpc::Status ControlService::SetMembers(Ctx* ctx, const pb::SetMembersRequest* req,
                                        pb::ReplicaStatus* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (req->members_size() < 1 || req->members_size() > 5) {
    return Invalid(
        absl::StrCat("volume ", req->volume_id(), ": 1 to 5 members, not ", req->members_size()));
  }
  auto p = ServingPrimary(*node_, req->volume_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  std::vector<MemberInfo> members;
  bool has_self = false;
  for (const auto& mem : req->members()) {
    if (mem.node_id().empty()) return Invalid("a member needs a node_id");
    members.push_back(MemberFromProto(mem));
    has_self |= mem.node_id() == node_->options().node_id;
  }
  if (!has_self) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "the primary cannot remove itself; promote another replica first");
  }
  if (absl::Status s = CheckMembers(members, node_->options().node_id); !s.ok()) {
    return ToGrpcStatus(s);
  }
  auto& [replica, engine] = *p;
  const Manifest current = replica->manifest();
  for (const auto& mem : members) {
    const MemberInfo* was = current.FindMember(mem.node_id);
    if (was && was->witness != mem.witness) {
      return Invalid(absl::StrCat("node ", mem.node_id, " cannot turn ",
                                  mem.witness ? "into the witness" : "from witness into a replica",
                                  " in place: remove it, then add it again"));
    }
    // The primary's link and the quorum count it once: as one or the other.
    if (was && was->async != mem.async) {
      return Invalid(absl::StrCat("node ", mem.node_id, " cannot turn ",
                                  mem.async ? "asynchronous" : "synchronous",
                                  " in place: remove it, then add it again"));
    }
  }
  absl::Status s = replica->UpdateManifest([&](Manifest& m) {
    // A node added again after a promotion removed it is a member anew,
    // with a full copy: its old data went another way.
    for (const auto& mem : members) {
      if (!IsRemovedMember(m.attributes, mem.node_id)) continue;
      ClearRemovedMember(m.attributes, mem.node_id);
      m.member_generations.erase(mem.node_id);
    }
    m.members = members;
  });
  if (!s.ok()) return ToGrpcStatus(s);
  engine->ManifestChanged();
  FillStatus(*node_, *replica, resp);
  return grpc::Status::OK;
}

grpc::Status ControlService::SetAttributes(Ctx* ctx, const pb::SetAttributesRequest* req,
                                           pb::ReplicaStatus* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  auto p = ServingPrimary(*node_, req->volume_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  auto& [replica, engine] = *p;
  // The encryption attributes are the volume's, from its creation on: a
  // change would make its data unreadable.
  for (const auto& [k, v] : req->set()) {
    if (absl::StartsWith(k, kAttrCryptPrefix))
      return Invalid(CryptAttributeFixed(req->volume_id(), k));
    if (k == kAttrRemovedMembers || k == kAttrRemovedVersion) {
      return Invalid(RemovedMembersFixed(req->volume_id(), k));
    }
  }
  for (const auto& k : req->remove()) {
    if (absl::StartsWith(k, kAttrCryptPrefix))
      return Invalid(CryptAttributeFixed(req->volume_id(), k));
    if (k == kAttrRemovedMembers || k == kAttrRemovedVersion) {
      return Invalid(RemovedMembersFixed(req->volume_id(), k));
    }
  }
  std::string mismatch;
  absl::Status s = replica->UpdateManifest([&](Manifest& m) {
    for (const auto& [k, want] : req->expect()) {
      auto it = m.attributes.find(k);
      const std::string have = it == m.attributes.end() ? "" : it->second;
      if (have != want) {
        mismatch = absl::StrCat("attribute ", k, " of volume ", req->volume_id(), " is \"", have,
                                "\", not \"", want, "\"");
        return;
      }
    }
    for (const auto& [k, v] : req->set()) m.attributes[k] = v;
    for (const auto& k : req->remove()) m.attributes.erase(k);
  });
  if (!s.ok()) return ToGrpcStatus(s);
  if (!mismatch.empty()) return grpc::Status(grpc::StatusCode::ABORTED, mismatch);
  engine->ManifestChanged();
  node_->qos().Configure(req->volume_id(), replica->manifest().attributes);
  FillStatus(*node_, *replica, resp);
  return grpc::Status::OK;
}

grpc::Status ControlService::AcceptEpoch(Ctx* ctx, const pb::AcceptEpochRequest* req,
                                         pb::AcceptEpochResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  if (req->epoch() == 0 || req->primary_node_id().empty()) {
    return Invalid("epoch and primary_node_id are required");
  }
  auto r = node_->Get(req->volume_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  std::vector<MemberInfo> members;
  for (const auto& mem : req->members()) members.push_back(MemberFromProto(mem));
  ReleasedPrimary released{req->released_primary(), req->released_epoch()};
  auto result = (*r)->AcceptEpoch(req->epoch(), req->primary_node_id(), members, released);
  if (!result.ok()) return ToGrpcStatus(result.status());
  resp->set_previous_epoch(result->previous_epoch);
  resp->set_applied_seq(result->applied_seq);
  resp->set_consistent(result->consistent);
  resp->set_node_id(node_->options().node_id);
  resp->set_data_generation(result->data_generation);
  resp->set_witness(result->witness);
  for (const auto& id : result->outdated) resp->add_outdated(id);
  if (result->lag) {
    resp->mutable_last_lag()->set_ms(static_cast<int64_t>(result->lag->ms));
    resp->mutable_last_lag()->set_bytes(result->lag->bytes);
    resp->mutable_last_lag()->set_broken(result->lag->broken);
    resp->set_last_lag_unix_ms(result->lag_reported_unix_ms);
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::Promote(Ctx* ctx, const pb::PromoteRequest* req,
                                     pb::ReplicaStatus* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  PromoteOptions options;
  if (!req->reason().empty()) options.reason = req->reason();
  options.accept_data_loss = req->accept_data_loss();
  absl::Status s = PromoteReplica(*node_, req->volume_id(), options);
  if (!s.ok()) {
    spdlog::warn("promote {}: {}", req->volume_id(), s.message());
    return ToGrpcStatus(s);
  }
  auto r = node_->Get(req->volume_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  FillStatus(*node_, **r, resp);
  return grpc::Status::OK;
}

grpc::Status ControlService::RegionChecksums(Ctx* ctx, const pb::RegionChecksumsRequest* req,
                                             pb::RegionChecksumsResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  auto r = node_->Get(req->volume_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  if (absl::Status s = HoldsData(**r); !s.ok()) return ToGrpcStatus(s);
  Manifest m = (*r)->manifest();
  uint64_t region = req->region_size() ? req->region_size() : m.region_size;
  if (region < 4096 || region > (64u << 20)) {
    return Invalid(absl::StrCat("region_size ", region, " must be 4 KiB to 64 MiB"));
  }
  resp->set_region_size(region);
  resp->set_node_id(node_->options().node_id);
  resp->set_applied_seq((*r)->applied_seq());
  for (uint64_t off = 0; off < m.size_bytes; off += region) {
    auto crc = (*r)->store().Checksum(off, std::min(region, m.size_bytes - off));
    if (!crc.ok()) return ToGrpcStatus(crc.status());
    resp->add_crc32c(*crc);
  }
  return grpc::Status::OK;
}

grpc::Status ControlService::ReadRegion(Ctx* ctx, const pb::ReadRegionRequest* req,
                                        pb::ReadRegionResponse* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  auto r = node_->Get(req->volume_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  if (absl::Status s = HoldsData(**r); !s.ok()) return ToGrpcStatus(s);
  uint64_t size = (*r)->manifest().size_bytes;
  if (req->length() > kMaxReadRegion || req->offset() > size ||
      req->length() > size - req->offset()) {
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat("read of ", req->length(), " bytes at ", req->offset(),
                                     " is past the end (", size, ") or over 4 MiB"));
  }
  std::string* data = resp->mutable_data();
  data->resize(req->length());
  return ToGrpcStatus((*r)->store().Read(req->offset(), data->data(), req->length()));
}

grpc::Status ControlService::Resync(Ctx* ctx, const pb::ResyncRequest* req,
                                    pb::ReplicaStatus* resp) {
  if (grpc::Status denied = authorizer_.Check(*ctx, __func__); !denied.ok()) return denied;
  auto p = ServingPrimary(*node_, req->volume_id());
  if (!p.ok()) return ToGrpcStatus(p.status());
  auto& [replica, engine] = *p;
  absl::Status s = engine->RequestResync(req->node_id(), req->full());
  if (!s.ok()) return ToGrpcStatus(s);
  FillStatus(*node_, *replica, resp);
  return grpc::Status::OK;
}

}  // namespace syncblock::repl
