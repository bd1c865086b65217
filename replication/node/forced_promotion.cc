#include "replication/node/forced_promotion.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "replication/node/promotion_steps.h"
#include "replication/types/removed_members.h"
#include "replication/util/logging.h"
#include "replication/util/status_macros.h"

namespace syncblock::repl {
namespace {

namespace pb = syncblock::control::v1;

struct Survey {
  int voting_answered = 0;
  std::string serving_primary;
  uint64_t max_epoch = 0;  // the newest epoch any member that answered holds
  // The newest record of removed members among those that answered
  // (removed_members.h): this replica may have missed a change of it.
  std::map<std::string, std::string> newest_record;
};

// Who answers before anything changes: a promotion that loses data is
// refused while one that loses nothing is possible.
Survey Ask(const Manifest& m, const std::string& self, std::chrono::milliseconds timeout) {
  std::vector<std::future<absl::StatusOr<pb::ReplicaStatus>>> asks;
  for (const auto& mem : m.members) {
    if (mem.node_id == self) {
      asks.emplace_back();
      continue;
    }
    asks.push_back(
        std::async(std::launch::async, [&m, mem, timeout]() -> absl::StatusOr<pb::ReplicaStatus> {
          pb::GetReplicaRequest req;
          req.set_volume_id(m.volume_id);
          pb::ReplicaStatus status;
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + timeout);
          grpc::Status s = ControlStub(mem.control_address)->GetReplica(&ctx, req, &status);
          if (!s.ok()) return absl::UnavailableError(s.error_message());
          return status;
        }));
  }
  Survey survey;
  for (size_t i = 0; i < m.members.size(); ++i) {
    const MemberInfo& mem = m.members[i];
    if (mem.node_id == self) {
      survey.voting_answered += mem.async ? 0 : 1;
      continue;
    }
    absl::StatusOr<pb::ReplicaStatus> status = asks[i].get();
    if (!status.ok()) continue;
    survey.voting_answered += mem.async ? 0 : 1;
    survey.max_epoch = std::max(survey.max_epoch, status->epoch());
    std::map<std::string, std::string> attributes(status->attributes().begin(),
                                                  status->attributes().end());
    if (RemovedVersion(attributes) > RemovedVersion(survey.newest_record)) {
      survey.newest_record = std::move(attributes);
    }
    if (status->role() == pb::ROLE_PRIMARY && status->serving() && !status->fenced()) {
      survey.serving_primary = mem.node_id;
    }
  }
  return survey;
}

// What may be lost by taking `source`'s data, for `ctl volume show`.
std::string LossReport(const EpochAnswer& source, bool source_async, int64_t now_ms) {
  const std::string& id = source.member.node_id;
  if (!source_async) {
    return absl::StrCat(id,
                        " was a synchronous replica: the writes it had not received when the "
                        "others were lost are lost, how many is not known here");
  }
  const AcceptEpochResult& r = *source.result;
  if (!r.lag) {
    return absl::StrCat(id,
                        " had no lag report from its primary since its process started: what "
                        "is lost is unknown");
  }
  const double ago = std::max<int64_t>(0, now_ms - r.lag_reported_unix_ms) / 1000.0;
  if (r.lag->broken) {
    return absl::StrFormat(
        "%s was out of sync for %d ms when its primary last reported, %.1f s before this "
        "promotion: every write acknowledged since it left sync may be lost",
        id, r.lag->ms, ago);
  }
  if (r.lag->ms == 0 && r.lag->bytes == 0) {
    return absl::StrFormat(
        "%s was caught up when its primary last reported, %.1f s before this promotion: only "
        "writes acknowledged since that report may be lost",
        id, ago);
  }
  return absl::StrFormat(
      "%s lagged by %d ms and %d bytes when its primary last reported, %.1f s before this "
      "promotion: writes acknowledged in about that last %d ms, and any since the report, "
      "may be lost",
      id, r.lag->ms, r.lag->bytes, ago, r.lag->ms);
}

}  // namespace

