// The secondary side of a replica (replication/engine/replica.h), driven
// directly: the manifest names another node as primary, so no engine starts.
// Hellos (stale refused, same epoch of another primary refused, newer
// adopted), frames (old session or epoch refused, out of range refused, data
// applied, checksums answered) and promotion epochs.
#include "replication/engine/replica.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "replication/util/crc32c.h"
#include "replication/wire/snapshot_record.h"
#include "tests/support/fake_clock.h"
#include "tests/support/test_util.h"

namespace syncblock::repl {
namespace {

using syncblock::testing::TempDir;

constexpr uint64_t kSize = 4 << 20;
constexpr uint64_t kRegion = 64 << 10;

std::vector<MemberInfo> Members() {
  return {{"node-p", "", "127.0.0.1:1", "", ""},
          {"node-s", "", "127.0.0.1:2", "", ""},
          {"node-t", "", "127.0.0.1:3", "", ""}};
}

class ReplicaTest : public ::testing::Test {
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
    opts_.node_id = "node-s";
    opts_.clock = &clock_;
    opts_.on_role_change = [this](const std::string&, bool primary) {
      role_changes_.push_back(primary);
    };
    auto r = Replica::Create(dir_.Join("vol"), m, opts_);
    ASSERT_TRUE(r.ok()) << r.status();
    replica_ = *r;
  }

  HelloRequest Hello(uint64_t epoch, const std::string& primary = "node-p") {
    HelloRequest h;
    h.volume_id = "vol";
    h.epoch = epoch;
    h.primary_node_id = primary;
    h.members = Members();
    h.size_bytes = kSize;
    h.region_size = kRegion;
    return h;
  }

  // A session of the current primary at epoch 5.
  uint64_t Session() {
    uint64_t session = 0;
    HelloReply r = replica_->AcceptHello(Hello(5), &session);
    EXPECT_EQ(r.status, WireStatus::kOk) << r.message;
    EXPECT_NE(session, 0u);
    return session;
  }

  static FrameHeader Frame(FrameType type, uint64_t epoch, uint64_t seq, uint64_t offset = 0,
                           uint32_t length = 0) {
    FrameHeader h;
    h.type = type;
    h.epoch = epoch;
    h.seq = seq;
    h.offset = offset;
    h.length = length;
    return h;
  }

  WireStatus Apply(uint64_t session, const FrameHeader& h, std::string_view payload = {}) {
    reply_.clear();
    error_.clear();
    return replica_->Apply(session, h, payload, &reply_, &error_);
  }

  std::string ReadData(uint64_t offset, size_t len) {
    std::string out(len, '?');
    EXPECT_TRUE(replica_->store().Read(offset, out.data(), len).ok());
    return out;
  }

