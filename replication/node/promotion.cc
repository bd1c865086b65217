#include "replication/node/promotion.h"

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "replication/engine/primary_engine.h"
#include "replication/node/forced_promotion.h"
#include "replication/node/promotion_steps.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

// A primary with its majority's lease: one without may be forced.
bool Serving(Replica& replica) {
  std::shared_ptr<PrimaryEngine> engine = replica.engine();
  if (!engine) return false;
  EngineView v = engine->View();
  return v.active && !v.fenced && v.lease_remaining_ms != 0;
}

// One round: epoch+1 asked of every member.
absl::Status PromoteOnce(StorageNode& node, const std::string& volume_id,
                         const PromoteOptions& options) {
  const std::chrono::milliseconds timeout = options.rpc_timeout;
  ASSIGN_OR_RETURN(auto replica, node.Get(volume_id));
  const std::string self = node.options().node_id;
  Manifest m = replica->manifest();
  uint64_t epoch = std::max(m.epoch + 1, options.min_epoch);

  std::vector<EpochAnswer> answers(m.members.size());
  for (size_t i = 0; i < m.members.size(); ++i) answers[i].member = m.members[i];
  // A planned move asks the primary first: once it has accepted the new
  // epoch it acknowledges nothing more, so its replicas' promises to it no
  // longer matter (failover.md).
  ReleasedPrimary released;
  for (auto& a : answers) {
    if (!options.planned || a.member.node_id != m.primary_node_id || a.member.node_id == self) {
      continue;
    }
    a.asked = true;
    a.result = AskToAcceptEpoch(a.member, m, epoch, self, {}, timeout);
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
  AskInParallel(answers, m, epoch, *replica, self, released, timeout);
  for (const auto& a : answers) {
    // A promotion that accepted data loss removed this node: it must not
    // serve (async_replicas.md, "Promotion"). The elector then reads the
    // whole record from that member's status, and this replica adopts it.
    if (absl::IsAborted(a.result.status())) return a.result.status();
  }

  int accepted = 0;
  std::vector<std::string> refusals;
  const EpochAnswer* source = nullptr;
  const EpochAnswer* mine = nullptr;
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
    RETURN_IF_ERROR(CatchUpFrom(*replica, epoch, source->member, timeout));
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
  // Refusals that waiting does not change.
  ASSIGN_OR_RETURN(auto replica, node.Get(volume_id));
  const std::string& self = node.options().node_id;
  if (replica->witness()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id, ": ", self,
                     " is its witness and holds no data; promote a data replica"));
  }
  if (replica->manifest().primary_node_id == self && replica->IsPrimary() &&
      (!options.accept_data_loss || Serving(*replica))) {
    return absl::OkStatus();
  }
  if (options.accept_data_loss) return PromoteAcceptingDataLoss(node, *replica, options);
  if (replica->manifest().IsAsync(self)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", volume_id, ": ", self,
        " is an asynchronous replica and may lack acknowledged writes; promote a synchronous "
        "replica, or, when no majority of them is left, promote it with --accept-data-loss"));
  }
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
