// QuorumTracker: completion on a majority, never before the local apply of a
// write, refusals that make a majority impossible fail at once with the
// peers' error, caught-up peers count for everything before their point,
// deadlines.
#include "replication/engine/quorum_tracker.h"

#include <gtest/gtest.h>

namespace syncblock::repl {
namespace {

using Clock = QuorumTracker::Clock;

struct Probe {
  std::shared_ptr<IoRequest> req = std::make_shared<IoRequest>();
  int calls = 0;
  absl::Status status = absl::UnknownError("not completed");
  Probe() {
    req->done = [this](IoRequest& r) {
      ++calls;
      status = r.status;
    };
  }
};

Clock::time_point Later() { return Clock::now() + std::chrono::hours(1); }

TEST(QuorumTrackerTest, WriteCompletesOnMajorityOnlyOnceAppliedHere) {
  QuorumTracker q;
  q.SetMembers(3);
  Probe p;
  Completions done;
  q.Add(7, p.req, /*needs_apply=*/true, Later(), 0, absl::OkStatus(), &done);
  q.PeerAcked(7, 0, &done);
  q.PeerAcked(7, 1, &done);
  EXPECT_TRUE(done.empty()) << "two peers hold it, but a read here would not see it yet";
  q.Applied(7, &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  EXPECT_EQ(p.calls, 1);
  EXPECT_TRUE(p.status.ok());
  EXPECT_EQ(q.size(), 0u);
}

TEST(QuorumTrackerTest, FlushNeedsDurableMajority) {
  QuorumTracker q;
  q.SetMembers(3);
  Probe p;
  Completions done;
  q.Add(1, p.req, /*needs_apply=*/false, Later(), 0, absl::OkStatus(), &done);
  q.LocalDone(1, absl::OkStatus(), &done);
  EXPECT_TRUE(done.empty());
  q.PeerAcked(1, 2, &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  EXPECT_TRUE(p.status.ok());
}

TEST(QuorumTrackerTest, MajorityRefusalFailsAtOnceWithTheirError) {
  QuorumTracker q;
  q.SetMembers(3);
  Probe p;
  Completions done;
  q.Add(1, p.req, true, Later(), 0, absl::OkStatus(), &done);
  q.Applied(1, &done);
  q.LocalDone(1, absl::OkStatus(), &done);
  q.PeerRefused(1, 0, absl::ResourceExhaustedError("node-1: no space"), &done);
  EXPECT_TRUE(done.empty()) << "one refusal of three: a majority is still possible";
  q.PeerRefused(1, 1, absl::ResourceExhaustedError("node-2: no space"), &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  EXPECT_EQ(p.status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(p.status.message(), "node-1: no space");
}

TEST(QuorumTrackerTest, KnownRefusalsAtAddFailAtOnce) {
  QuorumTracker q;
  q.SetMembers(3);
  Probe p;
  Completions done;
  q.Add(1, p.req, true, Later(), 0b11, absl::ResourceExhaustedError("full"), &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  EXPECT_EQ(p.status.code(), absl::StatusCode::kResourceExhausted);
}

TEST(QuorumTrackerTest, LocalFailureFailsTheRequest) {
  QuorumTracker q;
  q.SetMembers(3);
  Probe p;
  Completions done;
  q.Add(1, p.req, true, Later(), 0, absl::OkStatus(), &done);
  q.PeerAcked(1, 0, &done);
  q.LocalDone(1, absl::InternalError("EIO"), &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  EXPECT_EQ(p.status.code(), absl::StatusCode::kInternal);
}

TEST(QuorumTrackerTest, CaughtUpPeerCountsUpToItsPoint) {
  QuorumTracker q;
  q.SetMembers(3);
  Probe a, b;
  Completions done;
  q.Add(10, a.req, true, Later(), 0, absl::OkStatus(), &done);
  q.Add(20, b.req, true, Later(), 0, absl::OkStatus(), &done);
  for (uint64_t s : {10, 20}) {
    q.Applied(s, &done);
    q.LocalDone(s, absl::OkStatus(), &done);
  }
  q.PeerCaughtUp(1, 15, &done);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0], a.req);
  RunCompletions(done);
  EXPECT_EQ(q.size(), 1u);
}

TEST(QuorumTrackerTest, ExpiredRequestsFailWithTheGivenReason) {
  QuorumTracker q;
  q.SetMembers(3);
  Probe p, keep;
  Completions done;
  q.Add(1, p.req, true, Clock::now(), 0, absl::OkStatus(), &done);
  q.Add(2, keep.req, true, Later(), 0, absl::OkStatus(), &done);
  q.Expire(Clock::now() + std::chrono::milliseconds(1), absl::UnavailableError("no majority"),
           &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  EXPECT_EQ(p.status.code(), absl::StatusCode::kUnavailable);
  q.FailAll(absl::FailedPreconditionError("fenced"), &done);
  RunCompletions(done);
  EXPECT_EQ(keep.status.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(QuorumTrackerTest, SingleMemberCompletesOnItsOwn) {
  QuorumTracker q;
  q.SetMembers(1);
  Probe p;
  Completions done;
  q.Add(1, p.req, true, Later(), 0, absl::OkStatus(), &done);
  q.Applied(1, &done);
  q.LocalDone(1, absl::OkStatus(), &done);
  ASSERT_EQ(done.size(), 1u);
}

}  // namespace
}  // namespace syncblock::repl

namespace syncblock::repl {
namespace {

// Two data replicas (this node and slot 0) and a witness (slot 1): three
// voters, two needed.
void TwoAndWitness(QuorumTracker& q) {
  q.SetMembers(3);
  q.SetPeerSlots(/*data=*/0b01, /*witness=*/0b10);
}

TEST(QuorumTrackerWitnessTest, WitnessCountsOnlyForPeersItRecordsOutdated) {
  QuorumTracker q;
  TwoAndWitness(q);
  Probe p;
  Completions done;
  q.Add(1, p.req, /*needs_apply=*/true, Later(), 0, absl::OkStatus(), &done);
  q.Applied(1, &done);
  q.LocalDone(1, absl::OkStatus(), &done);
  q.PeerAcked(1, 1, &done);  // the witness never holds data: an ack of it means nothing
  EXPECT_TRUE(done.empty()) << "the data peer neither holds it nor is recorded outdated";
  q.SetOutdated(0b01, &done);
  ASSERT_EQ(done.size(), 1u) << "recorded outdated: the witness stands in for it";
  RunCompletions(done);
  EXPECT_TRUE(p.status.ok());
}

TEST(QuorumTrackerWitnessTest, DataPeerAckNeedsNoWitness) {
  QuorumTracker q;
  TwoAndWitness(q);
  Probe p;
  Completions done;
  q.Add(1, p.req, /*needs_apply=*/true, Later(), 0, absl::OkStatus(), &done);
  q.Applied(1, &done);
  q.LocalDone(1, absl::OkStatus(), &done);
  EXPECT_TRUE(done.empty()) << "the data peer neither holds it nor is recorded outdated";
  q.PeerAcked(1, 0, &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  EXPECT_TRUE(p.status.ok());
}

TEST(QuorumTrackerWitnessTest, WitnessNeedsThisNodesOwnCopy) {
  QuorumTracker q;
  TwoAndWitness(q);
  q.SetOutdated(0b01, nullptr);
  Probe p;
  Completions done;
  // A FUA write applied but not yet synced here: the witness vouches for
  // the outdated peer, not for this node's copy.
  q.Add(1, p.req, /*needs_apply=*/true, Later(), 0, absl::OkStatus(), &done);
  q.Applied(1, &done);
  EXPECT_TRUE(done.empty());
  q.LocalDone(1, absl::OkStatus(), &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
}

TEST(QuorumTrackerWitnessTest, FourReplicasNeedEveryMissingPeerRecorded) {
  // Data peers in slots 0, 1, 2; the witness in slot 3: five voters, three
  // needed.
  QuorumTracker q;
  q.SetMembers(5);
  q.SetPeerSlots(0b0111, 0b1000);
  Probe p;
  Completions done;
  q.Add(1, p.req, /*needs_apply=*/true, Later(), 0, absl::OkStatus(), &done);
  q.Applied(1, &done);
  q.LocalDone(1, absl::OkStatus(), &done);
  q.PeerAcked(1, 0, &done);
  q.SetOutdated(0b0010, &done);
  EXPECT_TRUE(done.empty()) << "slot 2 lacks it and is not recorded: the witness cannot count";
  q.SetOutdated(0b0110, &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  EXPECT_TRUE(p.status.ok());
}

TEST(QuorumTrackerWitnessTest, ANewWitnessSlotDropsOutdatedOfOtherSlots) {
  QuorumTracker q;
  TwoAndWitness(q);
  q.SetOutdated(0b11, nullptr);  // the witness's own slot is never "outdated"
  Probe p;
  Completions done;
  q.Add(1, p.req, /*needs_apply=*/true, Later(), 0, absl::OkStatus(), &done);
  q.Applied(1, &done);
  q.LocalDone(1, absl::OkStatus(), &done);
  ASSERT_EQ(done.size(), 1u);
  RunCompletions(done);
  q.SetPeerSlots(0b01, 0);  // no witness any more
  Probe p2;
  q.Add(2, p2.req, /*needs_apply=*/true, Later(), 0, absl::OkStatus(), &done);
  q.Applied(2, &done);
  q.LocalDone(2, absl::OkStatus(), &done);
  EXPECT_TRUE(done.empty());
}

}  // namespace
}  // namespace syncblock::repl
