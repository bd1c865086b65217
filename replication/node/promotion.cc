#include "replication/node/promotion.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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

std::unique_ptr<pb::StorageControl::Stub> Stub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(256 << 20);
  return pb::StorageControl::NewStub(
      grpc::CreateCustomChannel(address, security::ProcessChannelCredentials(), args));
}

void SetDeadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

struct Answer {
  MemberInfo member;
  absl::StatusOr<AcceptEpochResult> result = absl::UnknownError("not asked");
};

absl::StatusOr<AcceptEpochResult> AskRemote(const MemberInfo& member, const Manifest& m,
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
  grpc::Status s = Stub(member.control_address)->AcceptEpoch(&ctx, req, &resp);
  RETURN_IF_ERROR(FromGrpcStatus(
      s, absl::StrCat("AcceptEpoch on ", member.node_id, " (", member.control_address, ")")));
  AcceptEpochResult r;
  r.previous_epoch = resp.previous_epoch();
  r.applied_seq = resp.applied_seq();
  r.consistent = resp.consistent();
  r.data_generation = resp.data_generation();
  r.witness = resp.witness();
  r.outdated.insert(resp.outdated().begin(), resp.outdated().end());
  return r;
}

// Copies into `replica` every region whose checksum differs from `source`'s.
absl::Status CatchUp(Replica& replica, uint64_t epoch, const MemberInfo& source,
                     std::chrono::milliseconds timeout) {
  Manifest m = replica.manifest();
  auto stub = Stub(source.control_address);
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
absl::Status SeedSnapshotRegistry(Replica& replica, const std::vector<Answer>& answers,
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
    grpc::Status s = Stub(a.member.control_address)->ListSnapshots(&ctx, req, &resp);
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

// One round: epoch+1 asked of every member.
absl::Status PromoteOnce(StorageNode& node, const std::string& volume_id,
                         const PromoteOptions& options) {
  const std::chrono::milliseconds timeout = options.rpc_timeout;
  ASSIGN_OR_RETURN(auto replica, node.Get(volume_id));
  const std::string self = node.options().node_id;
  Manifest m = replica->manifest();
  if (m.primary_node_id == self && replica->IsPrimary()) return absl::OkStatus();
  if (replica->witness()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id, ": ", self,
                     " is its witness and holds no data; promote a data "
                     "replica"));
  }
  if (m.IsAsync(self)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", volume_id, ": ", self,
        " is an asynchronous replica and may lack acknowledged writes; promote a synchronous "
        "replica"));
  }
  uint64_t epoch = std::max(m.epoch + 1, options.min_epoch);

  std::vector<Answer> answers(m.members.size());
  for (size_t i = 0; i < m.members.size(); ++i) answers[i].member = m.members[i];
  // A planned move asks the primary first: once it has accepted the new
  // epoch it acknowledges nothing more, so its replicas' promises to it no
  // longer matter (failover.md).
  ReleasedPrimary released;
  for (auto& a : answers) {
    if (!options.planned || a.member.node_id != m.primary_node_id || a.member.node_id == self) {
      continue;
    }
    a.result = AskRemote(a.member, m, epoch, self, {}, timeout);
    // Only a primary that held the role counts: a candidate that never
    // took it releases no one's promise.
    if (a.result.ok() && m.primary_confirmed) released = {m.primary_node_id, m.epoch};
    if (!a.result.ok()) {
      spdlog::warn(
          "volume {}: the primary {} did not step down ({}); the others decide by their "
          "lease",
          volume_id, a.member.node_id, a.result.status().message());
    }
  }
  std::vector<std::future<void>> asks;
  for (size_t i = 0; i < answers.size(); ++i) {
    Answer& a = answers[i];
    if (options.planned && a.member.node_id == m.primary_node_id && a.member.node_id != self) {
      continue;  // asked above
    }
    if (a.member.node_id == self) {
      a.result = replica->AcceptEpoch(epoch, self, m.members, released);
      continue;
    }
    asks.push_back(
        std::async(std::launch::async, [&answers, &m, &self, &released, i, epoch, timeout] {
          answers[i].result = AskRemote(answers[i].member, m, epoch, self, released, timeout);
        }));
  }
  for (auto& f : asks) f.wait();

  int accepted = 0;
  std::vector<std::string> refusals;
  const Answer* source = nullptr;
  const Answer* mine = nullptr;
  // A witness's record: replicas that missed acknowledged writes are no
  // source, whatever they believe of themselves.
  std::set<std::string> outdated;
  for (const auto& a : answers) {
    if (a.result.ok() && a.result->witness) {
      outdated.insert(a.result->outdated.begin(), a.result->outdated.end());
    }
  }
  for (const auto& a : answers) {
    if (!a.result.ok()) {
      refusals.push_back(std::string(a.result.status().message()));
      continue;
    }
    // An asynchronous replica's vote counts in no quorum, and it may lack
    // acknowledged writes: no source either.
    if (m.IsAsync(a.member.node_id)) continue;
    ++accepted;
    if (a.member.node_id == self) mine = &a;
    if (!a.result->consistent || a.result->witness || outdated.count(a.member.node_id)) continue;
    // The most advanced consistent replica holds every write a majority
    // acknowledged: the accepting majority overlaps every acknowledging one.
    if (!source || a.result->applied_seq > source->result->applied_seq ||
        (a.result->applied_seq == source->result->applied_seq && a.member.node_id == self)) {
      source = &a;
    }
  }
  if (accepted < m.Quorum()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id, ": only ", accepted, " of ", m.VotingMembers(),
                     " replicas accepted epoch ", epoch, " (", m.Quorum(),
                     " needed): ", absl::StrJoin(refusals, "; ")));
  }
  if (!source || !mine) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id, ": no replica that accepted epoch ", epoch,
                     " is known to be complete; wait for the resync to finish"));
  }
  if (source != mine &&
      (source->result->applied_seq != mine->result->applied_seq || !mine->result->consistent)) {
    RETURN_IF_ERROR(CatchUp(*replica, epoch, source->member, timeout));
  }
  RETURN_IF_ERROR(SeedSnapshotRegistry(*replica, answers, self, epoch, timeout));
  uint64_t reference = source->result->applied_seq;
  // The new primary's sequence numbers start past every write a majority
  // holds, whatever its wall clock says: elections compare them.
  replica->NoteApplied(reference);
  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  RETURN_IF_ERROR(replica->BecomePrimary(epoch, [&](Manifest& next) {
    next.primary_since_unix_ms = now_ms;
    next.last_failover_unix_ms = now_ms;
    next.last_failover_from = m.primary_node_id;
    next.last_failover_reason = options.reason;
    next.checksum_resync.clear();
    for (const auto& a : answers) {
      if (a.member.node_id == self || a.member.witness) continue;
      if (a.result.ok()) next.member_generations[a.member.node_id] = a.result->data_generation;
      // Same stream position and complete: identical to the reference.
      // Anything else is compared by checksums when it connects.
      bool same = a.result.ok() && a.result->consistent && a.result->applied_seq == reference;
      if (!same) next.checksum_resync.insert(a.member.node_id);
    }
  }));
  spdlog::info("volume {}: node {} is primary at epoch {} ({} of {} accepted; {})", volume_id, self,
               epoch, accepted, m.members.size(), options.reason);
  return absl::OkStatus();
}

}  // namespace

absl::Status PromoteReplica(StorageNode& node, const std::string& volume_id,
                            const PromoteOptions& options) {
  absl::Status s = PromoteOnce(node, volume_id, options);
  // A planned move whose primary did not step down (it is dead or frozen) is
  // refused by replicas that still hear it; a lease later they no longer do,
  // or an election has put another primary in place, which the next round
  // asks to step down. Twice at most: then the error says why.
  for (int round = 0; round < 2 && options.planned && absl::IsFailedPrecondition(s); ++round) {
    spdlog::info("volume {}: promotion refused ({}); again in {} ms", volume_id, s.message(),
                 node.options().engine.lease_duration.count());
    std::this_thread::sleep_for(node.options().engine.lease_duration);
    s = PromoteOnce(node, volume_id, options);
  }
  return s;
}

}  // namespace syncblock::repl
