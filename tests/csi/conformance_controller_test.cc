// CSI conformance: the Controller service's volume RPCs (create, delete,
// validate, list, get, capacity), for mount and block access.
#include <nlohmann/json.hpp>

#include "tests/csi/conformance_fixture.h"

namespace syncblock::csi::conformance {
namespace {

class CsiControllerTest : public CsiConformanceTest {};
class CsiControllerAccessTest : public CsiAccessTypeTest {};

TEST_F(CsiControllerTest, ControllerCapabilitiesAreExactlyTheImplementedOnes) {
  ControllerGetCapabilitiesResponse resp;
  ASSERT_TRUE(
      Call(&Controller::Stub::ControllerGetCapabilities, ControllerGetCapabilitiesRequest(), &resp)
          .ok());
  std::set<int> types;
  for (const auto& c : resp.capabilities()) types.insert(c.rpc().type());
  using T = ControllerServiceCapability::RPC;
  EXPECT_EQ(types, (std::set<int>{T::CREATE_DELETE_VOLUME, T::PUBLISH_UNPUBLISH_VOLUME,
                                  T::PUBLISH_READONLY, T::LIST_VOLUMES, T::GET_CAPACITY,
                                  T::LIST_VOLUMES_PUBLISHED_NODES, T::GET_VOLUME,
                                  T::VOLUME_CONDITION, T::SINGLE_NODE_MULTI_WRITER,
                                  T::CREATE_DELETE_SNAPSHOT, T::LIST_SNAPSHOTS, T::GET_SNAPSHOT,
                                  T::CLONE_VOLUME, T::EXPAND_VOLUME, T::MODIFY_VOLUME}));
}

TEST_F(CsiControllerTest, CreateVolumeRejectsInvalidRequests) {
  auto good = CreateReq("invalid-cases", MountCap(Mode::SINGLE_NODE_WRITER));
  auto expect = [&](CreateVolumeRequest req, grpc::StatusCode code, const char* what) {
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, req), code) << what;
  };
  {
    auto r = good;
    r.clear_name();
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "missing name");
  }
  {
    auto r = good;
    r.clear_volume_capabilities();
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "missing capabilities");
  }
  {
    auto r = good;
    r.mutable_volume_capabilities(0)->clear_access_type();
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "no access type");
  }
  {
    auto r = good;
    r.mutable_volume_capabilities(0)->clear_access_mode();
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "no access mode");
  }
  {
    auto r = good;
    *r.mutable_volume_capabilities(0) = MountCap(Mode::MULTI_NODE_MULTI_WRITER);
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "multi-writer filesystem");
  }
  {
    auto r = good;
    *r.mutable_volume_capabilities(0) = MountCap(Mode::SINGLE_NODE_WRITER, "ntfs");
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "unsupported fs_type");
  }
  for (auto [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"replicas", "0"},
                                                        {"replicas", "6"},
                                                        {"asyncReplicas", "1"},
                                                        {"lagPolicy", "drop"},
                                                        {"syncMode", "snapshot"},
                                                        {"remote", "Not_A_Name"},
                                                        {"remoteKeep", "3"},
                                                        {"fsType", "btrfs"},
                                                        {"dataLocality", "maybe"},
                                                        {"nosuchparam", "1"}}) {
    auto r = good;
    (*r.mutable_parameters())[key] = value;
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, key.c_str());
  }
  {
    auto r = good;
    r.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id("snap-1");
    expect(r, grpc::StatusCode::NOT_FOUND, "malformed source snapshot id");
  }
  {
    auto r = good;
    r.mutable_volume_content_source()->mutable_snapshot();
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "content source without a snapshot id");
    r = good;
    r.mutable_volume_content_source()->mutable_volume();
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "content source without a volume id");
  }
  {
    auto r = good;
    r.mutable_capacity_range()->set_required_bytes(8 * kMiB + 1);
    r.mutable_capacity_range()->set_limit_bytes(8 * kMiB + 2);
    expect(r, grpc::StatusCode::OUT_OF_RANGE, "no 4 KiB multiple within the range");
  }
  {
    auto r = good;
    r.mutable_capacity_range()->set_required_bytes(-1);
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "negative size");
  }
  {
    auto r = good;
    (*r.mutable_accessibility_requirements()->add_requisite()->mutable_segments())["rack"] = "r1";
    expect(r, grpc::StatusCode::INVALID_ARGUMENT, "foreign topology key");
  }
  {
    auto r = good;
    (*r.mutable_parameters())["replicas"] = "5";  // only three nodes
    expect(r, grpc::StatusCode::RESOURCE_EXHAUSTED, "more replicas than nodes");
  }
  // Nothing was left behind by the failures.
  ListVolumesResponse list;
  ASSERT_TRUE(Call(&Controller::Stub::ListVolumes, ListVolumesRequest(), &list).ok());
  for (const auto& e : list.entries()) EXPECT_NE(e.volume().volume_id(), "invalid-cases");
}

