// The lease's arithmetic (lease.h): the primary counts a majority's promises
// from the time it queued the LEASE frame each replica acknowledged, shrunk by
// the allowed clock drift; a replica's promise runs a full lease from the
// moment it heard its primary.
#include "replication/engine/lease.h"

#include <gtest/gtest.h>

namespace syncblock::repl {
namespace {

using std::chrono::milliseconds;
using TimePoint = Clock::TimePoint;

constexpr LeaseOptions kLease{milliseconds(2000), 0.2};  // counted: 1600 ms

TEST(PrimaryLeaseTest, NoPeerNeededMeansAlwaysValid) {
  PrimaryLease lease(kLease, 0);
  EXPECT_EQ(lease.ValidUntil(), TimePoint::max());
  EXPECT_TRUE(lease.Valid(TimePoint() + std::chrono::hours(1000)));
}

TEST(PrimaryLeaseTest, InvalidUntilAMajorityAcknowledged) {
  const TimePoint t0 = TimePoint() + std::chrono::hours(1);
  PrimaryLease lease(kLease, 2);  // five replicas: two peers besides the primary
  EXPECT_FALSE(lease.Valid(t0));
  lease.Sent(10, t0);
  lease.Acked("a", 10);
  EXPECT_FALSE(lease.Valid(t0)) << "one peer of the two needed";
  lease.Acked("b", 10);
  EXPECT_TRUE(lease.Valid(t0 + milliseconds(1599)));
  EXPECT_FALSE(lease.Valid(t0 + milliseconds(1600))) << "duration less the drift";
}

TEST(PrimaryLeaseTest, TheOlderOfTheNeededPromisesCounts) {
  const TimePoint t0 = TimePoint() + std::chrono::hours(1);
  PrimaryLease lease(kLease, 2);
  lease.Sent(1, t0);
  lease.Sent(2, t0 + milliseconds(500));
  lease.Sent(3, t0 + milliseconds(900));
  lease.Acked("a", 3);
  lease.Acked("b", 1);
  lease.Acked("c", 2);
  // The two most recent promises are a's (900) and c's (500): both hold
  // until 500 + 1600.
  EXPECT_EQ(lease.ValidUntil(), t0 + milliseconds(2100));
  // An acknowledgement of an older frame never moves a promise back.
  lease.Acked("a", 1);
  EXPECT_EQ(lease.ValidUntil(), t0 + milliseconds(2100));
  // A frame no one sent renews nothing.
  lease.Acked("b", 99);
  EXPECT_EQ(lease.ValidUntil(), t0 + milliseconds(2100));
  // A member removed counts no more.
  lease.Forget("a");
  EXPECT_EQ(lease.ValidUntil(), t0 + milliseconds(1600)) << "c (500) and b (0) now";
  lease.SetPeersNeeded(3);
  EXPECT_EQ(lease.ValidUntil(), TimePoint::min()) << "only two peers promised";
}

TEST(LeasePromiseTest, RunsAFullLeaseFromTheLastFrame) {
  const TimePoint t0 = TimePoint() + std::chrono::hours(1);
  LeasePromise promise(milliseconds(2000));
  EXPECT_EQ(promise.Remaining(t0).count(), 0) << "nothing heard, nothing promised";
  promise.Heard(t0);
  EXPECT_EQ(promise.Remaining(t0 + milliseconds(500)), milliseconds(1500));
  promise.Heard(t0 + milliseconds(1000));
  promise.Heard(t0 + milliseconds(200));  // a late report never shortens it
  EXPECT_EQ(promise.Remaining(t0 + milliseconds(2999)), milliseconds(1));
  EXPECT_EQ(promise.Remaining(t0 + milliseconds(3000)).count(), 0);
  promise.Release();
  EXPECT_EQ(promise.Remaining(t0 + milliseconds(1500)).count(), 0);
  promise.Heard(t0 + milliseconds(1500));
  EXPECT_EQ(promise.Remaining(t0 + milliseconds(1500)), milliseconds(2000));
}

}  // namespace
}  // namespace syncblock::repl
