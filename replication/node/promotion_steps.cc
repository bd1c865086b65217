#include "replication/node/promotion_steps.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <map>

#include "absl/strings/str_cat.h"
#include "replication/engine/snapshot_registry.h"
#include "replication/node/member_proto.h"
#include "replication/proto/control.grpc.pb.h"
#include "replication/security/grpc_credentials.h"
#include "replication/util/grpc_status.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

namespace pb = syncblock::control::v1;

constexpr uint32_t kReadChunk = 4 << 20;

void SetDeadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

}  // namespace

std::unique_ptr<pb::StorageControl::Stub> ControlStub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  return pb::StorageControl::NewStub(
      grpc::CreateCustomChannel(address, security::ProcessChannelCredentials(), args));
}

absl::StatusOr<AcceptEpochResult> AskToAcceptEpoch(const MemberInfo& member, const Manifest& m,
                                                   uint64_t epoch, const std::string& self,
                                                   const ReleasedPrimary& released,
                                                   std::chrono::milliseconds timeout) {
  pb::AcceptEpochRequest req;
  req.set_volume_id(m.volume_id);
  req.set_epoch(epoch);
  req.set_primary_node_id(self);
  req.set_released_primary(released.node_id);
  req.set_released_epoch(released.epoch);
  for (const auto& mem : m.members) MemberToProto(mem, req.add_members());
  pb::AcceptEpochResponse resp;
  grpc::ClientContext ctx;
  SetDeadline(ctx, timeout);
  grpc::Status s = ControlStub(member.control_address)->AcceptEpoch(&ctx, req, &resp);
  RETURN_IF_ERROR(FromGrpcStatus(
      s, absl::StrCat("AcceptEpoch on ", member.node_id, " (", member.control_address, ")")));
  AcceptEpochResult r;
  r.previous_epoch = resp.previous_epoch();
  r.applied_seq = resp.applied_seq();
  r.consistent = resp.consistent();
  r.data_generation = resp.data_generation();
  r.witness = resp.witness();
  r.outdated.insert(resp.outdated().begin(), resp.outdated().end());
  if (resp.last_lag_unix_ms() > 0) {
    r.lag = LagReport{static_cast<uint64_t>(std::max<int64_t>(0, resp.last_lag().ms())),
                      resp.last_lag().bytes(), resp.last_lag().broken()};
    r.lag_reported_unix_ms = resp.last_lag_unix_ms();
  }
  return r;
}

// Copies into `replica` every region whose checksum differs from `source`'s.
absl::Status CatchUpFrom(Replica& replica, uint64_t epoch, const MemberInfo& source,
                         std::chrono::milliseconds timeout) {
  Manifest m = replica.manifest();
  auto stub = ControlStub(source.control_address);
  pb::RegionChecksumsRequest req;
  req.set_volume_id(m.volume_id);
  req.set_region_size(m.region_size);
  pb::RegionChecksumsResponse sums;
  {
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout * 6);
    RETURN_IF_ERROR(FromGrpcStatus(stub->RegionChecksums(&ctx, req, &sums),
                                   "RegionChecksums on " + source.node_id));
  }
  uint64_t copied = 0;
  for (int i = 0; i < sums.crc32c_size(); ++i) {
    uint64_t off = static_cast<uint64_t>(i) * m.region_size;
    if (off >= m.size_bytes) break;
    uint64_t len = std::min(m.region_size, m.size_bytes - off);
    ASSIGN_OR_RETURN(uint32_t mine, replica.store().Checksum(off, len));
    if (mine == sums.crc32c(i)) continue;
    for (uint64_t at = off; at < off + len; at += kReadChunk) {
      pb::ReadRegionRequest rr;
      rr.set_volume_id(m.volume_id);
      rr.set_offset(at);
      rr.set_length(static_cast<uint32_t>(std::min<uint64_t>(kReadChunk, off + len - at)));
      pb::ReadRegionResponse data;
      grpc::ClientContext ctx;
      SetDeadline(ctx, timeout);
      RETURN_IF_ERROR(
          FromGrpcStatus(stub->ReadRegion(&ctx, rr, &data), "ReadRegion on " + source.node_id));
      RETURN_IF_ERROR(replica.WriteAsCandidate(epoch, at, data.data()));
      copied += data.data().size();
    }
  }
  RETURN_IF_ERROR(replica.store().Sync());
  spdlog::info("volume {}: promotion took {} bytes from {}", m.volume_id, copied, source.node_id);
  return absl::OkStatus();
}