  TempDir dir_;
  testing::FakeClock clock_;
  EngineOptions opts_;
  std::shared_ptr<Replica> replica_;
  std::vector<bool> role_changes_;
  std::string reply_;
  std::string error_;
};

TEST_F(ReplicaTest, CreatedSecondaryIsNotPrimaryAndStartsNoEngine) {
  ASSERT_TRUE(replica_->StartRole().ok());
  EXPECT_FALSE(replica_->IsPrimary());
  EXPECT_EQ(replica_->engine(), nullptr);
  EXPECT_EQ(replica_->id(), "vol");
  EXPECT_TRUE(role_changes_.empty());
}

TEST_F(ReplicaTest, StaleHelloIsRefusedAndChangesNothing) {
  uint64_t session = 0;
  HelloReply r = replica_->AcceptHello(Hello(4), &session);
  EXPECT_EQ(r.status, WireStatus::kStaleEpoch);
  EXPECT_EQ(r.epoch, 5u) << "the reply says which epoch the replica has";
  EXPECT_NE(r.message.find("older"), std::string::npos) << r.message;
  EXPECT_EQ(session, 0u);
  EXPECT_EQ(replica_->manifest().epoch, 5u);
  EXPECT_EQ(replica_->manifest().primary_node_id, "node-p");
}

TEST_F(ReplicaTest, SameEpochFromAnotherPrimaryIsAConflict) {
  uint64_t session = 0;
  HelloReply r = replica_->AcceptHello(Hello(5, "node-t"), &session);
  EXPECT_EQ(r.status, WireStatus::kConflict);
  EXPECT_NE(r.message.find("node-p"), std::string::npos) << r.message;
  EXPECT_EQ(replica_->manifest().primary_node_id, "node-p");
}

TEST_F(ReplicaTest, HelloNamingThisNodeAsPrimaryIsRefused) {
  uint64_t session = 0;
  HelloReply r = replica_->AcceptHello(Hello(6, "node-s"), &session);
  EXPECT_EQ(r.status, WireStatus::kConflict);
  EXPECT_EQ(replica_->manifest().epoch, 5u);
}

TEST_F(ReplicaTest, NewerEpochIsAdoptedAndPersisted) {
  HelloRequest h = Hello(8, "node-t");
  h.members.push_back({"node-u", "", "127.0.0.1:4", "", "z"});
  h.attributes = {{"syncMode", "sync"}};
  h.size_bytes = 2 * kSize;
  uint64_t session = 0;
  HelloReply r = replica_->AcceptHello(h, &session);
  ASSERT_EQ(r.status, WireStatus::kOk) << r.message;
  EXPECT_EQ(r.epoch, 8u);
  EXPECT_EQ(r.data_generation, "gen");
  EXPECT_NE(session, 0u);
  Manifest m = replica_->manifest();
  EXPECT_EQ(m.epoch, 8u);
  EXPECT_EQ(m.primary_node_id, "node-t");
  EXPECT_EQ(m.members.size(), 4u);
  EXPECT_EQ(m.size_bytes, 2 * kSize);
  EXPECT_FALSE(replica_->consistent()) << "behind until the new primary's resync is done";
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol/data")), 2 * kSize);
  // On disk too: a restart keeps the new epoch and primary.
  Manifest on_disk;
  ASSERT_TRUE(ReplicaStore::Open(dir_.Join("vol"), &on_disk).ok());
  EXPECT_EQ(on_disk.epoch, 8u);
  EXPECT_EQ(on_disk.primary_node_id, "node-t");
  // The old primary is now stale.
  uint64_t old_session = 0;
  EXPECT_EQ(replica_->AcceptHello(Hello(5), &old_session).status, WireStatus::kStaleEpoch);
}

TEST_F(ReplicaTest, WritesOfTheSessionAreApplied) {
  uint64_t s = Session();
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 1, 4096, 5), "hello"), WireStatus::kOk) << error_;
  EXPECT_EQ(ReadData(4096, 5), "hello");
  EXPECT_EQ(replica_->applied_seq(), 1u);
  EXPECT_EQ(Apply(s, Frame(FrameType::kResyncData, 5, 2, kSize - 3, 3), "end"), WireStatus::kOk);
  EXPECT_EQ(ReadData(kSize - 3, 3), "end");
  FrameHeader fua = Frame(FrameType::kWrite, 5, 3, 0, 3);
  fua.flags = kFlagFua;
  EXPECT_EQ(Apply(s, fua, "fua"), WireStatus::kOk);
  EXPECT_EQ(Apply(s, Frame(FrameType::kFlush, 5, 4)), WireStatus::kOk);
  EXPECT_EQ(replica_->applied_seq(), 4u);
  // A frame with a lower seq (the resync's) does not move applied_seq back.
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 2, 0, 1), "F"), WireStatus::kOk);
  EXPECT_EQ(replica_->applied_seq(), 4u);
  EXPECT_EQ(ReadData(0, 3), "Fua");
}

TEST_F(ReplicaTest, TrimZeroesAndResyncZeroClearData) {
  uint64_t s = Session();
  std::string data(3 * kRegion, 'd');
  ASSERT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 1, 0, data.size()), data), WireStatus::kOk);
  EXPECT_EQ(Apply(s, Frame(FrameType::kTrim, 5, 2, 0, kRegion)), WireStatus::kOk);
  FrameHeader wz = Frame(FrameType::kWriteZeroes, 5, 3, kRegion, kRegion);
  wz.flags = kFlagNoHole;
  EXPECT_EQ(Apply(s, wz), WireStatus::kOk);
  EXPECT_EQ(Apply(s, Frame(FrameType::kResyncZero, 5, 4, 2 * kRegion, kRegion)), WireStatus::kOk);
  EXPECT_EQ(ReadData(0, 3 * kRegion), std::string(3 * kRegion, '\0'));
  EXPECT_TRUE(replica_->store().IsHole(0, kRegion));
  EXPECT_TRUE(replica_->store().IsHole(2 * kRegion, kRegion));
}