TEST_P(CsiControllerAccessTest, CreateIsIdempotentAndDetectsIncompatibleRecreates) {
  auto req = CreateReq(Name("pvc-idem"), Cap(Mode::SINGLE_NODE_WRITER), 10 * kMiB + 1);
  (*req.mutable_parameters())["csi.storage.k8s.io/pvc/name"] = "data";
  Volume v = MustCreate(req);
  EXPECT_EQ(v.volume_id(), Name("pvc-idem"));  // a Kubernetes-style name is the ID
  EXPECT_EQ(v.capacity_bytes(), 10 * kMiB + 4096);
  EXPECT_EQ(Get(v.volume_context(), "fsType"), "ext4");
  EXPECT_EQ(Get(v.volume_context(), "replicas"), "3");
  std::set<std::string> zones;
  for (const auto& t : v.accessible_topology()) zones.insert(Get(t.segments(), kZoneKey));
  EXPECT_EQ(zones, (std::set<std::string>{"z1", "z2", "z3"}));

  Volume again = MustCreate(req);
  EXPECT_EQ(again.volume_id(), v.volume_id());
  EXPECT_EQ(again.capacity_bytes(), v.capacity_bytes());

  auto bigger = req;
  bigger.mutable_capacity_range()->set_required_bytes(20 * kMiB);
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, bigger), grpc::StatusCode::ALREADY_EXISTS);
  auto fewer = req;
  (*fewer.mutable_parameters())["replicas"] = "2";
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, fewer), grpc::StatusCode::ALREADY_EXISTS);

  MustDelete(v.volume_id());
  MustDelete(v.volume_id());  // deleting what is gone is OK
  ControllerGetVolumeRequest get;
  get.set_volume_id(v.volume_id());
  EXPECT_EQ(Code(&Controller::Stub::ControllerGetVolume, get), grpc::StatusCode::NOT_FOUND);
}

