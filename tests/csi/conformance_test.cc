// CSI conformance of the Identity and Controller services against real
// processes: three `syncblock storage` nodes (zones z1, z2, z3) and
// `syncblock csi --mode all` on a unix socket, driven through the generated
// gRPC stubs. Every RPC is called with valid requests and with the invalid
// cases the spec names, and the exact status code is checked, for mount and
// block access. Snapshots, clones and expansion (CsiSnapshotTest) also check
// the data: a pattern written with qemu-io to the source's NBD export is read
// back from the clones. Node-side RPCs are covered by the node service's own
// tests.
//
// Skips (with a message) while `syncblock storage` is not built yet.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "csi/proto/csi.grpc.pb.h"
#include "tests/support/test_util.h"

namespace syncblock::csi {
namespace {

using namespace ::csi::v1;  // NOLINT: the spec's message names read best bare.
using syncblock::testing::FreePort;
using syncblock::testing::RunCommand;
using syncblock::testing::Subprocess;
using syncblock::testing::SyncblockBinary;
using syncblock::testing::TempDir;
using syncblock::testing::WaitFor;

constexpr char kZoneKey[] = "topology.csi.syncblock.dev/zone";
constexpr int64_t kMiB = 1 << 20;

// The value of `key`, or "" (protobuf's Map::at aborts on a missing key).
std::string Get(const google::protobuf::Map<std::string, std::string>& map,
                const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

struct StorageNode {
  std::string id;
  std::string zone;
  std::string control;
  std::unique_ptr<Subprocess> process;
};

// One cluster and one plugin for the whole suite: starting them is most of
// the cost, and every test uses volume names of its own.
class CsiConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto help = RunCommand(SyncblockBinary() + " storage --help", std::chrono::seconds(30));
    if (help.exit_code != 0 || absl::StrContains(help.output, "not built yet")) {
      skip_reason_ = new std::string("syncblock storage not built yet");
      return;
    }
    dir_ = new TempDir();
    nodes_ = new std::vector<StorageNode>();
    const char* zones[] = {"z1", "z2", "z3"};
    std::vector<std::string> controls;
    for (int i = 0; i < 3; ++i) {
      StorageNode n;
      n.id = absl::StrCat("storage-", i + 1);
      n.zone = zones[i];
      n.control = absl::StrCat("127.0.0.1:", FreePort());
      std::string data = dir_->Join(n.id);
      mkdir(data.c_str(), 0755);
      n.process = std::make_unique<Subprocess>(
          std::vector<std::string>{SyncblockBinary(), "storage", "--node-id", n.id, "--data-dir",
                                   data, "--listen", n.control, "--zone", n.zone,
                                   "--replication-listen", absl::StrCat("127.0.0.1:", FreePort()),
                                   "--nbd-listen", absl::StrCat("127.0.0.1:", FreePort()),
                                   "--metrics-listen", absl::StrCat("127.0.0.1:", FreePort()),
                                   "--advertise-host", "127.0.0.1"},
          dir_->Join(n.id + ".log"));
      controls.push_back(n.control);
      nodes_->push_back(std::move(n));
    }
    socket_ = new std::string(dir_->Join("csi/csi.sock"));
    csi_ = new Subprocess(
        {SyncblockBinary(), "csi", "--mode", "all", "--endpoint", "unix://" + *socket_,
         "--storage-nodes", absl::StrJoin(controls, ","), "--node-id", "node-1", "--state-dir",
         dir_->Join("csi-state"), "--zone", "z1", "--attach", "fuse", "--log-level", "debug"},
        dir_->Join("csi.log"));
    channel_ = new std::shared_ptr<grpc::Channel>(
        grpc::CreateChannel("unix:" + *socket_, grpc::InsecureChannelCredentials()));
  }

  static void TearDownTestSuite() {
    // The temp dir goes away with its logs: show them when something failed.
    const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    if (dir_ != nullptr && suite != nullptr && suite->Failed()) {
      for (const std::string name :
           {"csi.log", "storage-1.log", "storage-2.log", "storage-3.log"}) {
        std::string log = syncblock::testing::ReadFile(dir_->Join(name));
        if (log.size() > 20000) log = log.substr(log.size() - 20000);
        std::fprintf(stderr, "----- %s (tail) -----\n%s\n", name.c_str(), log.c_str());
      }
    }
    delete csi_;  // SIGKILL; the plugin holds nothing the temp dir removal needs
    csi_ = nullptr;
    delete nodes_;
    nodes_ = nullptr;
    delete channel_;
    channel_ = nullptr;
    delete socket_;
    socket_ = nullptr;
    delete dir_;
    dir_ = nullptr;
    ready_ = false;
  }

  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
    identity_ = Identity::NewStub(*channel_);
    controller_ = Controller::NewStub(*channel_);
    if (!ready_) {
      // Ready once every zone reports capacity: all three nodes answer.
      ready_ = WaitFor(
          [&] {
            for (const char* z : {"z1", "z2", "z3"}) {
              GetCapacityRequest req;
              (*req.mutable_accessible_topology()->mutable_segments())[kZoneKey] = z;
              GetCapacityResponse resp;
              if (!Call(&Controller::Stub::GetCapacity, req, &resp).ok() ||
                  resp.available_capacity() <= 0) {
                return false;
              }
            }
            return true;
          },
          std::chrono::seconds(60));
      ASSERT_TRUE(ready_) << "storage nodes and plugin did not come up; logs in " << dir_->path()
                          << "\n"
                          << syncblock::testing::ReadFile(dir_->Join("csi.log"));
    }
  }

