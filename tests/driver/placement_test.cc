// Placement of a new volume's replicas (replication/client/placement.h).
#include "replication/client/placement.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace syncblock::repl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kGiB = 1ull << 30;

StorageNodeView Node(const std::string& id, const std::string& zone, uint64_t available,
                     bool reachable = true) {
  StorageNodeView n;
  n.id = id;
  n.zone = zone;
  n.available_bytes = available;
  n.capacity_bytes = 100 * kGiB;
  n.reachable = reachable;
  return n;
}

TEST(PlacementTest, SpreadsAcrossZonesBeforeFillingOne) {
  std::vector<StorageNodeView> nodes = {Node("a1", "a", 90 * kGiB), Node("a2", "a", 80 * kGiB),
                                        Node("b1", "b", 10 * kGiB), Node("c1", "c", 20 * kGiB)};
  auto chosen = PlaceReplicas(nodes, 3, kGiB, {});
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  // a2 has far more room than b1 and c1, but zone a already holds a1.
  EXPECT_THAT(*chosen, ElementsAre("a1", "c1", "b1"));
}

TEST(PlacementTest, PrimaryIsTheRoomiestNodeAndZonesRepeatRoundRobin) {
  std::vector<StorageNodeView> nodes = {Node("a1", "a", 10 * kGiB), Node("a2", "a", 30 * kGiB),
                                        Node("b1", "b", 50 * kGiB), Node("b2", "b", 20 * kGiB)};
  auto chosen = PlaceReplicas(nodes, 4, kGiB, {});
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_THAT(*chosen, ElementsAre("b1", "a2", "b2", "a1"));
}

TEST(PlacementTest, SkipsUnreachableFullAndDisallowedNodes) {
  std::vector<StorageNodeView> nodes = {
      Node("down", "a", 90 * kGiB, /*reachable=*/false), Node("full", "b", kGiB / 2),
      Node("elsewhere", "z", 90 * kGiB), Node("ok1", "a", 5 * kGiB), Node("ok2", "b", 6 * kGiB)};
  auto chosen = PlaceReplicas(nodes, 2, kGiB, {"a", "b"});
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_THAT(*chosen, ElementsAre("ok2", "ok1"));
}

TEST(PlacementTest, TooFewQualifyingNodesIsResourceExhaustedWithTheCount) {
  std::vector<StorageNodeView> nodes = {Node("n1", "a", 5 * kGiB), Node("n2", "b", kGiB / 2),
                                        Node("n3", "c", 5 * kGiB, false)};
  auto chosen = PlaceReplicas(nodes, 3, kGiB, {});
  ASSERT_FALSE(chosen.ok());
  EXPECT_EQ(chosen.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(chosen.status().message(), HasSubstr("only 1 of 3 qualify"));
}

TEST(PlacementTest, ExactlyAvailableIsEnough) {
  auto chosen = PlaceReplicas({Node("n1", "a", kGiB)}, 1, kGiB, {});
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_THAT(*chosen, ElementsAre("n1"));
}

TEST(PlacementTest, EqualSpaceBreaksTiesByIdForAStableChoice) {
  std::vector<StorageNodeView> nodes = {Node("n3", "", kGiB), Node("n1", "", kGiB),
                                        Node("n2", "", kGiB)};
  auto chosen = PlaceReplicas(nodes, 3, 4096, {});
  ASSERT_TRUE(chosen.ok()) << chosen.status();
  EXPECT_THAT(*chosen, ElementsAre("n1", "n2", "n3"));
}

TEST(PlacementTest, WitnessGoesToAThirdZoneThenTheLeastLoadedNode) {
  std::vector<StorageNodeView> nodes = {Node("a1", "a", 90 * kGiB), Node("b1", "b", 80 * kGiB),
                                        Node("a2", "a", 70 * kGiB), Node("c1", "c", 1)};
  nodes[2].replica_count = 0;
  nodes[3].replica_count = 9;
  // c1 is full and busy, but the only node in a zone without the data.
  EXPECT_EQ(PlaceWitness(nodes, {"a1", "b1"}), "c1");
  nodes[3].reachable = false;
  EXPECT_EQ(PlaceWitness(nodes, {"a1", "b1"}), "a2");
  EXPECT_EQ(PlaceWitness(nodes, {"a1", "b1", "a2"}), std::nullopt);
}

TEST(PlacementTest, EvenReplicaCountsWantAWitness) {
  EXPECT_TRUE(WantsWitness(2));
  EXPECT_TRUE(WantsWitness(4));
  EXPECT_FALSE(WantsWitness(1));
  EXPECT_FALSE(WantsWitness(3));
  EXPECT_FALSE(WantsWitness(5));
}

}  // namespace
}  // namespace syncblock::repl