absl::Status PromoteAcceptingDataLoss(StorageNode& node, Replica& replica,
                                      const PromoteOptions& options) {
  const std::chrono::milliseconds timeout = options.rpc_timeout;
  const std::string& self = node.options().node_id;
  const std::string& volume_id = replica.id();
  const Manifest m = replica.manifest();
  Survey survey = Ask(m, self, timeout);
  if (!survey.serving_primary.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id, ": its primary ", survey.serving_primary,
                     " serves; nothing need be lost: promote without --accept-data-loss"));
  }
  if (survey.voting_answered >= m.Quorum()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "volume ", volume_id, ": ", survey.voting_answered, " of its ", m.VotingMembers(),
        " synchronous members answer (", m.Quorum(),
        " make a majority): an election or an ordinary ctl promote of one of them gives it a "
        "primary without losing data"));
  }
  // This replica's promise to its lost primary, and its peers' (heard at
  // about the same time), must run out before they can accept another.
  const auto promised = replica.PromiseRemaining();
  if (promised.count() > 0) {
    std::this_thread::sleep_for(promised + node.options().engine.lease_duration / 10);
  }

  // Past every epoch a member that answered holds: one that missed an
  // election must not ask for an epoch already taken.
  const uint64_t epoch = std::max({m.epoch + 1, survey.max_epoch + 1, options.min_epoch});
  std::vector<EpochAnswer> answers(m.members.size());
  for (size_t i = 0; i < m.members.size(); ++i) answers[i].member = m.members[i];
  AskInParallel(answers, m, epoch, replica, self, {}, timeout);

  int voting_accepted = 0;
  const EpochAnswer* source = nullptr;
  const EpochAnswer* mine = nullptr;
  std::set<std::string> lost;
  for (const auto& a : answers) {
    if (a.member.node_id == self) {
      if (!a.result.ok()) return a.result.status();
      mine = &a;
    }
    const absl::Status& s = a.result.status();
    // Only a member that cannot be reached is taken for lost. One that
    // refused is alive (it still hears a primary, or voted for another
    // candidate): removing it could leave two primaries.
    if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
      lost.insert(a.member.node_id);
      continue;
    }
    if (!s.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "volume ", volume_id, ": ", a.member.node_id, " answered and refused: ", s.message(),
          "; it is alive, so nothing was removed (wait for its lease, or for an "
          "election, and try again)"));
    }
    voting_accepted += a.member.async ? 0 : 1;
    if (!a.result->consistent || a.result->witness) continue;
    if (!source || a.result->applied_seq > source->result->applied_seq ||
        (a.result->applied_seq == source->result->applied_seq && a.member.node_id == self)) {
      source = &a;
    }
  }
  if (voting_accepted >= m.Quorum()) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id,
                     ": a majority of its synchronous members answered after all; an "
                     "election gives it a primary without losing data"));
  }
  if (!source) {
    return absl::FailedPreconditionError(
        absl::StrCat("volume ", volume_id,
                     ": no replica that answered holds complete data (each is "
                     "resyncing or the witness)"));
  }
  if (source != mine &&
      (source->result->applied_seq != mine->result->applied_seq || !mine->result->consistent)) {
    RETURN_IF_ERROR(CatchUpFrom(replica, epoch, source->member, timeout));
  }
  RETURN_IF_ERROR(SeedSnapshotRegistry(replica, answers, self, epoch, timeout));

  // The members that answered stay (a witness too: removed, it would still
  // vote for the removed side), this one synchronous.
  std::vector<MemberInfo> members;
  for (const auto& a : answers) {
    if (!a.result.ok()) continue;
    MemberInfo mem = a.member;
    if (mem.node_id == self) mem.async = false;
    members.push_back(mem);
  }

  const int64_t now_ms = absl::ToUnixMillis(absl::Now());
  const std::string reason = absl::StrCat(
      options.reason,
      ", accepting data loss: ", LossReport(*source, m.IsAsync(source->member.node_id), now_ms),
      "; removed from the volume: ", absl::StrJoin(lost, ", "));
  const uint64_t reference = source->result->applied_seq;
  replica.NoteApplied(reference);
  RETURN_IF_ERROR(replica.BecomePrimary(epoch, [&](Manifest& next) {
    next.members = members;
    // Numbered past every record the members hold, so that it is the newest.
    if (RemovedVersion(survey.newest_record) > RemovedVersion(next.attributes)) {
      AdoptRemovedRecord(next.attributes, survey.newest_record);
    }
    AddRemovedMembers(next.attributes, lost);
    next.primary_since_unix_ms = now_ms;
    next.last_failover_unix_ms = now_ms;
    next.last_failover_from = m.primary_node_id;
    next.last_failover_reason = reason;
    next.checksum_resync.clear();
    for (const auto& id : lost) next.member_generations.erase(id);
    for (const auto& a : answers) {
      if (a.member.node_id == self || a.member.witness || !a.result.ok()) continue;
      next.member_generations[a.member.node_id] = a.result->data_generation;
      if (!a.result->consistent || a.result->applied_seq != reference) {
        next.checksum_resync.insert(a.member.node_id);
      }
    }
  }));
  spdlog::warn("volume {}: node {} is primary at epoch {}: {}", volume_id, self, epoch, reason);
  return absl::OkStatus();
}

}  // namespace syncblock::repl