TEST_F(ReplicaTest, OutOfRangeRequestsAreInvalidAndWriteNothing) {
  uint64_t s = Session();
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 1, kSize - 2, 3), "abc"), WireStatus::kInvalid);
  EXPECT_NE(error_.find("past the end"), std::string::npos) << error_;
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 2, kSize, 1), "a"), WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, Frame(FrameType::kTrim, 5, 3, 0, kSize + 1)), WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, Frame(FrameType::kWriteZeroes, 5, 4, kSize, 4096)), WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, Frame(FrameType::kResyncZero, 5, 5, 1ull << 50, 1)), WireStatus::kInvalid);
  EXPECT_EQ(ReadData(kSize - 2, 2), std::string(2, '\0'));
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol/data")), kSize) << "not grown";
  EXPECT_EQ(replica_->applied_seq(), 0u);
}

TEST_F(ReplicaTest, FramesOfAnOlderEpochAreStale) {
  uint64_t s = Session();
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 4, 1, 0, 1), "x"), WireStatus::kStaleEpoch);
  EXPECT_NE(error_.find("epoch 4"), std::string::npos) << error_;
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 6, 1, 0, 1), "x"), WireStatus::kStaleEpoch)
      << "only the current epoch is applied";
  EXPECT_EQ(ReadData(0, 1), std::string(1, '\0'));
}

TEST_F(ReplicaTest, FramesOfAnOlderSessionAreStale) {
  uint64_t first = Session();
  uint64_t second = Session();  // the primary reconnected
  EXPECT_NE(first, second);
  // Superseded, not deposed: the primary reconnects rather than stepping down.
  EXPECT_EQ(Apply(first, Frame(FrameType::kWrite, 5, 1, 0, 1), "x"), WireStatus::kConflict);
  EXPECT_EQ(ReadData(0, 1), std::string(1, '\0'));
  EXPECT_EQ(Apply(second, Frame(FrameType::kWrite, 5, 2, 0, 1), "y"), WireStatus::kOk);
  EXPECT_EQ(ReadData(0, 1), "y");
}

TEST_F(ReplicaTest, ANewPrimaryCutsOffTheOldOnesSession) {
  uint64_t old_session = Session();
  uint64_t new_session = 0;
  ASSERT_EQ(replica_->AcceptHello(Hello(6, "node-t"), &new_session).status, WireStatus::kOk);
  // The deposed primary's late write, even claiming the new epoch, is refused
  // (claiming it, as a superseded connection: it reconnects, and its hello
  // then finds the newer epoch and steps down).
  EXPECT_EQ(Apply(old_session, Frame(FrameType::kWrite, 5, 9, 0, 1), "o"), WireStatus::kStaleEpoch);
  EXPECT_EQ(Apply(old_session, Frame(FrameType::kWrite, 6, 9, 0, 1), "o"), WireStatus::kConflict);
  EXPECT_EQ(Apply(new_session, Frame(FrameType::kWrite, 6, 1, 0, 1), "n"), WireStatus::kOk);
  EXPECT_EQ(ReadData(0, 1), "n");
}

TEST_F(ReplicaTest, ChecksumRequestAnswersOneCrcPerRegion) {
  uint64_t s = Session();
  std::string data(kRegion, 'c');
  ASSERT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 1, kRegion, data.size()), data), WireStatus::kOk);
  uint64_t regions = kSize / kRegion;
  ASSERT_EQ(Apply(s, Frame(FrameType::kChecksumRequest, 5, 2, 0, regions)), WireStatus::kOk)
      << error_;
  ASSERT_EQ(reply_.size(), regions * 4);
  std::string zeros(kRegion, '\0');
  auto crc_at = [&](uint64_t i) {
    uint32_t v;
    std::memcpy(&v, reply_.data() + i * 4, 4);
    return v;
  };
  EXPECT_EQ(crc_at(0), Crc32c(zeros.data(), zeros.size()));
  EXPECT_EQ(crc_at(1), Crc32c(data.data(), data.size()));
  EXPECT_EQ(crc_at(regions - 1), Crc32c(zeros.data(), zeros.size()));
  // A sub-range starting at region 1.
  ASSERT_EQ(Apply(s, Frame(FrameType::kChecksumRequest, 5, 3, 1, 1)), WireStatus::kOk);
  ASSERT_EQ(reply_.size(), 4u);
  EXPECT_EQ(crc_at(0), Crc32c(data.data(), data.size()));
  ASSERT_EQ(Apply(s, Frame(FrameType::kChecksumRequest, 5, 4, regions, 0)), WireStatus::kOk);
  EXPECT_TRUE(reply_.empty());
}

