// WriteHold: which requests wait, when they go on, and the deadline that
// ends a hold nobody releases. A fake clock moves time; nothing sleeps.
#include "replication/engine/write_hold.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "tests/support/fake_clock.h"

namespace syncblock::repl {
namespace {

using std::chrono::milliseconds;

class WriteHoldTest : public ::testing::Test {
 protected:
  std::shared_ptr<IoRequest> Req(IoOp op, uint64_t offset = 0) {
    auto r = std::make_shared<IoRequest>();
    r->op = op;
    r->offset = offset;
    return r;
  }
  // Admits `r`; true when it went on at once.
  bool Goes(std::shared_ptr<IoRequest> r) { return !hold_.Admit(r); }

  testing::FakeClock clock_;
  std::vector<uint64_t> resubmitted_;  // offsets, in resubmission order
  WriteHold hold_{&clock_,
                  [this](std::shared_ptr<IoRequest> r) { resubmitted_.push_back(r->offset); }};
};

TEST_F(WriteHoldTest, WithoutAHoldEverythingGoesOn) {
  EXPECT_TRUE(Goes(Req(IoOp::kWrite)));
  EXPECT_FALSE(hold_.holding());
}

TEST_F(WriteHoldTest, WritesWaitReadsAndFlushesGoOn) {
  ASSERT_TRUE(hold_.Hold("g1", milliseconds(1000)).ok());
  EXPECT_TRUE(Goes(Req(IoOp::kRead)));
  EXPECT_TRUE(Goes(Req(IoOp::kFlush)));
  EXPECT_FALSE(Goes(Req(IoOp::kWrite, 1)));
  EXPECT_FALSE(Goes(Req(IoOp::kTrim, 2)));
  EXPECT_FALSE(Goes(Req(IoOp::kWriteZeroes, 3)));
  EXPECT_EQ(hold_.waiting(), 3u);
  EXPECT_TRUE(resubmitted_.empty());

  clock_.Advance(milliseconds(7));
  HoldRelease r = hold_.Release("g1");
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.held, std::chrono::microseconds(7000));
  EXPECT_EQ(r.writes_held, 3u);
  EXPECT_EQ(resubmitted_, (std::vector<uint64_t>{1, 2, 3}));  // in arrival order
  EXPECT_EQ(hold_.waiting(), 0u);
  EXPECT_TRUE(Goes(Req(IoOp::kWrite)));
}

TEST_F(WriteHoldTest, WritesWaitUntilTheLastHoldEnds) {
  ASSERT_TRUE(hold_.Hold("g1", milliseconds(1000)).ok());
  ASSERT_TRUE(hold_.Hold("g2", milliseconds(1000)).ok());
  EXPECT_FALSE(Goes(Req(IoOp::kWrite, 1)));
  EXPECT_TRUE(hold_.Release("g1").found);
  EXPECT_TRUE(resubmitted_.empty());
  EXPECT_FALSE(Goes(Req(IoOp::kWrite, 2)));
  EXPECT_TRUE(hold_.Release("g2").found);
  EXPECT_EQ(resubmitted_, (std::vector<uint64_t>{1, 2}));
}

TEST_F(WriteHoldTest, TheDeadlineEndsAHoldNobodyReleases) {
  ASSERT_TRUE(hold_.Hold("g1", milliseconds(100)).ok());
  EXPECT_FALSE(Goes(Req(IoOp::kWrite, 1)));
  clock_.Advance(milliseconds(99));
  EXPECT_EQ(hold_.ReleaseExpired(), 0);
  EXPECT_TRUE(resubmitted_.empty());
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(hold_.ReleaseExpired(), 1);
  EXPECT_EQ(resubmitted_, (std::vector<uint64_t>{1}));
  // The late release learns that its hold did not last.
  EXPECT_FALSE(hold_.Release("g1").found);
}

TEST_F(WriteHoldTest, HoldingAgainMovesTheDeadlineNotTheStart) {
  ASSERT_TRUE(hold_.Hold("g1", milliseconds(100)).ok());
  clock_.Advance(milliseconds(80));
  ASSERT_TRUE(hold_.Hold("g1", milliseconds(100)).ok());
  clock_.Advance(milliseconds(80));
  EXPECT_EQ(hold_.ReleaseExpired(), 0);
  HoldRelease r = hold_.Release("g1");
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.held, std::chrono::microseconds(160000));
}

TEST_F(WriteHoldTest, ReleaseAllLetsEverythingGo) {
  ASSERT_TRUE(hold_.Hold("g1", milliseconds(1000)).ok());
  ASSERT_TRUE(hold_.Hold("g2", milliseconds(1000)).ok());
  EXPECT_FALSE(Goes(Req(IoOp::kWrite, 5)));
  hold_.ReleaseAll();
  EXPECT_FALSE(hold_.holding());
  EXPECT_EQ(resubmitted_, (std::vector<uint64_t>{5}));
}

TEST_F(WriteHoldTest, AnEmptyIdIsRefused) {
  EXPECT_EQ(hold_.Hold("", milliseconds(10)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(hold_.holding());
}

}  // namespace
}  // namespace syncblock::repl
