// A volume's witness (replication/doc/failover.md, "Witness") as a Replica:
// no data on disk, only the lease, the manifest and the record of outdated
// replicas from its primary, persisted; never a candidate, and no vote for
// a replica its record names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "replication/engine/replica.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::TempDir;

constexpr uint64_t kSize = 64 << 20;
constexpr uint64_t kRegion = 64 << 10;

std::vector<MemberInfo> Members() {
  return {{"node-p", "", "127.0.0.1:1", "", ""},
          {"node-s", "", "127.0.0.1:2", "", ""},
          {"node-w", "", "127.0.0.1:3", "", "", /*witness=*/true}};
}

class WitnessReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Manifest m;
    m.volume_id = "vol";
    m.size_bytes = kSize;
    m.region_size = kRegion;
    m.epoch = 5;
    m.primary_node_id = "node-p";
    m.members = Members();
    m.data_generation = "gen";
    opts_.node_id = "node-w";
    opts_.clock = &clock_;
    auto r = Replica::Create(dir_.Join("vol"), m, opts_);
    ASSERT_TRUE(r.ok()) << r.status();
    replica_ = *r;
  }

  uint64_t Session() {
    HelloRequest h;
    h.volume_id = "vol";
    h.epoch = 5;
    h.primary_node_id = "node-p";
    h.members = Members();
    h.size_bytes = kSize;
    h.region_size = kRegion;
    uint64_t session = 0;
    HelloReply r = replica_->AcceptHello(h, &session);
    EXPECT_EQ(r.status, WireStatus::kOk) << r.message;
    return session;
  }

  WireStatus Apply(uint64_t session, FrameType type, uint64_t seq, std::string_view payload = {}) {
    FrameHeader h;
    h.type = type;
    h.epoch = 5;
    h.seq = seq;
    h.length = type == FrameType::kWrite ? static_cast<uint32_t>(payload.size()) : 0;
    error_.clear();
    return replica_->Apply(session, h, payload, &reply_, &error_);
  }

  TempDir dir_;
  testing::FakeClock clock_;
  EngineOptions opts_;
  std::shared_ptr<Replica> replica_;
  std::string reply_;
  std::string error_;
};

TEST_F(WitnessReplicaTest, HoldsNoDataAndIsNeverASource) {
  EXPECT_TRUE(replica_->witness());
  EXPECT_FALSE(replica_->consistent());
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol/data")), 0u) << "a witness costs no space";
  uint64_t s = Session();
  EXPECT_EQ(Apply(s, FrameType::kWrite, 10, "abcd"), WireStatus::kInvalid);
  EXPECT_THAT(error_, ::testing::HasSubstr("witness and holds no data"));
  EXPECT_EQ(Apply(s, FrameType::kChecksumRequest, 11), WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, FrameType::kLease, 12), WireStatus::kOk) << error_;
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol/data")), 0u);
}

TEST_F(WitnessReplicaTest, RecordIsPersistedAndSurvivesAReopen) {
  uint64_t s = Session();
  ASSERT_EQ(Apply(s, FrameType::kWitnessRecord, 10, EncodeOutdated({"node-s"})), WireStatus::kOk)
      << error_;
  EXPECT_EQ(replica_->manifest().outdated, std::set<std::string>{"node-s"});
  replica_.reset();
  auto reopened = Replica::Open(dir_.Join("vol"), opts_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_TRUE((*reopened)->witness());
  EXPECT_EQ((*reopened)->manifest().outdated, std::set<std::string>{"node-s"});
  EXPECT_FALSE((*reopened)->consistent());
}

TEST_F(WitnessReplicaTest, MalformedRecordIsRefusedAndKeepsTheOldOne) {
  uint64_t s = Session();
  ASSERT_EQ(Apply(s, FrameType::kWitnessRecord, 10, EncodeOutdated({"node-s"})), WireStatus::kOk);
  EXPECT_EQ(Apply(s, FrameType::kWitnessRecord, 11, "node-s"), WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, FrameType::kWitnessRecord, 12, "\n"), WireStatus::kInvalid);
  EXPECT_EQ(replica_->manifest().outdated, std::set<std::string>{"node-s"});
}

TEST_F(WitnessReplicaTest, VotesForNoReplicaItRecordsOutdated) {
  uint64_t s = Session();
  ASSERT_EQ(Apply(s, FrameType::kWitnessRecord, 10, EncodeOutdated({"node-s"})), WireStatus::kOk);
  clock_.Advance(opts_.lease_duration * 2);
  auto refused = replica_->AcceptEpoch(6, "node-s", {});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::HasSubstr("missed writes acknowledged without it"));
  EXPECT_EQ(replica_->manifest().epoch, 5u);
  // The primary that acknowledged them may come back: it gets the vote.
  auto accepted = replica_->AcceptEpoch(6, "node-p", {});
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_TRUE(accepted->witness);
  EXPECT_FALSE(accepted->consistent);
  EXPECT_EQ(accepted->outdated, std::set<std::string>{"node-s"});
}

TEST_F(WitnessReplicaTest, NoReplicaVotesForTheWitness) {
  Session();
  clock_.Advance(opts_.lease_duration * 2);
  auto refused = replica_->AcceptEpoch(6, "node-w", {});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("holds no data"));
}

TEST_F(WitnessReplicaTest, AGrowingVolumeCostsTheWitnessNothing) {
  uint64_t s = Session();
  HelloRequest grown;
  grown.volume_id = "vol";
  grown.epoch = 5;
  grown.primary_node_id = "node-p";
  grown.members = Members();
  grown.size_bytes = kSize * 2;
  grown.region_size = kRegion;
  ASSERT_EQ(Apply(s, FrameType::kManifest, 10, EncodeHello(grown)), WireStatus::kOk) << error_;
  EXPECT_EQ(replica_->manifest().size_bytes, kSize * 2);
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol/data")), 0u);
}

}  // namespace
}  // namespace syncblock::repl