// The snapshots the new primary starts with (snapshots.md, "Promotion"): every
// one held complete by a replica that accepted the new epoch. A ready snapshot
// is held by a majority, and the accepting replicas are a majority too, so
// none is lost. Written as its registry at the new epoch, so the engine
// trusts it.
absl::Status SeedSnapshotRegistry(Replica& replica, const std::vector<EpochAnswer>& answers,
                                  const std::string& self, uint64_t epoch,
                                  std::chrono::milliseconds timeout) {
  Manifest m = replica.manifest();
  std::map<std::string, SnapshotEntry> seen;
  for (const SnapshotRecord& r : replica.store().snapshots().List()) {
    if (!r.complete) continue;
    SnapshotRecord rec = r;
    rec.materialized = false;
    seen[r.name] = SnapshotEntry{rec, {self}};
  }
  for (const auto& a : answers) {
    if (a.member.node_id == self || !a.result.ok()) continue;
    pb::ListSnapshotsRequest req;
    req.set_volume_id(m.volume_id);
    pb::ListSnapshotsResponse resp;
    grpc::ClientContext ctx;
    SetDeadline(ctx, timeout);
    grpc::Status s = ControlStub(a.member.control_address)->ListSnapshots(&ctx, req, &resp);
    if (!s.ok()) {
      // Its snapshots are learned at its hello if this node holds them too.
      spdlog::warn("volume {}: snapshots of {}: {}", m.volume_id, a.member.node_id,
                   s.error_message());
      continue;
    }
    for (const auto& snap : resp.snapshots()) {
      bool held = false;
      for (const auto& rep : snap.replicas()) {
        held |= rep.node_id() == a.member.node_id && rep.state() == pb::SNAPSHOT_READY;
      }
      if (!held) continue;
      auto [it, fresh] = seen.try_emplace(snap.name());
      if (fresh) {
        it->second.record.name = snap.name();
        it->second.record.size_bytes = snap.size_bytes();
        it->second.record.seq = snap.seq();
        it->second.record.created_unix_ms = snap.creation_time_unix_ms();
      }
      it->second.holders.insert(a.member.node_id);
    }
  }
  ASSIGN_OR_RETURN(auto registry,
                   SnapshotRegistry::Load(replica.store().dir() + "/" + kSnapshotRegistryFile));
  registry.entries().clear();
  for (auto& [name, e] : seen) registry.entries()[name] = std::move(e);
  registry.set_epoch(epoch);
  return registry.Save();
}

void AskInParallel(std::vector<EpochAnswer>& answers, const Manifest& m, uint64_t epoch,
                   Replica& replica, const std::string& self, const ReleasedPrimary& released,
                   std::chrono::milliseconds timeout) {
  std::vector<std::future<void>> asks;
  for (auto& a : answers) {
    if (a.asked) continue;
    a.asked = true;
    if (a.member.node_id == self) {
      a.result = replica.AcceptEpoch(epoch, self, m.members, released);
      continue;
    }
    asks.push_back(std::async(std::launch::async, [&a, &m, &self, &released, epoch, timeout] {
      a.result = AskToAcceptEpoch(a.member, m, epoch, self, released, timeout);
    }));
  }
  for (auto& f : asks) f.wait();
}

}  // namespace syncblock::repl