TEST_F(ReplicaTest, ChecksumOfAPartialLastRegionCoversOnlyTheVolume) {
  HelloRequest h = Hello(6);
  h.size_bytes = kSize + 100;
  uint64_t s = 0;
  ASSERT_EQ(replica_->AcceptHello(h, &s).status, WireStatus::kOk);
  ASSERT_EQ(Apply(s, Frame(FrameType::kWrite, 6, 1, kSize, 100), std::string(100, 'L')),
            WireStatus::kOk);
  uint64_t last = kSize / kRegion;
  ASSERT_EQ(Apply(s, Frame(FrameType::kChecksumRequest, 6, 2, last, 1)), WireStatus::kOk) << error_;
  std::string expect(100, 'L');
  uint32_t v;
  std::memcpy(&v, reply_.data(), 4);
  EXPECT_EQ(v, Crc32c(expect.data(), expect.size()));
}

TEST_F(ReplicaTest, ChecksumRequestOutOfRangeIsInvalid) {
  uint64_t s = Session();
  uint64_t regions = kSize / kRegion;
  EXPECT_EQ(Apply(s, Frame(FrameType::kChecksumRequest, 5, 1, 0, regions + 1)),
            WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, Frame(FrameType::kChecksumRequest, 5, 2, regions + 1, 0)),
            WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, Frame(FrameType::kChecksumRequest, 5, 3, UINT64_MAX - 1, 1)),
            WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, Frame(FrameType::kChecksumRequest, 5, 4, 1, 0xffffffffu)),
            WireStatus::kInvalid);
}

TEST_F(ReplicaTest, ResyncDoneMakesTheReplicaConsistent) {
  uint64_t s = 0;
  ASSERT_EQ(replica_->AcceptHello(Hello(6), &s).status, WireStatus::kOk);
  EXPECT_FALSE(replica_->consistent());
  EXPECT_EQ(Apply(s, Frame(FrameType::kResyncDone, 6, 10)), WireStatus::kOk);
  EXPECT_TRUE(replica_->consistent());
  EXPECT_EQ(replica_->applied_seq(), 10u);
}

TEST_F(ReplicaTest, ManifestFrameUpdatesMembersAndGrowsOnly) {
  uint64_t s = Session();
  HelloRequest update = Hello(5);
  update.members.pop_back();
  update.attributes = {{"k", "v"}};
  update.size_bytes = 2 * kSize;
  EXPECT_EQ(Apply(s, Frame(FrameType::kManifest, 5, 1), EncodeHello(update)), WireStatus::kOk)
      << error_;
  Manifest m = replica_->manifest();
  EXPECT_EQ(m.members.size(), 2u);
  EXPECT_EQ(m.attributes.at("k"), "v");
  EXPECT_EQ(m.size_bytes, 2 * kSize);
  EXPECT_EQ(std::filesystem::file_size(dir_.Join("vol/data")), 2 * kSize);
  update.size_bytes = kSize;  // never shrunk by a manifest frame
  EXPECT_EQ(Apply(s, Frame(FrameType::kManifest, 5, 2), EncodeHello(update)), WireStatus::kOk);
  EXPECT_EQ(replica_->manifest().size_bytes, 2 * kSize);
  EXPECT_EQ(Apply(s, Frame(FrameType::kManifest, 5, 3), "{not json"), WireStatus::kInvalid);
  EXPECT_EQ(replica_->manifest().members.size(), 2u);
}

TEST_F(ReplicaTest, FramesASecondaryNeverReceivesAreInvalid) {
  uint64_t s = Session();
  for (FrameType t :
       {FrameType::kHello, FrameType::kHelloReply, FrameType::kAck, FrameType::kChecksumReply}) {
    EXPECT_EQ(Apply(s, Frame(t, 5, 1)), WireStatus::kInvalid) << FrameTypeName(t);
  }
}

