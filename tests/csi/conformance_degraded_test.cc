// CSI conformance with a storage node gone: what the Controller reports.
#include "tests/csi/conformance_fixture.h"

namespace syncblock::csi::conformance {
namespace {

// Its own cluster: it kills a storage node.
class CsiDegradedTest : public CsiConformanceTest {};

TEST_F(CsiDegradedTest, ConditionNamesTheReplicaThatIsAway) {
  Volume v = MustCreate(
      CreateReq("pvc-degraded", BlockCap(VolumeCapability::AccessMode::SINGLE_NODE_WRITER)));
  ControllerGetVolumeRequest get;
  get.set_volume_id(v.volume_id());
  ControllerGetVolumeResponse resp;
  ASSERT_TRUE(WaitFor([&] {
    resp.Clear();
    return Call(&Controller::Stub::ControllerGetVolume, get, &resp).ok() &&
           !resp.status().volume_condition().abnormal();
  })) << resp.ShortDebugString();
  // "3 of 3 replicas in sync, primary on node storage-N": stop another node.
  const std::string& message = resp.status().volume_condition().message();
  StorageNode* victim = nullptr;
  for (auto& n : *nodes_) {
    if (!absl::EndsWith(message, "node " + n.id)) victim = &n;
  }
  ASSERT_NE(victim, nullptr) << message;
  victim->process->Kill(SIGKILL);
  victim->process->Wait();

  ASSERT_TRUE(WaitFor([&] {
    resp.Clear();
    return Call(&Controller::Stub::ControllerGetVolume, get, &resp).ok() &&
           resp.status().volume_condition().abnormal();
  })) << resp.ShortDebugString();
  EXPECT_TRUE(absl::StrContains(resp.status().volume_condition().message(), victim->id))
      << resp.status().volume_condition().message();

  ListVolumesResponse list;
  ASSERT_TRUE(Call(&Controller::Stub::ListVolumes, ListVolumesRequest(), &list).ok());
  bool listed_abnormal = false;
  for (const auto& e : list.entries()) {
    if (e.volume().volume_id() == v.volume_id()) {
      listed_abnormal = e.status().volume_condition().abnormal();
    }
  }
  EXPECT_TRUE(listed_abnormal);

  // The plugin stays ready with two of three nodes, and the lost zone has no
  // capacity to offer.
  ProbeResponse probe;
  ASSERT_TRUE(Call(&Identity::Stub::Probe, ProbeRequest(), &probe).ok());
  EXPECT_TRUE(probe.ready().value());
  GetCapacityRequest cap;
  (*cap.mutable_accessible_topology()->mutable_segments())[kZoneKey] = victim->zone;
  GetCapacityResponse capacity;
  ASSERT_TRUE(Call(&Controller::Stub::GetCapacity, cap, &capacity).ok());
  EXPECT_EQ(capacity.available_capacity(), 0);
}

}  // namespace
}  // namespace syncblock::csi::conformance
