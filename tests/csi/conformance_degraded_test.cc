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
  // Stop a node that is not the primary.
  StorageNode* primary = HealthyPrimary(v.volume_id());
  ASSERT_NE(primary, nullptr);
  StorageNode* victim = nullptr;
  for (auto& n : *nodes_) {
    if (&n != primary) victim = &n;
  }
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

// Its own cluster: it stops and restarts storage nodes.
class CsiRestartTest : public CsiConformanceTest {};

// Rule 3 of issue 9, made certain: a primary that has just started cuts no
// snapshot until a majority has accepted it, and CSI calls wait for that
// within their deadline instead of passing the storage node's internal
// UNAVAILABLE ("no majority has accepted this primary yet") to the CO. The
// volume's primary is restarted while both other replicas are stopped, so it
// cannot serve until they are let go on again.
TEST_F(CsiRestartTest, ASnapshotWaitsForAPrimaryThatDoesNotServeYet) {
  Volume v = MustCreate(
      CreateReq("pvc-restart", BlockCap(VolumeCapability::AccessMode::SINGLE_NODE_WRITER)));
  StorageNode* primary = HealthyPrimary(v.volume_id());
  ASSERT_NE(primary, nullptr);
  std::vector<StorageNode*> others;
  for (auto& n : *nodes_) {
    if (&n != primary) others.push_back(&n);
  }

  for (auto* n : others) n->process->Kill(SIGSTOP);
  Restart(*primary);
  grpc::Status snapshot_status;
  CreateSnapshotResponse snapshot;
  std::thread call([&] {
    CreateSnapshotRequest req;
    req.set_name("snapshot-after-restart");
    req.set_source_volume_id(v.volume_id());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    snapshot_status = controller_->CreateSnapshot(&ctx, req, &snapshot);
  });
  // The call is under way while the primary cannot serve, long enough for
  // the plugin's reads of the stopped nodes to time out (10 s each) and reach
  // the primary; then the others come back and accept it.
  std::this_thread::sleep_for(std::chrono::seconds(25));
  for (auto* n : others) n->process->Kill(SIGCONT);
  call.join();
  EXPECT_TRUE(snapshot_status.ok())
      << snapshot_status.error_code() << " " << snapshot_status.error_message();
  EXPECT_FALSE(absl::StrContains(snapshot_status.error_message(), "no majority"));
  EXPECT_TRUE(snapshot.snapshot().ready_to_use());
}
}  // namespace
}  // namespace syncblock::csi::conformance
