#include "replication/client/volume_view.h"

#include <algorithm>

#include "replication/util/status_macros.h"

namespace syncblock::repl {

namespace cv1 = ::syncblock::control::v1;

const char* PeerStateName(cv1::PeerState state) {
  switch (state) {
    case cv1::PEER_IN_SYNC:
      return "in_sync";
    case cv1::PEER_RESYNCING:
      return "resyncing";
    case cv1::PEER_FAILED:
      return "failed";
    case cv1::PEER_OFFLINE:
    default:
      // An unspecified state means the primary has not heard from the peer.
      return "offline";
  }
}

const cv1::ReplicaStatus* AuthoritativeReplica(const std::vector<cv1::ReplicaStatus>& answers) {
  const cv1::ReplicaStatus* best = nullptr;
  for (const auto& a : answers) {
    if (a.role() != cv1::ROLE_PRIMARY || a.fenced()) continue;
    if (!best || a.epoch() > best->epoch()) best = &a;
  }
  return best;
}

const cv1::ReplicaStatus* NewestReplica(const std::vector<cv1::ReplicaStatus>& answers) {
  if (const auto* auth = AuthoritativeReplica(answers)) return auth;
  const cv1::ReplicaStatus* best = nullptr;
  for (const auto& a : answers) {
    if (!best || a.epoch() > best->epoch()) best = &a;
  }
  return best;
}

namespace {

const cv1::ReplicaStatus* AnswerFrom(const std::vector<cv1::ReplicaStatus>& answers,
                                     const std::string& node) {
  for (const auto& a : answers) {
    if (a.node_id() == node) return &a;
  }
  return nullptr;
}

// A member the primary does not report on (or with no primary): judged by its
// own answer, or offline when it did not answer.
ReplicaView FromOwnAnswer(const std::vector<cv1::ReplicaStatus>& answers, const std::string& node) {
  ReplicaView r;
  r.node = node;
  const auto* own = AnswerFrom(answers, node);
  if (!own) {
    r.state = "offline";
    r.message = "did not answer";
  } else if (own->fenced()) {
    r.state = "failed";
    r.message = "fenced: lost the primary role";
  } else {
    r.state = own->consistent() ? "in_sync" : "resyncing";
    if (own->reported_lag_unix_ms() > 0) {
      // No primary to ask: what the last one reported to it.
      r.lag.known = true;
      r.lag.reported_unix_ms = own->reported_lag_unix_ms();
      r.lag.bytes = own->reported_lag().bytes();
      r.lag.ms = own->reported_lag().ms();
      r.lag.broken = own->reported_lag().broken();
      if (r.lag.broken) r.lag.broken_since_unix_ms = r.lag.reported_unix_ms - r.lag.ms;
    }
  }
  return r;
}

// Every member, the witness among them, in `v.replicas`.
absl::StatusOr<VolumeView> BuildMembersView(const std::vector<cv1::ReplicaStatus>& answers) {
  const cv1::ReplicaStatus* newest = NewestReplica(answers);
  if (!newest) return absl::NotFoundError("volume not found on any storage node");
  const cv1::ReplicaStatus* primary = AuthoritativeReplica(answers);

  VolumeView v;
  v.id = newest->volume_id();
  v.size_bytes = newest->size_bytes();
  v.epoch = newest->epoch();
  v.primary = primary ? primary->node_id() : newest->primary_node_id();
  v.attributes.insert(newest->attributes().begin(), newest->attributes().end());
  for (const auto& a : answers) {
    v.encrypted = v.encrypted || a.encrypted();
    if (a.locked()) v.locked_on.push_back(a.node_id());
  }

  // Members in the newest member list's order, primary first.
  std::vector<std::string> members;
  members.push_back(v.primary);
  for (const auto& m : newest->members()) {
    if (std::find(members.begin(), members.end(), m.node_id()) == members.end()) {
      members.push_back(m.node_id());
    }
  }

  if (primary) {
    v.nbd_uri = primary->nbd_uri();
    v.serving = primary->serving();
    v.lease_remaining_ms = primary->lease_remaining_ms();
    v.primary_since_unix_ms = primary->primary_since_unix_ms();
    v.last_failover_unix_ms = primary->last_failover_unix_ms();
    v.last_failover_from = primary->last_failover_from();
    v.last_failover_reason = primary->last_failover_reason();
    ReplicaView self;
    self.node = primary->node_id();
    self.state = "in_sync";
    self.message = primary->local_error();
    v.replicas.push_back(self);
    for (const auto& p : primary->peers()) {
      if (std::find(members.begin(), members.end(), p.node_id()) == members.end()) {
        members.push_back(p.node_id());
      }
    }
    for (size_t i = 1; i < members.size(); ++i) {
      const auto& node = members[i];
      auto peer = std::find_if(primary->peers().begin(), primary->peers().end(),
                               [&](const auto& p) { return p.node_id() == node; });
      if (peer == primary->peers().end()) {
        v.replicas.push_back(FromOwnAnswer(answers, node));
        continue;
      }
      ReplicaView r;
      r.node = node;
      r.state = PeerStateName(peer->state());
      r.bytes_copied = peer->resync().bytes_copied();
      r.bytes_total = peer->resync().bytes_total();
      r.rate_bytes_per_second = peer->resync().rate_bytes_per_second();
      r.eta_seconds = peer->resync().eta_seconds();
      r.full_copy = peer->resync().full();
      r.message = peer->message();
      if (peer->async()) {
        r.lag.known = true;
        r.lag.bytes = peer->lag().bytes();
        r.lag.ms = peer->lag().ms();
        r.lag.broken = peer->lag().broken();
        r.lag.broken_since_unix_ms = peer->lag().broken_since_unix_ms();
        r.lag.throttled_writes = peer->lag().throttled_writes();
      }
      v.replicas.push_back(r);
    }
    return v;
  }

  for (const auto& node : members) {
    ReplicaView r = FromOwnAnswer(answers, node);
    if (node == v.primary && r.state != "failed") {
      // Whatever it says of itself, a primary that does not serve as one is
      // not serving the volume.
      r.state = "offline";
      if (AnswerFrom(answers, node)) r.message = "not acting as primary";
    }
    v.replicas.push_back(r);
  }
  return v;
}

}  // namespace

absl::StatusOr<VolumeView> BuildVolumeView(const std::vector<cv1::ReplicaStatus>& answers) {
  ASSIGN_OR_RETURN(VolumeView v, BuildMembersView(answers));
  std::string witness_id;
  for (const auto& m : NewestReplica(answers)->members()) {
    if (m.witness()) witness_id = m.node_id();
    if (!m.async()) continue;
    for (auto& r : v.replicas) r.async = r.async || r.node == m.node_id();
  }
  if (witness_id.empty()) return v;
  // The witness is no copy of the data: shown apart, with its record.
  auto it = std::find_if(v.replicas.begin(), v.replicas.end(),
                         [&](const ReplicaView& r) { return r.node == witness_id; });
  ReplicaView w;
  if (it != v.replicas.end()) {
    w = *it;
    v.replicas.erase(it);
  } else {
    w.node = witness_id;
    w.state = "offline";
  }
  // Never behind: it has nothing to catch up on.
  if (w.state == "resyncing") w.state = "in_sync";
  if (const auto* own = AnswerFrom(answers, witness_id)) {
    v.witness_outdated.assign(own->outdated().begin(), own->outdated().end());
  }
  v.witness = std::move(w);
  return v;
}

}  // namespace syncblock::repl