  template <typename Stub, typename Req, typename Resp>
  grpc::Status Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    Stub* stub;
    if constexpr (std::is_same_v<Stub, Identity::Stub>) {
      stub = identity_.get();
    } else {
      stub = controller_.get();
    }
    return (stub->*method)(&ctx, req, resp);
  }

  template <typename Req, typename Resp>
  grpc::StatusCode Code(grpc::Status (Controller::Stub::*method)(grpc::ClientContext*, const Req&,
                                                                 Resp*),
                        const Req& req) {
    Resp resp;
    return Call(method, req, &resp).error_code();
  }

  static VolumeCapability MountCap(VolumeCapability::AccessMode::Mode mode,
                                   const std::string& fs = "") {
    VolumeCapability c;
    c.mutable_mount()->set_fs_type(fs);
    c.mutable_access_mode()->set_mode(mode);
    return c;
  }

  static VolumeCapability BlockCap(VolumeCapability::AccessMode::Mode mode) {
    VolumeCapability c;
    c.mutable_block();
    c.mutable_access_mode()->set_mode(mode);
    return c;
  }

  static CreateVolumeRequest CreateReq(const std::string& name, const VolumeCapability& cap,
                                       int64_t required = 16 * kMiB) {
    CreateVolumeRequest req;
    req.set_name(name);
    *req.add_volume_capabilities() = cap;
    req.mutable_capacity_range()->set_required_bytes(required);
    return req;
  }

  Volume MustCreate(const CreateVolumeRequest& req) {
    CreateVolumeResponse resp;
    grpc::Status s = Call(&Controller::Stub::CreateVolume, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    return resp.volume();
  }

  void MustDelete(const std::string& id) {
    DeleteVolumeRequest req;
    req.set_volume_id(id);
    DeleteVolumeResponse resp;
    grpc::Status s = Call(&Controller::Stub::DeleteVolume, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  }

  ControllerPublishVolumeRequest PublishReq(const std::string& id, const std::string& node,
                                            const VolumeCapability& cap, bool readonly = false) {
    ControllerPublishVolumeRequest req;
    req.set_volume_id(id);
    req.set_node_id(node);
    *req.mutable_volume_capability() = cap;
    req.set_readonly(readonly);
    return req;
  }

  grpc::StatusCode Unpublish(const std::string& id, const std::string& node) {
    ControllerUnpublishVolumeRequest req;
    req.set_volume_id(id);
    req.set_node_id(node);
    return Code(&Controller::Stub::ControllerUnpublishVolume, req);
  }

  std::vector<std::string> PublishedNodes(const std::string& id) {
    ControllerGetVolumeRequest req;
    req.set_volume_id(id);
    ControllerGetVolumeResponse resp;
    grpc::Status s = Call(&Controller::Stub::ControllerGetVolume, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    auto ids = resp.status().published_node_ids();
    std::vector<std::string> out(ids.begin(), ids.end());
    std::sort(out.begin(), out.end());
    return out;
  }

  static inline std::string* skip_reason_ = nullptr;
  static inline TempDir* dir_ = nullptr;
  static inline std::vector<StorageNode>* nodes_ = nullptr;
  static inline std::string* socket_ = nullptr;
  static inline Subprocess* csi_ = nullptr;
  static inline std::shared_ptr<grpc::Channel>* channel_ = nullptr;
  static inline bool ready_ = false;

  std::unique_ptr<Identity::Stub> identity_;
  std::unique_ptr<Controller::Stub> controller_;
};

using Mode = VolumeCapability::AccessMode;

TEST_F(CsiConformanceTest, IdentityDescribesTheDriver) {
  GetPluginInfoResponse info;
  ASSERT_TRUE(Call(&Identity::Stub::GetPluginInfo, GetPluginInfoRequest(), &info).ok());
  EXPECT_EQ(info.name(), "csi.syncblock.dev");
  EXPECT_FALSE(info.vendor_version().empty());

  GetPluginCapabilitiesResponse caps;
  ASSERT_TRUE(
      Call(&Identity::Stub::GetPluginCapabilities, GetPluginCapabilitiesRequest(), &caps).ok());
  std::set<int> types;
  for (const auto& c : caps.capabilities()) {
    if (c.has_service()) types.insert(c.service().type());
  }
  EXPECT_EQ(types, (std::set<int>{PluginCapability::Service::CONTROLLER_SERVICE,
                                  PluginCapability::Service::VOLUME_ACCESSIBILITY_CONSTRAINTS}));
  std::set<int> expansion;
  for (const auto& c : caps.capabilities()) {
    if (c.has_volume_expansion()) expansion.insert(c.volume_expansion().type());
  }
  EXPECT_EQ(expansion, (std::set<int>{PluginCapability::VolumeExpansion::ONLINE}));

  ProbeResponse probe;
  ASSERT_TRUE(Call(&Identity::Stub::Probe, ProbeRequest(), &probe).ok());
  EXPECT_TRUE(probe.has_ready());
  EXPECT_TRUE(probe.ready().value());
}

TEST_F(CsiConformanceTest, ControllerCapabilitiesAreExactlyTheImplementedOnes) {
  ControllerGetCapabilitiesResponse resp;
  ASSERT_TRUE(
      Call(&Controller::Stub::ControllerGetCapabilities, ControllerGetCapabilitiesRequest(), &resp)
          .ok());
  std::set<int> types;
  for (const auto& c : resp.capabilities()) types.insert(c.rpc().type());
  using T = ControllerServiceCapability::RPC;
  EXPECT_EQ(types, (std::set<int>{T::CREATE_DELETE_VOLUME, T::PUBLISH_UNPUBLISH_VOLUME,
                                  T::LIST_VOLUMES, T::GET_CAPACITY, T::LIST_VOLUMES_PUBLISHED_NODES,
                                  T::GET_VOLUME, T::VOLUME_CONDITION, T::SINGLE_NODE_MULTI_WRITER,
                                  T::CREATE_DELETE_SNAPSHOT, T::LIST_SNAPSHOTS, T::CLONE_VOLUME,
                                  T::EXPAND_VOLUME}));
}

TEST_F(CsiConformanceTest, UnimplementedRpcsSayUnimplemented) {
  EXPECT_EQ(Code(&Controller::Stub::ControllerModifyVolume, ControllerModifyVolumeRequest()),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(CsiConformanceTest, CreateVolumeRejectsInvalidRequests) {
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
                                                        {"syncMode", "async"},
                                                        {"syncMode", "snapshot"},
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

class CsiConformanceAccessTest : public CsiConformanceTest,
                                 public ::testing::WithParamInterface<bool> {
 protected:
  bool block() const { return GetParam(); }
  VolumeCapability Cap(Mode::Mode mode) const {
    return block() ? BlockCap(mode) : MountCap(mode, "ext4");
  }
  std::string Name(const std::string& base) const {
    return absl::StrCat(base, block() ? "-block" : "-mount");
  }
};

TEST_P(CsiConformanceAccessTest, CreateIsIdempotentAndDetectsIncompatibleRecreates) {
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

TEST_P(CsiConformanceAccessTest, NamesThatAreNotIdsGetAStableHashedId) {
  auto req = CreateReq(Name("Sanity Volume/1"), Cap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "1";
  Volume v = MustCreate(req);
  EXPECT_TRUE(absl::StartsWith(v.volume_id(), "sb-")) << v.volume_id();
  EXPECT_EQ(MustCreate(req).volume_id(), v.volume_id());
  EXPECT_EQ(v.accessible_topology_size(), 1);
  MustDelete(v.volume_id());
}

TEST_P(CsiConformanceAccessTest, AccessibilityRequirementsPlaceTheVolume) {
  auto req = CreateReq(Name("pvc-zoned"), Cap(Mode::SINGLE_NODE_WRITER));
  (*req.mutable_parameters())["replicas"] = "1";
  (*req.mutable_accessibility_requirements()->add_requisite()->mutable_segments())[kZoneKey] = "z2";
  Volume v = MustCreate(req);
  ASSERT_EQ(v.accessible_topology_size(), 1);
  EXPECT_EQ(Get(v.accessible_topology(0).segments(), kZoneKey), "z2");
  MustDelete(v.volume_id());
}

TEST_P(CsiConformanceAccessTest, PublishRules) {
  Volume v = MustCreate(CreateReq(Name("pvc-pub"), Cap(Mode::SINGLE_NODE_WRITER)));
  const std::string id = v.volume_id();
  auto cap = Cap(Mode::SINGLE_NODE_WRITER);

  {
    auto r = PublishReq("", "node-1", cap);
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r),
              grpc::StatusCode::INVALID_ARGUMENT);
    r = PublishReq(id, "", cap);
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r),
              grpc::StatusCode::INVALID_ARGUMENT);
    r = PublishReq(id, "node-1", cap);
    r.clear_volume_capability();
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r),
              grpc::StatusCode::INVALID_ARGUMENT);
    r = PublishReq("pvc-does-not-exist", "node-1", cap);
    EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, r), grpc::StatusCode::NOT_FOUND);
  }

  ControllerPublishVolumeResponse pub;
  grpc::Status s =
      Call(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-1", cap), &pub);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const auto& ctx = pub.publish_context();
  EXPECT_EQ(Get(ctx, "exportName"), id);
  EXPECT_TRUE(absl::StartsWith(Get(ctx, "nbdUri"), "nbd://")) << Get(ctx, "nbdUri");
  EXPECT_TRUE(absl::EndsWith(Get(ctx, "nbdUri"), "/" + id)) << Get(ctx, "nbdUri");
  std::vector<std::string> storage = absl::StrSplit(Get(ctx, "storageNodes"), ',');
  EXPECT_EQ(storage.size(), 3u);
  for (const auto& n : *nodes_) {
    EXPECT_NE(std::find(storage.begin(), storage.end(), n.control), storage.end()) << n.control;
  }
  EXPECT_EQ(Get(ctx, "readonly"), "false");

  // Publishing again the same way is idempotent.
  ControllerPublishVolumeResponse pub2;
  ASSERT_TRUE(
      Call(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-1", cap), &pub2).ok());
  EXPECT_EQ(Get(pub2.publish_context(), "exportName"), id);
  // Same node, other readonly flag or capability: incompatible.
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-1", cap, true)),
            grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume,
                 PublishReq(id, "node-1", Cap(Mode::SINGLE_NODE_READER_ONLY))),
            grpc::StatusCode::ALREADY_EXISTS);
  // A single-node volume on a second node.
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-2", cap)),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(PublishedNodes(id), std::vector<std::string>{"node-1"});

  // Published volumes are not deleted.
  DeleteVolumeRequest del;
  del.set_volume_id(id);
  EXPECT_EQ(Code(&Controller::Stub::DeleteVolume, del), grpc::StatusCode::FAILED_PRECONDITION);

  EXPECT_EQ(Unpublish("", "node-1"), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Unpublish(id, "node-1"), grpc::StatusCode::OK);
  EXPECT_EQ(Unpublish(id, "node-1"), grpc::StatusCode::OK);
  EXPECT_EQ(Unpublish("pvc-does-not-exist", "node-1"), grpc::StatusCode::OK);
  EXPECT_TRUE(PublishedNodes(id).empty());

  // Now the second node may have it.
  ASSERT_EQ(Code(&Controller::Stub::ControllerPublishVolume, PublishReq(id, "node-2", cap)),
            grpc::StatusCode::OK);
  EXPECT_EQ(Unpublish(id, ""), grpc::StatusCode::OK);  // empty node: every node
  EXPECT_TRUE(PublishedNodes(id).empty());
  MustDelete(id);
}