// The lease (failover.md): a replica that heard its primary less than a lease
// ago votes for no other, unless that primary stepped down first; every frame
// of the primary, LEASE frames included, renews the promise.
TEST_F(ReplicaTest, AcceptEpochWaitsForThePromiseToThePrimaryToRunOut) {
  uint64_t s = Session();
  clock_.Advance(opts_.lease_duration / 2);
  ASSERT_EQ(Apply(s, Frame(FrameType::kLease, 5, 7)), WireStatus::kOk) << error_;
  clock_.Advance(opts_.lease_duration / 2);
  EXPECT_GT(replica_->PromiseRemaining().count(), 0);
  auto refused = replica_->AcceptEpoch(6, "node-t", {});
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::HasSubstr("heard its primary node-p less than a lease ago"));
  EXPECT_EQ(replica_->manifest().epoch, 5u);
  // The frame of the refused epoch's old primary still applies: nothing moved.
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 8, 0, 1), "a"), WireStatus::kOk);

  // A release by anyone but the primary this replica promises, or of
  // another epoch, releases nothing.
  EXPECT_EQ(replica_->AcceptEpoch(6, "node-t", {}, ReleasedPrimary{"node-u", 5}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(replica_->AcceptEpoch(6, "node-t", {}, ReleasedPrimary{"node-p", 4}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // A planned move: that primary stepped down first.
  auto released = replica_->AcceptEpoch(6, "node-t", {}, ReleasedPrimary{"node-p", 5});
  ASSERT_TRUE(released.ok()) << released.status();
  EXPECT_EQ(replica_->manifest().primary_node_id, "node-t");

  // Having voted, it gives node-t a lease to say hello before voting again.
  auto too_soon = replica_->AcceptEpoch(7, "node-p", {});
  EXPECT_EQ(too_soon.status().code(), absl::StatusCode::kFailedPrecondition);
  clock_.Advance(opts_.lease_duration);
  EXPECT_EQ(replica_->PromiseRemaining().count(), 0);
  auto after = replica_->AcceptEpoch(7, "node-p", {});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(replica_->manifest().epoch, 7u);
}

// A vote is not a role (failover.md): a node that accepted an epoch naming
// itself, for a promotion that then failed, starts no primary engine, not
// even after a restart; a completed promotion (BecomePrimary) does.
TEST_F(ReplicaTest, AVoteForItselfIsNoRoleUntilThePromotionCompletes) {
  clock_.Advance(opts_.lease_duration);
  auto voted = replica_->AcceptEpoch(6, "node-s", {});
  ASSERT_TRUE(voted.ok()) << voted.status();
  EXPECT_EQ(replica_->manifest().primary_node_id, "node-s");
  EXPECT_FALSE(replica_->manifest().primary_confirmed);
  ASSERT_TRUE(replica_->StartRole().ok());
  EXPECT_FALSE(replica_->IsPrimary());
  replica_.reset();
  auto reopened = Replica::Open(dir_.Join("vol"), opts_);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  replica_ = *reopened;
  ASSERT_TRUE(replica_->StartRole().ok());
  EXPECT_FALSE(replica_->IsPrimary());
  // Its own promotion may still copy what it lacks.
  EXPECT_TRUE(replica_->WriteAsCandidate(6, 0, "x").ok());

  // A hello of a primary elected past it confirms that one; the overtaken
  // promotion can neither write nor take the role, nor move the epoch back.
  uint64_t session = 0;
  HelloReply reply = replica_->AcceptHello(Hello(7, "node-t"), &session);
  ASSERT_EQ(reply.status, WireStatus::kOk) << reply.message;
  EXPECT_EQ(replica_->manifest().primary_node_id, "node-t");
  EXPECT_TRUE(replica_->manifest().primary_confirmed);
  EXPECT_EQ(replica_->WriteAsCandidate(6, 0, "y").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadData(0, 1), "x");
  absl::Status late = replica_->BecomePrimary(6, [](Manifest&) {});
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition) << late;
  EXPECT_EQ(replica_->manifest().epoch, 7u);
  EXPECT_FALSE(replica_->IsPrimary());
}

TEST_F(ReplicaTest, AReopenedReplicaKeepsThePromiseItMayHaveMade) {
  clock_.Advance(opts_.lease_duration);
  EXPECT_EQ(replica_->PromiseRemaining().count(), 0);
  replica_.reset();
  auto r = Replica::Open(dir_.Join("vol"), opts_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT((*r)->PromiseRemaining().count(), 0);
  EXPECT_EQ((*r)->AcceptEpoch(6, "node-t", {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(ReplicaTest, AcceptEpochRefusesOlderAndOtherPrimariesAtTheSameEpoch) {
  auto older = replica_->AcceptEpoch(4, "node-t", {});
  EXPECT_EQ(older.status().code(), absl::StatusCode::kFailedPrecondition);
  auto same_other = replica_->AcceptEpoch(5, "node-t", {});
  EXPECT_EQ(same_other.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(replica_->manifest().epoch, 5u);
  EXPECT_EQ(replica_->manifest().primary_node_id, "node-p");
  auto same_primary = replica_->AcceptEpoch(5, "node-p", {});
  EXPECT_TRUE(same_primary.ok()) << same_primary.status();
}

TEST_F(ReplicaTest, AcceptEpochAdoptsNewerAndFencesTheOldSession) {
  uint64_t s = Session();
  ASSERT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 7, 0, 1), "a"), WireStatus::kOk);
  clock_.Advance(opts_.lease_duration);
  auto r = replica_->AcceptEpoch(6, "node-t", {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->previous_epoch, 5u);
  EXPECT_EQ(r->applied_seq, 7u);
  EXPECT_EQ(r->data_generation, "gen");
  EXPECT_EQ(replica_->manifest().epoch, 6u);
  EXPECT_EQ(replica_->manifest().primary_node_id, "node-t");
  EXPECT_EQ(replica_->manifest().members, Members()) << "empty list keeps the members";
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 8, 0, 1), "b"), WireStatus::kStaleEpoch);
  EXPECT_EQ(Apply(s, Frame(FrameType::kWrite, 6, 8, 0, 1), "b"), WireStatus::kConflict);
  EXPECT_EQ(ReadData(0, 1), "a");
  // The old primary's hello at its old epoch is stale now.
  uint64_t again = 0;
  EXPECT_EQ(replica_->AcceptHello(Hello(5), &again).status, WireStatus::kStaleEpoch);
  Manifest on_disk;
  ASSERT_TRUE(ReplicaStore::Open(dir_.Join("vol"), &on_disk).ok());
  EXPECT_EQ(on_disk.epoch, 6u);
}

TEST_F(ReplicaTest, ReopenedSecondaryIsNotConsistentUntilResynced) {
  replica_.reset();
  auto r = Replica::Open(dir_.Join("vol"), opts_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE((*r)->consistent());
  EXPECT_FALSE((*r)->IsPrimary());
  EXPECT_EQ((*r)->manifest().epoch, 5u);
}

SnapshotRecord Record(const std::string& name, uint64_t seq, bool materialized = false) {
  SnapshotRecord r;
  r.name = name;
  r.size_bytes = kSize;
  r.seq = seq;
  r.created_unix_ms = 1000;
  r.materialized = materialized;
  return r;
}

TEST_F(ReplicaTest, SnapshotFrameCutsAtItsPointInTheStream) {
  uint64_t s = Session();
  ASSERT_EQ(Apply(s, Frame(FrameType::kResyncDone, 5, 1)), WireStatus::kOk);
  ASSERT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 2, 0, 4), "aaaa"), WireStatus::kOk);
  ASSERT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 3), EncodeSnapshotRecord(Record("s1", 3))),
            WireStatus::kOk)
      << error_;
  ASSERT_EQ(Apply(s, Frame(FrameType::kWrite, 5, 4, 0, 4), "bbbb"), WireStatus::kOk);
  std::string snap(4, '?');
  ASSERT_TRUE(replica_->store().snapshots().Read("s1", 0, snap.data(), 4).ok());
  EXPECT_EQ(snap, "aaaa");
  EXPECT_EQ(ReadData(0, 4), "bbbb");
  EXPECT_EQ(replica_->applied_seq(), 4u);
  // The same cut again (a lost ack) is fine; another cut of that name is not.
  EXPECT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 3), EncodeSnapshotRecord(Record("s1", 3))),
            WireStatus::kOk);
  EXPECT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 5), EncodeSnapshotRecord(Record("s1", 5))),
            WireStatus::kInvalid);
  EXPECT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 6), "{bad"), WireStatus::kInvalid);
}

