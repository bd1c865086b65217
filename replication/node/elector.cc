#include "replication/node/elector.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "replication/crypt/key_wrap.h"
#include "replication/node/promotion.h"
#include "replication/proto/control.grpc.pb.h"
#include "replication/security/grpc_credentials.h"
#include "replication/types/removed_members.h"
#include "replication/util/logging.h"

namespace syncblock::repl {
namespace {

namespace pb = syncblock::control::v1;

struct Probe {
  MemberInfo member;
  bool answered = false;
  pb::ReplicaStatus status;
};

Probe Ask(const MemberInfo& member, const std::string& volume_id,
          std::chrono::milliseconds timeout) {
  Probe p;
  p.member = member;
  auto stub = pb::StorageControl::NewStub(
      grpc::CreateChannel(member.control_address, security::ProcessChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  pb::GetReplicaRequest req;
  req.set_volume_id(volume_id);
  p.answered = stub->GetReplica(&ctx, req, &p.status).ok();
  return p;
}

struct Candidate {
  bool consistent = false;
  // Holds the volume's data key (replication/doc/encryption.md): an
  // encrypted volume's locked replica could take the role but not serve.
  // Always true for a volume that is not encrypted.
  bool unlocked = true;
  uint64_t seq = 0;
  std::string node_id;
};

// The candidate order: consistent first, then unlocked, then the highest
// applied sequence (the promotion catches up the rest from the others), then
// the smallest node id. Every node computes the same order from the same
// answers.
bool Better(const Candidate& a, const Candidate& b) {
  if (a.consistent != b.consistent) return a.consistent;
  if (a.unlocked != b.unlocked) return a.unlocked;
  if (a.seq != b.seq) return a.seq > b.seq;
  return a.node_id < b.node_id;
}

}  // namespace

Elector::Elector(StorageNode& node, ElectorOptions opts) : node_(node), opts_(opts) {}

Elector::~Elector() { Stop(); }

void Elector::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Elector::Stop() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void Elector::Loop() {
  std::mt19937 random(std::random_device{}());
  const auto quarter = std::max<int64_t>(1, opts_.interval.count() / 4);
  std::uniform_int_distribution<int64_t> jitter(-quarter, quarter);
  while (true) {
    {
      MutexLock l(&mu_);
      wake_.WaitWithTimeout(&mu_, absl::Milliseconds(opts_.interval.count() + jitter(random)));
      if (stopping_) return;
    }
    if (!node_.started()) continue;
    for (const auto& replica : node_.Replicas()) Consider(replica);
  }
}

void Elector::Consider(const std::shared_ptr<Replica>& replica) {
  const std::string self = node_.options().node_id;
  // A witness votes when asked; it never runs, holding no data.
  if (replica->witness()) return;
  if (replica->IsPrimary() || replica->PromiseRemaining().count() > 0) {
    starting_since_.erase(replica->id());
    return;
  }
  const Manifest m = replica->manifest();
  if (m.members.size() < 2 || m.FindMember(self) == nullptr) return;
  // A promotion that accepted data loss removed this replica.
  if (IsRemovedMember(m.attributes, self)) return;
  // An asynchronous replica may lack acknowledged writes, and its promise
  // keeps no primary serving: it neither runs nor counts. Only a person
  // promotes it (ctl promote --accept-data-loss).
  if (m.IsAsync(self)) return;
  // A node named primary here that runs no engine (a candidate whose
  // promotion failed, or a primary that was fenced) takes part like the rest.

  std::vector<std::future<Probe>> asks;
  for (const auto& member : m.members) {
    if (member.node_id == self) continue;
    asks.push_back(std::async(std::launch::async, Ask, member, m.volume_id, opts_.probe_timeout));
  }
  int lost = 1;  // replicas that no longer hear the primary: this one
  uint64_t max_epoch = m.epoch;
  const bool self_unlocked = !IsEncrypted(m.attributes) || node_.keys().Unlocked(m.volume_id);
  std::vector<Candidate> candidates{
      {replica->consistent(), self_unlocked, replica->applied_seq(), self}};
  std::vector<Probe> probes;
  for (auto& f : asks) probes.push_back(f.get());
  // A member of a newer lineage lists this replica as removed by a
  // promotion that accepted data loss: it must never serve nor elect,
  // whoever else it may still reach (removed_members.h). An older record
  // (a member that missed this node's return) is not believed.
  for (const Probe& p : probes) {
    // A node this replica knows removed speaks for no lineage it believes.
    if (!p.answered || IsRemovedMember(m.attributes, p.status.node_id())) continue;
    std::map<std::string, std::string> record(p.status.attributes().begin(),
                                              p.status.attributes().end());
    if (RemovedVersion(record) > RemovedVersion(m.attributes) && IsRemovedMember(record, self)) {
      absl::Status marked = replica->MarkRemoved(
          record,
          absl::StrCat(p.status.node_id(), " (epoch ", p.status.epoch(), ") lists it as removed"));
      if (!marked.ok()) spdlog::error("volume {}: {}", m.volume_id, marked.message());
      return;
    }
  }
  // What a witness that answered records: replicas that missed writes.
  std::set<std::string> outdated;
  for (const Probe& p : probes) {
    if (!p.answered) continue;
    const pb::ReplicaStatus& s = p.status;
    max_epoch = std::max(max_epoch, s.epoch());
    // An asynchronous member that serves as primary (promoted with
    // --accept-data-loss) is a primary like any: no election.
    if (m.IsAsync(s.node_id()) && !(s.role() == pb::ROLE_PRIMARY && s.serving())) continue;
    if (s.role() == pb::ROLE_PRIMARY && s.node_id() == s.primary_node_id()) {
      if (s.serving()) {
        if (s.epoch() == m.epoch && s.node_id() != m.primary_node_id) {
          // This replica voted for a candidate that lost this epoch; the
          // winner serves it (a majority accepted it), so no one else can.
          spdlog::info("volume {}: {} serves epoch {}: following it", m.volume_id, s.node_id(),
                       m.epoch);
          absl::Status st = replica->UpdateManifest([&](Manifest& next) {
            next.primary_node_id = s.node_id();
            next.primary_confirmed = true;
          });
          if (!st.ok()) spdlog::error("volume {}: {}", m.volume_id, st.message());
        }
        starting_since_.erase(m.volume_id);
        return;  // a primary serves: its hello comes, or its link comes back
      }
      // A primary that answers but does not serve yet (it restarted, or was
      // just elected, and its hellos are on their way) is given a few leases
      // to gather its majority; one that is fenced, or still not serving
      // after that, acknowledges nothing: it agrees there is none, but is no
      // candidate.
      if (!s.fenced()) {
        auto [it, fresh] = starting_since_.try_emplace(m.volume_id, Clock::now());
        if (Clock::now() - it->second < 3 * node_.options().engine.lease_duration) return;
      }
      ++lost;
      continue;
    }
    // A secondary whose promise has run out, at whatever epoch (it may have
    // voted for a candidate that never took the role), votes for the next.
    if (s.witness()) outdated.insert(s.outdated().begin(), s.outdated().end());
    if (s.lease_remaining_ms() > 0) continue;
    ++lost;
    if (!s.witness()) {
      candidates.push_back({s.consistent(), !s.locked(), s.applied_seq(), s.node_id()});
    }
  }
  if (lost < m.Quorum()) return;
  std::erase_if(candidates, [&](const Candidate& c) { return outdated.count(c.node_id) > 0; });
  if (candidates.empty()) {
    spdlog::warn(
        "volume {}: the primary {} is gone, and the witness records every replica that lost it "
        "as outdated (they missed acknowledged writes); waiting for {}",
        m.volume_id, m.primary_node_id, m.primary_node_id);
    return;
  }
  const Candidate& top =
      *std::min_element(candidates.begin(), candidates.end(),
                        [](const Candidate& a, const Candidate& b) { return Better(a, b); });
  const bool best_consistent = top.consistent;
  const std::string best = top.node_id;
  if (!best_consistent) {
    spdlog::warn(
        "volume {}: the primary {} is gone but no replica that lost it is complete; "
        "waiting",
        m.volume_id, m.primary_node_id);
    return;
  }
  if (best != self) return;  // that one elects itself
  starting_since_.erase(m.volume_id);

  PromoteOptions options;
  options.planned = false;
  // Past every epoch seen: votes for a candidate that never served do not
  // block the next election.
  options.min_epoch = max_epoch + 1;
  options.rpc_timeout = opts_.promote_timeout;
  options.reason =
      absl::StrCat("election: ", lost, " of ", m.VotingMembers(), " replicas lost the lease of ",
                   m.primary_node_id, " (epoch ", m.epoch, ")");
  spdlog::warn("volume {}: no primary: {}; {} runs for epoch {}", m.volume_id, options.reason, self,
               options.min_epoch);
  absl::Status s = PromoteReplica(node_, m.volume_id, options);
  if (s.ok()) {
    ++won_;
  } else {
    ++failed_;
    spdlog::warn("volume {}: election for epoch {} failed: {}", m.volume_id, options.min_epoch,
                 s.message());
  }
}

}  // namespace syncblock::repl