TEST_P(CsiConformanceAccessTest, ReadonlyIsHonouredAndRecorded) {
  Volume v = MustCreate(CreateReq(Name("pvc-ro"), Cap(Mode::MULTI_NODE_READER_ONLY)));
  auto cap = Cap(Mode::MULTI_NODE_READER_ONLY);
  for (const char* node : {"node-1", "node-2"}) {
    ControllerPublishVolumeResponse pub;
    ASSERT_TRUE(Call(&Controller::Stub::ControllerPublishVolume,
                     PublishReq(v.volume_id(), node, cap, true), &pub)
                    .ok());
    EXPECT_EQ(Get(pub.publish_context(), "readonly"), "true");
  }
  EXPECT_EQ(PublishedNodes(v.volume_id()), (std::vector<std::string>{"node-1", "node-2"}));
  EXPECT_EQ(Unpublish(v.volume_id(), ""), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

TEST_P(CsiConformanceAccessTest, MultiNodeMultiWriterIsForBlockOnly) {
  auto cap = Cap(Mode::MULTI_NODE_MULTI_WRITER);
  if (!block()) {
    Volume v = MustCreate(CreateReq(Name("pvc-mnmw"), Cap(Mode::SINGLE_NODE_WRITER)));
    EXPECT_EQ(
        Code(&Controller::Stub::ControllerPublishVolume, PublishReq(v.volume_id(), "node-1", cap)),
        grpc::StatusCode::INVALID_ARGUMENT);
    MustDelete(v.volume_id());
    return;
  }
  Volume v = MustCreate(CreateReq(Name("pvc-mnmw"), cap));
  for (const char* node : {"node-1", "node-2", "node-3"}) {
    EXPECT_EQ(
        Code(&Controller::Stub::ControllerPublishVolume, PublishReq(v.volume_id(), node, cap)),
        grpc::StatusCode::OK)
        << node;
  }
  EXPECT_EQ(PublishedNodes(v.volume_id()),
            (std::vector<std::string>{"node-1", "node-2", "node-3"}));
  // A single-node publication cannot join them.
  EXPECT_EQ(Code(&Controller::Stub::ControllerPublishVolume,
                 PublishReq(v.volume_id(), "node-4", Cap(Mode::SINGLE_NODE_WRITER))),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Unpublish(v.volume_id(), ""), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

TEST_P(CsiConformanceAccessTest, ValidateVolumeCapabilities) {
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

INSTANTIATE_TEST_SUITE_P(AccessTypes, CsiConformanceAccessTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Block" : "Mount"; });

TEST_F(CsiConformanceTest, ListVolumesPaginates) {
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

TEST_F(CsiConformanceTest, ControllerGetVolumeReportsCondition) {
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

TEST_F(CsiConformanceTest, GetCapacityPerZone) {
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

TEST_F(CsiConformanceTest, DeleteVolumeArguments) {
  EXPECT_EQ(Code(&Controller::Stub::DeleteVolume, DeleteVolumeRequest()),
            grpc::StatusCode::INVALID_ARGUMENT);
  DeleteVolumeRequest unknown;
  unknown.set_volume_id("pvc-never-existed");
  (*unknown.mutable_secrets())["token"] = "s3cret";
  EXPECT_EQ(Code(&Controller::Stub::DeleteVolume, unknown), grpc::StatusCode::OK);
  // The secret went through the call log stripped.
  EXPECT_FALSE(absl::StrContains(syncblock::testing::ReadFile(dir_->Join("csi.log")), "s3cret"));
}

}  // namespace
}  // namespace syncblock::csi

namespace syncblock::csi {
namespace {

using namespace ::csi::v1;  // NOLINT

TEST_F(CsiConformanceTest, ConcurrentCreatesOfOneNameMakeOneVolume) {
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
}  // namespace syncblock::csi

namespace syncblock::csi {
namespace {

TEST_F(CsiConformanceTest, SmallXfsVolumesAreSizedForMkfs) {
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

}  // namespace
}  // namespace syncblock::csi

// Snapshots, clones and expansion (issue 4).
namespace syncblock::csi {
namespace {

using syncblock::testing::HaveTool;

// Runs qemu-io commands against an NBD URI; the output, or "" on failure.
// qemu-io reports a pattern mismatch in its output, not always in its exit code.
bool QemuIo(const std::string& uri, const std::string& cmds, std::string* out) {
  auto r = RunCommand("qemu-io -f raw '" + uri + "' " + cmds, std::chrono::seconds(120));
  *out = r.output;
  return r.exit_code == 0 && !absl::StrContains(r.output, "failed") &&
         !absl::StrContains(r.output, "error");
}

class CsiSnapshotTest : public CsiConformanceTest {
 protected:
  CreateSnapshotResponse MustSnapshot(const std::string& name, const std::string& volume) {
    CreateSnapshotRequest req;
    req.set_name(name);
    req.set_source_volume_id(volume);
    CreateSnapshotResponse resp;
    grpc::Status s = Call(&Controller::Stub::CreateSnapshot, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    return resp;
  }

  grpc::StatusCode DeleteSnapshotCode(const std::string& id) {
    DeleteSnapshotRequest req;
    req.set_snapshot_id(id);
    return Code(&Controller::Stub::DeleteSnapshot, req);
  }

  std::vector<std::string> ListedIds(const ListSnapshotsRequest& req) {
    ListSnapshotsResponse resp;
    grpc::Status s = Call(&Controller::Stub::ListSnapshots, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
    std::vector<std::string> ids;
    for (const auto& e : resp.entries()) ids.push_back(e.snapshot().snapshot_id());
    return ids;
  }

  // Publishes a block volume to node-1 and returns its nbdUri.
  std::string PublishBlock(const std::string& id) {
    ControllerPublishVolumeResponse pub;
    grpc::Status s = Call(&Controller::Stub::ControllerPublishVolume,
                          PublishReq(id, "node-1", BlockCap(Mode::SINGLE_NODE_WRITER)), &pub);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return Get(pub.publish_context(), "nbdUri");
  }
};

TEST_F(CsiSnapshotTest, SnapshotRpcsRejectInvalidRequests) {
  CreateSnapshotRequest no_name;
  no_name.set_source_volume_id("pvc-snap-invalid");
  EXPECT_EQ(Code(&Controller::Stub::CreateSnapshot, no_name), grpc::StatusCode::INVALID_ARGUMENT);
  CreateSnapshotRequest no_source;
  no_source.set_name("snapshot-invalid");
  EXPECT_EQ(Code(&Controller::Stub::CreateSnapshot, no_source), grpc::StatusCode::INVALID_ARGUMENT);
  CreateSnapshotRequest unknown = no_source;
  unknown.set_source_volume_id("pvc-does-not-exist");
  EXPECT_EQ(Code(&Controller::Stub::CreateSnapshot, unknown), grpc::StatusCode::NOT_FOUND);

  EXPECT_EQ(DeleteSnapshotCode(""), grpc::StatusCode::INVALID_ARGUMENT);
  // Unknown and malformed ids name no snapshot: deleting them is OK.
  EXPECT_EQ(DeleteSnapshotCode("pvc-does-not-exist@snapshot-x"), grpc::StatusCode::OK);
  EXPECT_EQ(DeleteSnapshotCode("not-a-snapshot-id"), grpc::StatusCode::OK);

  ListSnapshotsRequest bad_token;
  bad_token.set_starting_token("invalid-token");
  EXPECT_EQ(Code(&Controller::Stub::ListSnapshots, bad_token), grpc::StatusCode::ABORTED);
  ListSnapshotsRequest negative;
  negative.set_max_entries(-1);
  EXPECT_EQ(Code(&Controller::Stub::ListSnapshots, negative), grpc::StatusCode::INVALID_ARGUMENT);
  ListSnapshotsRequest by_unknown_id;
  by_unknown_id.set_snapshot_id("pvc-does-not-exist@snapshot-x");
  EXPECT_TRUE(ListedIds(by_unknown_id).empty());
  ListSnapshotsRequest by_malformed_id;
  by_malformed_id.set_snapshot_id("not-a-snapshot-id");
  EXPECT_TRUE(ListedIds(by_malformed_id).empty());
  ListSnapshotsRequest by_unknown_source;
  by_unknown_source.set_source_volume_id("pvc-does-not-exist");
  EXPECT_TRUE(ListedIds(by_unknown_source).empty());
}

TEST_F(CsiSnapshotTest, SnapshotsAreIdempotentByNameAndListed) {
  auto req_a = CreateReq("pvc-snap-a", BlockCap(Mode::SINGLE_NODE_WRITER));
  Volume a = MustCreate(req_a);
  Volume b = MustCreate(CreateReq("pvc-snap-b", BlockCap(Mode::SINGLE_NODE_WRITER)));

  auto first = MustSnapshot("snapshot-one", a.volume_id());
  const Snapshot& snap = first.snapshot();
  EXPECT_EQ(snap.snapshot_id(), a.volume_id() + "@snapshot-one");
  EXPECT_EQ(snap.source_volume_id(), a.volume_id());
  EXPECT_EQ(snap.size_bytes(), a.capacity_bytes());
  EXPECT_TRUE(snap.has_creation_time());
  EXPECT_GT(snap.creation_time().seconds(), 0);
  EXPECT_TRUE(snap.ready_to_use());

  // The same name for the same source: the same snapshot.
  auto again = MustSnapshot("snapshot-one", a.volume_id());
  EXPECT_EQ(again.snapshot().snapshot_id(), snap.snapshot_id());
  EXPECT_EQ(again.snapshot().creation_time().seconds(), snap.creation_time().seconds());
  // The same name for another source.
  CreateSnapshotRequest taken;
  taken.set_name("snapshot-one");
  taken.set_source_volume_id(b.volume_id());
  EXPECT_EQ(Code(&Controller::Stub::CreateSnapshot, taken), grpc::StatusCode::ALREADY_EXISTS);
  // A CSI name that is not a good snapshot name is mapped, deterministically.
  auto odd = MustSnapshot("Nightly Backup #1", a.volume_id());
  EXPECT_TRUE(absl::StartsWith(odd.snapshot().snapshot_id(), a.volume_id() + "@sb-"))
      << odd.snapshot().snapshot_id();
  EXPECT_EQ(MustSnapshot("Nightly Backup #1", a.volume_id()).snapshot().snapshot_id(),
            odd.snapshot().snapshot_id());
  auto third = MustSnapshot("snapshot-three", a.volume_id());
  auto of_b = MustSnapshot("snapshot-of-b", b.volume_id());

  ListSnapshotsRequest by_id;
  by_id.set_snapshot_id(snap.snapshot_id());
  EXPECT_EQ(ListedIds(by_id), std::vector<std::string>{snap.snapshot_id()});
  ListSnapshotsRequest by_id_other_source = by_id;
  by_id_other_source.set_source_volume_id(b.volume_id());
  EXPECT_TRUE(ListedIds(by_id_other_source).empty());
  ListSnapshotsRequest by_source;
  by_source.set_source_volume_id(a.volume_id());
  std::vector<std::string> expected = {snap.snapshot_id(), odd.snapshot().snapshot_id(),
                                       third.snapshot().snapshot_id()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ListedIds(by_source), expected);

  // Every snapshot, a page at a time.
  std::set<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    ListSnapshotsRequest req;
    req.set_max_entries(1);
    req.set_starting_token(token);
    ListSnapshotsResponse resp;
    grpc::Status s = Call(&Controller::Stub::ListSnapshots, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_LE(resp.entries_size(), 1);
    for (const auto& e : resp.entries()) {
      EXPECT_TRUE(seen.insert(e.snapshot().snapshot_id()).second) << "listed twice";
    }
    token = resp.next_token();
  } while (!token.empty() && ++pages < 100);
  for (const auto& id : expected) EXPECT_TRUE(seen.count(id)) << id;
  EXPECT_TRUE(seen.count(of_b.snapshot().snapshot_id()));

  // A volume with snapshots is not deleted: they live in its replicas.
  DeleteVolumeRequest del;
  del.set_volume_id(a.volume_id());
  EXPECT_EQ(Code(&Controller::Stub::DeleteVolume, del), grpc::StatusCode::FAILED_PRECONDITION);

  for (const auto& id : expected) {
    EXPECT_EQ(DeleteSnapshotCode(id), grpc::StatusCode::OK);
    EXPECT_EQ(DeleteSnapshotCode(id), grpc::StatusCode::OK) << "idempotent";
  }
  EXPECT_TRUE(ListedIds(by_source).empty());
  EXPECT_EQ(DeleteSnapshotCode(of_b.snapshot().snapshot_id()), grpc::StatusCode::OK);
  MustDelete(a.volume_id());
  MustDelete(b.volume_id());
}

TEST_F(CsiSnapshotTest, ClonesHoldTheSourceData) {
  if (!HaveTool("qemu-io")) GTEST_SKIP() << "qemu-io is not installed";
  std::string out;
  Volume src = MustCreate(CreateReq("pvc-clone-src", BlockCap(Mode::SINGLE_NODE_WRITER)));
  std::string src_uri = PublishBlock(src.volume_id());
  ASSERT_TRUE(QemuIo(src_uri, "-c 'write -P 0xab 0 1M' -c 'write -P 0x5c 8M 64k'", &out)) << out;
  auto snap = MustSnapshot("snapshot-clone-src", src.volume_id());
  const std::string snap_id = snap.snapshot().snapshot_id();
  // Written after the snapshot: not in a clone of it, in a clone of the volume.
  ASSERT_TRUE(QemuIo(src_uri, "-c 'write -P 0xcd 0 1M'", &out)) << out;

  auto from_snap = CreateReq("pvc-clone-of-snap", BlockCap(Mode::SINGLE_NODE_WRITER));
  from_snap.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(snap_id);
  {
    auto r = from_snap;
    r.mutable_capacity_range()->set_required_bytes(8 * kMiB);
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::OUT_OF_RANGE)
        << "smaller than the snapshot";
    r = from_snap;
    r.mutable_capacity_range()->set_limit_bytes(8 * kMiB);
    r.mutable_capacity_range()->set_required_bytes(0);
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::OUT_OF_RANGE)
        << "limit below the snapshot's size";
    r = from_snap;
    r.mutable_volume_content_source()->mutable_snapshot()->set_snapshot_id(src.volume_id() +
                                                                           "@no-such-snapshot");
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::NOT_FOUND);
    r = from_snap;
    r.mutable_volume_content_source()->mutable_volume()->set_volume_id("pvc-does-not-exist");
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::NOT_FOUND);
  }
  Volume clone = MustCreate(from_snap);
  EXPECT_EQ(clone.capacity_bytes(), src.capacity_bytes());
  ASSERT_TRUE(clone.has_content_source());
  EXPECT_EQ(clone.content_source().snapshot().snapshot_id(), snap_id);
  // Idempotent with the same source; ALREADY_EXISTS with another.
  EXPECT_EQ(MustCreate(from_snap).volume_id(), clone.volume_id());
  {
    auto r = from_snap;
    r.mutable_volume_content_source()->mutable_volume()->set_volume_id(src.volume_id());
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::ALREADY_EXISTS);
    r = CreateReq("pvc-clone-of-snap", BlockCap(Mode::SINGLE_NODE_WRITER));
    EXPECT_EQ(Code(&Controller::Stub::CreateVolume, r), grpc::StatusCode::ALREADY_EXISTS)
        << "same name without a source";
  }
  std::string clone_uri = PublishBlock(clone.volume_id());
  EXPECT_TRUE(QemuIo(clone_uri,
                     "-c 'read -P 0xab 0 1M' -c 'read -P 0 1M 7M' -c 'read -P 0x5c 8M 64k'", &out))
      << out;

  // A larger clone of a volume: its data now, zeros beyond the source's end.
  auto from_volume = CreateReq("pvc-clone-of-vol", BlockCap(Mode::SINGLE_NODE_WRITER), 32 * kMiB);
  from_volume.mutable_volume_content_source()->mutable_volume()->set_volume_id(src.volume_id());
  Volume vclone = MustCreate(from_volume);
  EXPECT_EQ(vclone.capacity_bytes(), 32 * kMiB);
  EXPECT_EQ(vclone.content_source().volume().volume_id(), src.volume_id());
  std::string vclone_uri = PublishBlock(vclone.volume_id());
  EXPECT_TRUE(QemuIo(
      vclone_uri, "-c 'read -P 0xcd 0 1M' -c 'read -P 0x5c 8M 64k' -c 'read -P 0 16M 16M'", &out))
      << out;

  // Clones are independent: the snapshot and the source go, the clone stays.
  EXPECT_EQ(Unpublish(src.volume_id(), "node-1"), grpc::StatusCode::OK);
  EXPECT_EQ(DeleteSnapshotCode(snap_id), grpc::StatusCode::OK);
  MustDelete(src.volume_id());
  EXPECT_TRUE(QemuIo(clone_uri, "-c 'read -P 0xab 0 1M'", &out)) << out;
  for (const auto& id : {clone.volume_id(), vclone.volume_id()}) {
    EXPECT_EQ(Unpublish(id, "node-1"), grpc::StatusCode::OK);
    MustDelete(id);
  }
}

TEST_F(CsiSnapshotTest, ExpandVolume) {
  ControllerExpandVolumeRequest none;
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, none),
            grpc::StatusCode::INVALID_ARGUMENT);
  ControllerExpandVolumeRequest no_range;
  no_range.set_volume_id("pvc-expand");
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, no_range),
            grpc::StatusCode::INVALID_ARGUMENT);
  ControllerExpandVolumeRequest unknown;
  unknown.set_volume_id("pvc-does-not-exist");
  unknown.mutable_capacity_range()->set_required_bytes(32 * kMiB);
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, unknown), grpc::StatusCode::NOT_FOUND);

  Volume v = MustCreate(CreateReq("pvc-expand", BlockCap(Mode::SINGLE_NODE_WRITER)));
  std::string uri = PublishBlock(v.volume_id());
  ControllerExpandVolumeRequest grow;
  grow.set_volume_id(v.volume_id());
  grow.mutable_capacity_range()->set_required_bytes(32 * kMiB);
  *grow.mutable_volume_capability() = BlockCap(Mode::SINGLE_NODE_WRITER);
  ControllerExpandVolumeResponse resp;
  grpc::Status s = Call(&Controller::Stub::ControllerExpandVolume, grow, &resp);
  ASSERT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_EQ(resp.capacity_bytes(), 32 * kMiB);
  EXPECT_TRUE(resp.node_expansion_required()) << "the node's device must be refreshed";

  ControllerGetVolumeRequest get;
  get.set_volume_id(v.volume_id());
  ControllerGetVolumeResponse got;
  ASSERT_TRUE(Call(&Controller::Stub::ControllerGetVolume, get, &got).ok());
  EXPECT_EQ(got.volume().capacity_bytes(), 32 * kMiB);
  if (HaveTool("nbdinfo")) {
    // A new NBD connection sees the new size.
    auto info = RunCommand("nbdinfo --size '" + uri + "'", std::chrono::seconds(60));
    EXPECT_EQ(info.exit_code, 0) << info.output;
    EXPECT_EQ(absl::StripAsciiWhitespace(info.output), std::to_string(32 * kMiB));
  }

  // Again, and smaller: the spec's OK with the current size.
  ControllerExpandVolumeResponse same;
  ASSERT_TRUE(Call(&Controller::Stub::ControllerExpandVolume, grow, &same).ok());
  EXPECT_EQ(same.capacity_bytes(), 32 * kMiB);
  auto smaller = grow;
  smaller.mutable_capacity_range()->set_required_bytes(16 * kMiB);
  ControllerExpandVolumeResponse not_shrunk;
  ASSERT_TRUE(Call(&Controller::Stub::ControllerExpandVolume, smaller, &not_shrunk).ok());
  EXPECT_EQ(not_shrunk.capacity_bytes(), 32 * kMiB);
  // A limit below the current size leaves nothing to grow to: volumes never shrink.
  smaller.mutable_capacity_range()->set_limit_bytes(16 * kMiB);
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, smaller),
            grpc::StatusCode::OUT_OF_RANGE);
  // A range with no 4 KiB multiple in it.
  auto bad_range = grow;
  bad_range.mutable_capacity_range()->set_required_bytes(64 * kMiB + 1);
  bad_range.mutable_capacity_range()->set_limit_bytes(64 * kMiB + 2);
  EXPECT_EQ(Code(&Controller::Stub::ControllerExpandVolume, bad_range),
            grpc::StatusCode::OUT_OF_RANGE);

  EXPECT_EQ(Unpublish(v.volume_id(), "node-1"), grpc::StatusCode::OK);
  MustDelete(v.volume_id());
}

}  // namespace
}  // namespace syncblock::csi
