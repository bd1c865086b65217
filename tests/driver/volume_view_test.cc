// Building the cluster's view of a volume from its replicas' answers
// (replication/client/volume_view.h).
#include "replication/client/volume_view.h"

#include <gtest/gtest.h>

namespace syncblock::repl {
namespace {

namespace cv1 = ::syncblock::control::v1;

cv1::ReplicaStatus Replica(const std::string& node, cv1::Role role, uint64_t epoch,
                           const std::string& primary, std::vector<std::string> members) {
  cv1::ReplicaStatus r;
  r.set_volume_id("vol");
  r.set_size_bytes(1 << 20);
  r.set_node_id(node);
  r.set_role(role);
  r.set_epoch(epoch);
  r.set_primary_node_id(primary);
  r.set_consistent(true);
  for (const auto& m : members) r.add_members()->set_node_id(m);
  if (role == cv1::ROLE_PRIMARY) r.set_nbd_uri("nbd://127.0.0.1:1/vol");
  return r;
}

const ReplicaView* Find(const VolumeView& v, const std::string& node) {
  for (const auto& r : v.replicas) {
    if (r.node == node) return &r;
  }
  return nullptr;
}

TEST(VolumeViewTest, NoAnswerIsNotFound) {
  auto v = BuildVolumeView({});
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
}

TEST(VolumeViewTest, PrimaryPeersGiveTheReplicaStates) {
  auto p = Replica("n1", cv1::ROLE_PRIMARY, 3, "n1", {"n1", "n2", "n3"});
  auto* peer2 = p.add_peers();
  peer2->set_node_id("n2");
  peer2->set_state(cv1::PEER_RESYNCING);
  peer2->mutable_resync()->set_bytes_copied(10);
  peer2->mutable_resync()->set_bytes_total(40);
  peer2->mutable_resync()->set_rate_bytes_per_second(5);
  peer2->mutable_resync()->set_eta_seconds(6);
  peer2->mutable_resync()->set_full(true);
  auto* peer3 = p.add_peers();
  peer3->set_node_id("n3");
  peer3->set_state(cv1::PEER_OFFLINE);
  peer3->set_message("connection refused");
  (*p.mutable_attributes())["k"] = "v";
  auto s2 = Replica("n2", cv1::ROLE_SECONDARY, 3, "n1", {"n1", "n2", "n3"});
  s2.set_consistent(false);

  auto v = BuildVolumeView({s2, p});
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->primary, "n1");
  EXPECT_EQ(v->epoch, 3u);
  EXPECT_EQ(v->nbd_uri, "nbd://127.0.0.1:1/vol");
  EXPECT_EQ(v->attributes.at("k"), "v");
  ASSERT_EQ(v->replicas.size(), 3u);
  EXPECT_EQ(v->replicas[0].node, "n1");
  EXPECT_EQ(v->replicas[0].state, "in_sync");
  const auto* r2 = Find(*v, "n2");
  ASSERT_NE(r2, nullptr);
  EXPECT_EQ(r2->state, "resyncing");
  EXPECT_EQ(r2->bytes_copied, 10u);
  EXPECT_EQ(r2->bytes_total, 40u);
  EXPECT_DOUBLE_EQ(r2->rate_bytes_per_second, 5);
  EXPECT_DOUBLE_EQ(r2->eta_seconds, 6);
  EXPECT_TRUE(r2->full_copy);
  EXPECT_EQ(Find(*v, "n3")->state, "offline");
  EXPECT_EQ(Find(*v, "n3")->message, "connection refused");
}

TEST(VolumeViewTest, HighestUnfencedPrimaryWins) {
  // n1 was primary at epoch 1 and has not heard that n2 took over at epoch 2.
  auto old_primary = Replica("n1", cv1::ROLE_PRIMARY, 1, "n1", {"n1", "n2"});
  auto fenced = Replica("n3", cv1::ROLE_PRIMARY, 5, "n3", {"n1", "n2", "n3"});
  fenced.set_fenced(true);
  auto new_primary = Replica("n2", cv1::ROLE_PRIMARY, 2, "n2", {"n1", "n2"});
  new_primary.set_nbd_uri("nbd://127.0.0.1:2/vol");
  EXPECT_EQ(AuthoritativeReplica({old_primary, fenced, new_primary})->node_id(), "n2");
  auto v = BuildVolumeView({old_primary, fenced, new_primary});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->primary, "n2");
  EXPECT_EQ(v->epoch, 2u);
  EXPECT_EQ(v->nbd_uri, "nbd://127.0.0.1:2/vol");
}

TEST(VolumeViewTest, SilentPrimaryIsOfflineAndOthersJudgeThemselves) {
  auto s2 = Replica("n2", cv1::ROLE_SECONDARY, 4, "n1", {"n1", "n2", "n3"});
  auto s3 = Replica("n3", cv1::ROLE_SECONDARY, 4, "n1", {"n1", "n2", "n3"});
  s3.set_consistent(false);
  auto v = BuildVolumeView({s2, s3});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->primary, "n1");
  EXPECT_EQ(v->epoch, 4u);
  EXPECT_TRUE(v->nbd_uri.empty());
  ASSERT_EQ(v->replicas.size(), 3u);
  EXPECT_EQ(v->replicas[0].node, "n1");
  EXPECT_EQ(v->replicas[0].state, "offline");
  EXPECT_EQ(Find(*v, "n2")->state, "in_sync");
  EXPECT_EQ(Find(*v, "n3")->state, "resyncing");
}

TEST(VolumeViewTest, MemberThePrimaryDoesNotReportOnIsJudgedByItsOwnAnswer) {
  auto p = Replica("n1", cv1::ROLE_PRIMARY, 1, "n1", {"n1", "n2", "n3"});
  auto s3 = Replica("n3", cv1::ROLE_SECONDARY, 1, "n1", {"n1", "n2", "n3"});
  auto v = BuildVolumeView({p, s3});
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(Find(*v, "n2")->state, "offline");
  EXPECT_EQ(Find(*v, "n3")->state, "in_sync");
}

TEST(VolumeViewTest, PeerStateNames) {
  EXPECT_STREQ(PeerStateName(cv1::PEER_IN_SYNC), "in_sync");
  EXPECT_STREQ(PeerStateName(cv1::PEER_OFFLINE), "offline");
  EXPECT_STREQ(PeerStateName(cv1::PEER_RESYNCING), "resyncing");
  EXPECT_STREQ(PeerStateName(cv1::PEER_FAILED), "failed");
  EXPECT_STREQ(PeerStateName(cv1::PEER_STATE_UNSPECIFIED), "offline");
}

}  // namespace
}  // namespace syncblock::repl