TEST_F(ReplicaTest, AReplicaNotInSyncRefusesACut) {
  uint64_t s = Session();  // no RESYNC_DONE yet
  EXPECT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 3), EncodeSnapshotRecord(Record("s1", 3))),
            WireStatus::kInvalid);
  EXPECT_NE(error_.find("not in sync"), std::string::npos) << error_;
  EXPECT_FALSE(replica_->store().snapshots().Get("s1").ok());
}

TEST_F(ReplicaTest, FullCopyFramesBuildACompleteSnapshot) {
  uint64_t s = Session();  // a full copy needs no consistent live data
  ASSERT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 9),
                  EncodeSnapshotRecord(Record("s1", 3, /*materialized=*/true))),
            WireStatus::kOk)
      << error_;
  auto rec = replica_->store().snapshots().Get("s1");
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->complete);
  ASSERT_EQ(
      Apply(s, Frame(FrameType::kSnapshotData, 5, 9, kRegion, 4), EncodeSnapshotData("s1", "cccc")),
      WireStatus::kOk)
      << error_;
  EXPECT_EQ(
      Apply(s, Frame(FrameType::kSnapshotData, 5, 9, kRegion, 5), EncodeSnapshotData("s1", "cccc")),
      WireStatus::kInvalid)
      << "length and data differ";
  ASSERT_EQ(Apply(s, Frame(FrameType::kSnapshotDone, 5, 9), "s1"), WireStatus::kOk) << error_;
  rec = replica_->store().snapshots().Get("s1");
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->complete);
  EXPECT_TRUE(rec->materialized);
  EXPECT_EQ(rec->seq, 3u);
  std::string snap(8, '?');
  ASSERT_TRUE(replica_->store().snapshots().Read("s1", kRegion - 4, snap.data(), 8).ok());
  EXPECT_EQ(snap, std::string(4, '\0') + "cccc");
  // Offered again (the primary did not see the ack): kept as it is.
  EXPECT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 9),
                  EncodeSnapshotRecord(Record("s1", 3, /*materialized=*/true))),
            WireStatus::kOk);
  EXPECT_TRUE(replica_->store().snapshots().Get("s1")->complete);
  ASSERT_EQ(Apply(s, Frame(FrameType::kSnapshotDelete, 5, 9), "s1"), WireStatus::kOk);
  EXPECT_FALSE(replica_->store().snapshots().Get("s1").ok());
  EXPECT_EQ(Apply(s, Frame(FrameType::kSnapshotDelete, 5, 9), "s1"), WireStatus::kOk)
      << "deleting an unknown snapshot is fine";
}

