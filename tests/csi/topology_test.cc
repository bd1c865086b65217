#include "csi/topology.h"

#include <gtest/gtest.h>

#include "csi/csi_constants.h"

namespace syncblock::csi {
namespace {

repl::StorageNodeView Node(const std::string& id, const std::string& zone, uint64_t free_gib) {
  repl::StorageNodeView n;
  n.id = id;
  n.zone = zone;
  n.reachable = true;
  n.capacity_bytes = n.available_bytes = free_gib << 30;
  return n;
}

::csi::v1::Topology Zone(const std::string& z) {
  ::csi::v1::Topology t;
  (*t.mutable_segments())[kTopologyZoneKey] = z;
  return t;
}

TEST(ZonesOfTest, ReadsRequisiteAndPreferred) {
  ::csi::v1::TopologyRequirement req;
  *req.add_requisite() = Zone("a");
  *req.add_requisite() = Zone("b");
  *req.add_requisite() = Zone("a");
  *req.add_preferred() = Zone("b");
  auto z = ZonesOf(req);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(z->allowed, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(z->preferred, (std::vector<std::string>{"b"}));
}

TEST(ZonesOfTest, ForeignKeysAndEmptyValuesAreInvalid) {
  ::csi::v1::TopologyRequirement req;
  (*req.add_requisite()->mutable_segments())["topology.kubernetes.io/rack"] = "r1";
  EXPECT_EQ(ZonesOf(req).status().code(), absl::StatusCode::kInvalidArgument);
  ::csi::v1::TopologyRequirement empty;
  (*empty.add_preferred()->mutable_segments())[kTopologyHostnameKey] = "";
  EXPECT_EQ(ZonesOf(empty).status().code(), absl::StatusCode::kInvalidArgument);
}

// What a CO copies from NodeGetInfo of a node plugin started without --zone.
TEST(ZonesOfTest, AHostnameAloneAllowsEveryZone) {
  ::csi::v1::TopologyRequirement req;
  (*req.add_requisite()->mutable_segments())[kTopologyHostnameKey] = "h1";
  *req.add_requisite() = Zone("a");
  (*req.add_preferred()->mutable_segments())[kTopologyHostnameKey] = "h1";
  auto z = ZonesOf(req);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_TRUE(z->allowed.empty());
  EXPECT_TRUE(z->preferred.empty());
  EXPECT_EQ(z->preferred_hosts, std::vector<std::string>{"h1"});
}

// What a CO copies from NodeGetInfo of a node plugin with --zone.
TEST(ZonesOfTest, ZoneAndHostnameInOneSegmentRestrictToTheZone) {
  ::csi::v1::TopologyRequirement req;
  auto* seg = req.add_requisite()->mutable_segments();
  (*seg)[kTopologyZoneKey] = "b";
  (*seg)[kTopologyHostnameKey] = "h2";
  *req.add_preferred() = req.requisite(0);
  auto z = ZonesOf(req);
  ASSERT_TRUE(z.ok()) << z.status();
  EXPECT_EQ(z->allowed, std::vector<std::string>{"b"});
  EXPECT_EQ(z->preferred, std::vector<std::string>{"b"});
  EXPECT_EQ(z->preferred_hosts, std::vector<std::string>{"h2"});
}

TEST(PlaceVolumeTest, ZoneSpreadNeedsDistinctZones) {
  std::vector<repl::StorageNodeView> nodes = {Node("n1", "a", 10), Node("n2", "a", 10),
                                              Node("n3", "b", 10)};
  VolumeParameters p;
  p.replicas = 3;
  p.zone_spread = true;
  EXPECT_EQ(PlaceVolume(nodes, p, 1 << 30, {}).status().code(),
            absl::StatusCode::kResourceExhausted);
  p.zone_spread = false;
  auto placed = PlaceVolume(nodes, p, 1 << 30, {});
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->size(), 3u);
  nodes.push_back(Node("n4", "c", 10));
  p.zone_spread = true;
  placed = PlaceVolume(nodes, p, 1 << 30, {});
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(ZonesOfNodes(nodes, *placed).size(), 3u);
}

TEST(PlaceVolumeTest, DataLocalityPutsThePrimaryInThePreferredZone) {
  // n1 has the most room, so without locality it would be the primary.
  std::vector<repl::StorageNodeView> nodes = {Node("n1", "a", 50), Node("n2", "b", 10),
                                              Node("n3", "c", 10)};
  VolumeParameters p;
  p.replicas = 3;
  p.data_locality = true;
  ZoneRequirement zones;
  zones.preferred = {"c"};
  auto placed = PlaceVolume(nodes, p, 1 << 30, zones);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->front(), "n3");
  p.data_locality = false;
  placed = PlaceVolume(nodes, p, 1 << 30, zones);
  ASSERT_TRUE(placed.ok());
  EXPECT_EQ(placed->front(), "n1");
}

TEST(PlaceVolumeTest, DataLocalityPrefersTheConsumingHost) {
  std::vector<repl::StorageNodeView> nodes = {Node("n1", "a", 50), Node("n2", "a", 10),
                                              Node("n3", "a", 20)};
  VolumeParameters p;
  p.replicas = 3;
  p.data_locality = true;
  ZoneRequirement zones;
  zones.preferred = {"a"};
  zones.preferred_hosts = {"n2"};
  auto placed = PlaceVolume(nodes, p, 1 << 30, zones);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(placed->front(), "n2");
}

TEST(PlaceVolumeTest, AllowedZonesRestrictPlacement) {
  std::vector<repl::StorageNodeView> nodes = {Node("n1", "a", 50), Node("n2", "b", 10)};
  VolumeParameters p;
  p.replicas = 1;
  ZoneRequirement zones;
  zones.allowed = {"b"};
  auto placed = PlaceVolume(nodes, p, 1 << 30, zones);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_EQ(*placed, std::vector<std::string>{"n2"});
}

}  // namespace
}  // namespace syncblock::csi