TEST_P(CsiControllerAccessTest, NamesThatAreNotIdsGetAStableHashedId) {
  auto req = CreateReq(Name("Sanity Volume/1"), Cap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "1";
  Volume v = MustCreate(req);
  EXPECT_TRUE(absl::StartsWith(v.volume_id(), "sb-")) << v.volume_id();
  EXPECT_EQ(MustCreate(req).volume_id(), v.volume_id());
  EXPECT_EQ(v.accessible_topology_size(), 1);
  MustDelete(v.volume_id());
}

TEST_P(CsiControllerAccessTest, AccessibilityRequirementsPlaceTheVolume) {
  auto req = CreateReq(Name("pvc-zoned"), Cap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "1";
  (*req.mutable_accessibility_requirements()->add_requisite()->mutable_segments())[kZoneKey] = "z2";
  Volume v = MustCreate(req);
  ASSERT_EQ(v.accessible_topology_size(), 1);
  EXPECT_EQ(Get(v.accessible_topology(0).segments(), kZoneKey), "z2");
  MustDelete(v.volume_id());
}

TEST_P(CsiControllerAccessTest, ValidateVolumeCapabilities) {
  Volume v = MustCreate(CreateReq(Name("pvc-validate"), Cap(Mode::SINGLE_NODE_WRITER)));
  ValidateVolumeCapabilitiesRequest req;
  req.set_volume_id(v.volume_id());
  *req.add_volume_capabilities() = Cap(Mode::SINGLE_NODE_WRITER);

  ValidateVolumeCapabilitiesResponse resp;
  ASSERT_TRUE(Call(&Controller::Stub::ValidateVolumeCapabilities, req, &resp).ok());
  ASSERT_TRUE(resp.has_confirmed()) << resp.message();
  EXPECT_EQ(resp.confirmed().volume_capabilities_size(), 1);

  auto missing_id = req;
  missing_id.clear_volume_id();
  EXPECT_EQ(Code(&Controller::Stub::ValidateVolumeCapabilities, missing_id),
            grpc::StatusCode::INVALID_ARGUMENT);
  auto missing_caps = req;
  missing_caps.clear_volume_capabilities();
  EXPECT_EQ(Code(&Controller::Stub::ValidateVolumeCapabilities, missing_caps),
            grpc::StatusCode::INVALID_ARGUMENT);
  auto unknown = req;
  unknown.set_volume_id("pvc-does-not-exist");
  EXPECT_EQ(Code(&Controller::Stub::ValidateVolumeCapabilities, unknown),
            grpc::StatusCode::NOT_FOUND);

  auto unsupported = req;
  *unsupported.mutable_volume_capabilities(0) = MountCap(Mode::MULTI_NODE_MULTI_WRITER);
  ValidateVolumeCapabilitiesResponse no;
  ASSERT_TRUE(Call(&Controller::Stub::ValidateVolumeCapabilities, unsupported, &no).ok());
  EXPECT_FALSE(no.has_confirmed());
  EXPECT_FALSE(no.message().empty());

  auto other_fs = req;
  *other_fs.mutable_volume_capabilities(0) = MountCap(Mode::SINGLE_NODE_WRITER, "xfs");
  ValidateVolumeCapabilitiesResponse no_fs;
  ASSERT_TRUE(Call(&Controller::Stub::ValidateVolumeCapabilities, other_fs, &no_fs).ok());
  EXPECT_FALSE(no_fs.has_confirmed());
  MustDelete(v.volume_id());
}

INSTANTIATE_TEST_SUITE_P(AccessTypes, CsiControllerAccessTest, ::testing::Values(false, true),
                         AccessTypeName);

TEST_F(CsiControllerTest, ListVolumesPaginates) {
  std::set<std::string> created;
  for (int i = 0; i < 3; ++i) {
    auto req = CreateReq(absl::StrCat("pvc-list-", i), BlockCap(Mode::SINGLE_NODE_WRITER));
    (*req.mutable_parameters())["replicas"] = "1";
    created.insert(MustCreate(req).volume_id());
  }
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    ListVolumesRequest req;
    req.set_max_entries(1);
    req.set_starting_token(token);
    ListVolumesResponse resp;
    grpc::Status s = Call(&Controller::Stub::ListVolumes, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_LE(resp.entries_size(), 1);
    for (const auto& e : resp.entries()) {
      EXPECT_TRUE(seen.insert(e.volume().volume_id()).second) << "listed twice";
      EXPECT_TRUE(e.has_status());
    }
    token = resp.next_token();
  } while (!token.empty() && ++pages < 100);
  for (const auto& id : created) EXPECT_TRUE(seen.count(id)) << id;

  ListVolumesRequest bad_token;
  bad_token.set_starting_token("invalid-token");
  EXPECT_EQ(Code(&Controller::Stub::ListVolumes, bad_token), grpc::StatusCode::ABORTED);
  ListVolumesRequest negative;
  negative.set_max_entries(-1);
  EXPECT_EQ(Code(&Controller::Stub::ListVolumes, negative), grpc::StatusCode::INVALID_ARGUMENT);
  for (const auto& id : created) MustDelete(id);
}

TEST_F(CsiControllerTest, ControllerGetVolumeReportsCondition) {
  ControllerGetVolumeRequest missing;
  EXPECT_EQ(Code(&Controller::Stub::ControllerGetVolume, missing),
            grpc::StatusCode::INVALID_ARGUMENT);
  ControllerGetVolumeRequest unknown;
  unknown.set_volume_id("pvc-does-not-exist");
  EXPECT_EQ(Code(&Controller::Stub::ControllerGetVolume, unknown), grpc::StatusCode::NOT_FOUND);

  Volume v = MustCreate(CreateReq("pvc-get", BlockCap(Mode::SINGLE_NODE_WRITER)));
  ControllerGetVolumeRequest req;
  req.set_volume_id(v.volume_id());
  ControllerGetVolumeResponse resp;
  ASSERT_TRUE(WaitFor([&] {
    resp.Clear();
    return Call(&Controller::Stub::ControllerGetVolume, req, &resp).ok() &&
           resp.status().has_volume_condition() && !resp.status().volume_condition().abnormal();
  })) << resp.ShortDebugString();
  EXPECT_EQ(resp.volume().volume_id(), v.volume_id());
  EXPECT_EQ(resp.volume().capacity_bytes(), 16 * kMiB);
  EXPECT_TRUE(absl::StrContains(resp.status().volume_condition().message(), "3 of 3"))
      << resp.status().volume_condition().message();
  MustDelete(v.volume_id());
}

TEST_F(CsiControllerTest, GetCapacityPerZone) {
  GetCapacityResponse all;
  ASSERT_TRUE(Call(&Controller::Stub::GetCapacity, GetCapacityRequest(), &all).ok());
  EXPECT_GT(all.available_capacity(), 0);
  ASSERT_TRUE(all.has_maximum_volume_size());
  EXPECT_GT(all.maximum_volume_size().value(), 0);
  EXPECT_LE(all.maximum_volume_size().value(), all.available_capacity());

  int64_t sum = 0;
  for (const char* z : {"z1", "z2", "z3"}) {
    GetCapacityRequest req;
    (*req.mutable_accessible_topology()->mutable_segments())[kZoneKey] = z;
    GetCapacityResponse resp;
    ASSERT_TRUE(Call(&Controller::Stub::GetCapacity, req, &resp).ok());
    EXPECT_GT(resp.available_capacity(), 0) << z;
    // One node per zone: three replicas do not fit in one zone.
    EXPECT_EQ(resp.maximum_volume_size().value(), 0) << z;
    sum += resp.available_capacity();
  }
  // The nodes share this machine's filesystem, so free space moves between
  // calls; each zone is a part of the whole, never more.
  EXPECT_GT(sum, 0);

  GetCapacityRequest nowhere;
  (*nowhere.mutable_accessible_topology()->mutable_segments())[kZoneKey] = "no-such-zone";
  GetCapacityResponse none;
  ASSERT_TRUE(Call(&Controller::Stub::GetCapacity, nowhere, &none).ok());
  EXPECT_EQ(none.available_capacity(), 0);

  GetCapacityRequest single;
  (*single.mutable_parameters())["replicas"] = "1";
  (*single.mutable_accessible_topology()->mutable_segments())[kZoneKey] = "z1";
  GetCapacityResponse one;
  ASSERT_TRUE(Call(&Controller::Stub::GetCapacity, single, &one).ok());
  EXPECT_GT(one.maximum_volume_size().value(), 0);

  GetCapacityRequest bad;
  (*bad.mutable_parameters())["replicas"] = "9";
  EXPECT_EQ(Code(&Controller::Stub::GetCapacity, bad), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CsiControllerTest, DeleteVolumeArguments) {
  EXPECT_EQ(Code(&Controller::Stub::DeleteVolume, DeleteVolumeRequest()),
            grpc::StatusCode::INVALID_ARGUMENT);
  DeleteVolumeRequest unknown;
  unknown.set_volume_id("pvc-never-existed");
  (*unknown.mutable_secrets())["token"] = "s3cret";
  EXPECT_EQ(Code(&Controller::Stub::DeleteVolume, unknown), grpc::StatusCode::OK);
  // The secret went through the call log stripped.
  EXPECT_FALSE(absl::StrContains(syncblock::testing::ReadFile(dir_->Join("csi.log")), "s3cret"));
}

TEST_F(CsiControllerTest, ConcurrentCreatesOfOneNameMakeOneVolume) {
  auto req = CreateReq("pvc-race", BlockCap(VolumeCapability::AccessMode::SINGLE_NODE_WRITER));
  std::vector<grpc::Status> results(6);
  std::vector<std::string> ids(results.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      auto stub = Controller::NewStub(*channel_);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      CreateVolumeResponse resp;
      results[i] = stub->CreateVolume(&ctx, req, &resp);
      ids[i] = resp.volume().volume_id();
    });
  }
  for (auto& t : threads) t.join();
  int ok = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    // Either it did the work (or found it done), or it was told to retry.
    if (results[i].ok()) {
      ++ok;
      EXPECT_EQ(ids[i], "pvc-race");
    } else {
      EXPECT_EQ(results[i].error_code(), grpc::StatusCode::ABORTED) << results[i].error_message();
    }
  }
  EXPECT_GE(ok, 1);
  // A retry after the race finds the one volume.
  EXPECT_EQ(MustCreate(req).volume_id(), "pvc-race");
  ListVolumesResponse list;
  ASSERT_TRUE(Call(&Controller::Stub::ListVolumes, ListVolumesRequest(), &list).ok());
  int found = 0;
  for (const auto& e : list.entries()) found += e.volume().volume_id() == "pvc-race";
  EXPECT_EQ(found, 1);
  MustDelete("pvc-race");
}