TEST_F(ReplicaTest, HelloDropsUnlistedSnapshotsAndUnfinishedCopies) {
  uint64_t s = Session();
  ASSERT_EQ(Apply(s, Frame(FrameType::kResyncDone, 5, 1)), WireStatus::kOk);
  for (const char* name : {"keep", "gone"}) {
    ASSERT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 2), EncodeSnapshotRecord(Record(name, 2))),
              WireStatus::kOk)
        << error_;
  }
  ASSERT_EQ(Apply(s, Frame(FrameType::kSnapshot, 5, 2),
                  EncodeSnapshotRecord(Record("partial", 1, /*materialized=*/true))),
            WireStatus::kOk);
  HelloRequest h = Hello(5);
  h.snapshots = std::vector<std::string>{"keep", "partial"};
  uint64_t session = 0;
  HelloReply r = replica_->AcceptHello(h, &session);
  ASSERT_EQ(r.status, WireStatus::kOk) << r.message;
  EXPECT_EQ(r.snapshots, std::vector<std::string>{"keep"});
  EXPECT_TRUE(replica_->store().snapshots().Get("keep").ok());
  EXPECT_FALSE(replica_->store().snapshots().Get("gone").ok());
  EXPECT_FALSE(replica_->store().snapshots().Get("partial").ok());
  // A hello without a list (an older primary) drops nothing it holds complete.
  r = replica_->AcceptHello(Hello(5), &session);
  EXPECT_EQ(r.snapshots, std::vector<std::string>{"keep"});
}

}  // namespace
}  // namespace syncblock::repl