TEST_F(CsiControllerTest, SmallXfsVolumesAreSizedForMkfs) {
  // mkfs.xfs makes no filesystem under 300 MiB: a smaller request gets the
  // smallest size that can be staged, or OUT_OF_RANGE when the limit forbids it.
  auto req = CreateReq("small-xfs", MountCap(Mode::SINGLE_NODE_WRITER, "xfs"), 16 * kMiB);
  Volume v = MustCreate(req);
  EXPECT_EQ(v.capacity_bytes(), 300 * kMiB);
  MustDelete(v.volume_id());

  auto limited =
      CreateReq("small-xfs-limited", MountCap(Mode::SINGLE_NODE_WRITER, "xfs"), 16 * kMiB);
  limited.mutable_capacity_range()->set_limit_bytes(64 * kMiB);
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, limited), grpc::StatusCode::OUT_OF_RANGE);

  // Block volumes and ext4 keep the size asked for.
  Volume ext4 = MustCreate(CreateReq("small-ext4", MountCap(Mode::SINGLE_NODE_WRITER, "ext4")));
  EXPECT_EQ(ext4.capacity_bytes(), 16 * kMiB);
  MustDelete(ext4.volume_id());
}

// What a CO does with topology (rule 2 of issue 9): it copies what
// NodeGetInfo reports into CreateVolume's accessibility_requirements, and the
// driver must accept every key it reports and satisfy what it can.
TEST_F(CsiControllerTest, TheTopologyANodeReportsIsAcceptedBack) {
  NodeGetInfoResponse info;
  ASSERT_TRUE(Call(&Node::Stub::NodeGetInfo, NodeGetInfoRequest(), &info).ok());
  const auto& segments = info.accessible_topology().segments();
  ASSERT_EQ(Get(segments, kZoneKey), "z1");
  ASSERT_FALSE(Get(segments, "kubernetes.io/hostname").empty()) << info.ShortDebugString();

  auto req = CreateReq("pvc-node-topology", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "1";
  *req.mutable_accessibility_requirements()->add_requisite() = info.accessible_topology();
  *req.mutable_accessibility_requirements()->add_preferred() = info.accessible_topology();
  Volume v = MustCreate(req);
  ASSERT_EQ(v.accessible_topology_size(), 1) << v.ShortDebugString();
  EXPECT_EQ(Get(v.accessible_topology(0).segments(), kZoneKey), "z1");
  MustDelete(v.volume_id());

  // A node plugin started without --zone, as `syncblock local up` starts it,
  // reports its hostname alone: that requirement is satisfiable anywhere.
  std::string socket = dir_->Join("zoneless/csi.sock");
  Subprocess zoneless(
      syncblock::testing::WithTls(
          {SyncblockBinary(), "csi", "--mode", "node", "--endpoint", "unix://" + socket,
           "--storage-nodes", StorageAddresses(), "--node-id", "node-2", "--state-dir",
           dir_->Join("zoneless-state"), "--attach", "fuse"},
          NodePluginTls("node-2")),
      dir_->Join("zoneless.log"));
  auto channel = grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
  auto node = Node::NewStub(channel);
  NodeGetInfoResponse bare;
  ASSERT_TRUE(WaitFor([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return node->NodeGetInfo(&ctx, NodeGetInfoRequest(), &bare).ok();
  })) << syncblock::testing::ReadFile(dir_->Join("zoneless.log"));
  ASSERT_EQ(Get(bare.accessible_topology().segments(), kZoneKey), "");
  ASSERT_EQ(bare.accessible_topology().segments_size(), 1) << bare.ShortDebugString();

  auto zoneless_req = CreateReq("pvc-zoneless-topology", BlockCap(Mode::SINGLE_NODE_WRITER));
  *zoneless_req.mutable_accessibility_requirements()->add_requisite() = bare.accessible_topology();
  *zoneless_req.mutable_accessibility_requirements()->add_preferred() = bare.accessible_topology();
  Volume anywhere = MustCreate(zoneless_req);
  EXPECT_EQ(anywhere.volume_id(), "pvc-zoneless-topology");
  EXPECT_EQ(Get(anywhere.volume_context(), "replicas"), "3");
  MustDelete(anywhere.volume_id());
}

// Rule 3 of issue 9: a volume CreateVolume returned takes every other call at
// once. Its primary takes snapshots only once a majority has accepted it; the
// snapshot right after the create used to fail now and then with UNAVAILABLE
// "no majority has accepted this primary yet".
TEST_F(CsiControllerTest, AVolumeTakesASnapshotTheMomentItIsCreated) {
  for (int i = 0; i < 8; ++i) {
    Volume v =
        MustCreate(CreateReq(absl::StrCat("pvc-at-once-", i), BlockCap(Mode::SINGLE_NODE_WRITER)));
    CreateSnapshotRequest snap;
    snap.set_name(absl::StrCat("snapshot-at-once-", i));
    snap.set_source_volume_id(v.volume_id());
    CreateSnapshotResponse resp;
    grpc::Status s = Call(&Controller::Stub::CreateSnapshot, snap, &resp);
    ASSERT_TRUE(s.ok()) << "round " << i << ": " << s.error_code() << " " << s.error_message();
    EXPECT_TRUE(resp.snapshot().ready_to_use());
    EXPECT_FALSE(absl::StrContains(s.error_message(), "no majority"));
    DeleteSnapshotRequest del;
    del.set_snapshot_id(resp.snapshot().snapshot_id());
    EXPECT_EQ(Code(&Controller::Stub::DeleteSnapshot, del), grpc::StatusCode::OK);
    MustDelete(v.volume_id());
  }
}

// StorageClass syncMode=async: one of the replicas (the last placed) is
// asynchronous, with the lag bounds the parameters give; volume_context
// repeats them for a re-create to compare.
TEST_F(CsiControllerTest, SyncModeAsyncMakesAnAsynchronousReplica) {
  auto req = CreateReq("async-1", BlockCap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "3";
  (*req.mutable_parameters())["syncMode"] = "async";
  (*req.mutable_parameters())["maxLagMs"] = "750";
  (*req.mutable_parameters())["lagPolicy"] = "pull-ahead";
  Volume v = MustCreate(req);
  EXPECT_EQ(v.volume_context().at("syncMode"), "async");
  EXPECT_EQ(v.volume_context().at("asyncReplicas"), "1");
  EXPECT_EQ(v.volume_context().at("maxLagMs"), "750");
  auto r = RunCommand(SyncblockBinary() + " ctl volume show " + v.volume_id() +
                          " --storage-nodes " + StorageAddresses() + AdminTls() + " -o json",
                      std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json shown = nlohmann::json::parse(r.output);
  int async = 0;
  for (const auto& replica : shown["replicas"]) async += replica["async"].get<bool>() ? 1 : 0;
  EXPECT_EQ(async, 1) << shown.dump(2);
  EXPECT_FALSE(shown["replicas"][0]["async"].get<bool>()) << "the primary is synchronous";
  EXPECT_EQ(shown["attributes"]["async.max-lag-ms"], "750");
  EXPECT_EQ(shown["attributes"]["async.lag-policy"], "pull-ahead");
  // The same request again is the same volume; another sync mode is not.
  EXPECT_EQ(MustCreate(req).volume_id(), v.volume_id());
  (*req.mutable_parameters())["syncMode"] = "sync";
  req.mutable_parameters()->erase("maxLagMs");
  req.mutable_parameters()->erase("lagPolicy");
  EXPECT_EQ(Code(&Controller::Stub::CreateVolume, req), grpc::StatusCode::ALREADY_EXISTS);
  MustDelete(v.volume_id());
}

}  // namespace
}  // namespace syncblock::csi::conformance
