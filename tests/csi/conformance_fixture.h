// The shared fixture of the CSI conformance tests (conformance_*_test.cc,
// one file per service): three real `syncblock storage` nodes (zones z1, z2,
// z3) and `syncblock csi --mode all` on a unix socket, driven through the
// generated gRPC stubs. Every RPC is called with valid requests and with the
// invalid cases the spec names, and the exact status code is checked.
//
// Each test suite (each fixture class) gets its own cluster; the tests of a
// suite share it and use volume names of their own. Skips (with a message)
// while `syncblock storage` is not built yet.
#pragma once

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
#include "replication/security/certificate_dir.h"
#include "replication/security/certificates.h"
#include "tests/support/test_pki.h"
#include "tests/support/test_util.h"
#include "tests/support/tls_command_line.h"

namespace syncblock::csi::conformance {

using namespace ::csi::v1;  // NOLINT: the spec's message names read best bare.
using syncblock::testing::FreePort;
using syncblock::testing::HaveTool;
using syncblock::testing::RunCommand;
using syncblock::testing::Subprocess;
using syncblock::testing::SyncblockBinary;
using syncblock::testing::TempDir;
using syncblock::testing::WaitFor;

constexpr char kZoneKey[] = "topology.csi.syncblock.dev/zone";
constexpr int64_t kMiB = 1 << 20;

// The value of `key`, or "" (protobuf's Map::at aborts on a missing key).
inline std::string Get(const google::protobuf::Map<std::string, std::string>& map,
                       const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

struct StorageNode {
  std::string id;
  std::string zone;
  std::string control;
  std::vector<std::string> argv;  // to start it again, with its data
  std::string log;
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
    mkdir(dir_->Join("pki").c_str(), 0700);
    pki_ = new syncblock::testing::TestPki(dir_->Join("pki"));
    // Real NBD clients in these tests reach the TLS exports as an admin
    // (tests/support WithNbdTls).
    auto nbd_certs = syncblock::security::ClientCertificateDir(
        pki_->Issue("admin", syncblock::security::kRoleAdmin));
    ASSERT_TRUE(nbd_certs.ok()) << nbd_certs.status();
    setenv("SYNCBLOCK_TEST_NBD_CERTS", nbd_certs->c_str(), 1);
    const char* zones[] = {"z1", "z2", "z3"};
    std::vector<std::string> controls;
    for (int i = 0; i < 3; ++i) {
      StorageNode n;
      n.id = absl::StrCat("storage-", i + 1);
      n.zone = zones[i];
      n.control = absl::StrCat("127.0.0.1:", FreePort());
      std::string data = dir_->Join(n.id);
      mkdir(data.c_str(), 0755);
      n.argv = {SyncblockBinary(),
                "storage",
                "--node-id",
                n.id,
                "--data-dir",
                data,
                "--listen",
                n.control,
                "--zone",
                n.zone,
                "--replication-listen",
                absl::StrCat("127.0.0.1:", FreePort()),
                "--nbd-listen",
                absl::StrCat("127.0.0.1:", FreePort()),
                "--metrics-listen",
                absl::StrCat("127.0.0.1:", FreePort()),
                "--advertise-host",
                "127.0.0.1"};
      n.argv = syncblock::testing::WithTls(std::move(n.argv),
                                           pki_->Issue(n.id, syncblock::security::kRoleStorage));
      n.log = dir_->Join(n.id + ".log");
      n.process = std::make_unique<Subprocess>(n.argv, n.log);
      controls.push_back(n.control);
      nodes_->push_back(std::move(n));
    }
    socket_ = new std::string(dir_->Join("csi/csi.sock"));
    // node-1 is the plugin's own node; node-2..4 stand for the other nodes
    // of a cluster (publishing to them records the publication only).
    csi_ = new Subprocess(syncblock::testing::WithTls(
                              {SyncblockBinary(), "csi",
                               "--mode",          "all",
                               "--endpoint",      "unix://" + *socket_,
                               "--storage-nodes", absl::StrJoin(controls, ","),
                               "--node-id",       "node-1",
                               "--state-dir",     dir_->Join("csi-state"),
                               "--zone",          "z1",
                               "--attach",        "fuse",
                               "--known-nodes",   "node-2,node-3,node-4",
                               "--log-level",     "debug"},
                              pki_->Issue("controller", syncblock::security::kRoleController)),
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
    delete pki_;
    pki_ = nullptr;
    delete dir_;
    dir_ = nullptr;
    ready_ = false;
  }

  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
    identity_ = Identity::NewStub(*channel_);
    controller_ = Controller::NewStub(*channel_);
    node_ = Node::NewStub(*channel_);
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
    } else if constexpr (std::is_same_v<Stub, Node::Stub>) {
      stub = node_.get();
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

  // Waits until volume `id` is in good condition and returns the storage
  // node its condition names as primary ("... primary on node storage-N"),
  // or nullptr (with a test failure).
  StorageNode* HealthyPrimary(const std::string& id) {
    ControllerGetVolumeRequest get;
    get.set_volume_id(id);
    ControllerGetVolumeResponse resp;
    bool healthy = WaitFor([&] {
      resp.Clear();
      return Call(&Controller::Stub::ControllerGetVolume, get, &resp).ok() &&
             !resp.status().volume_condition().abnormal();
    });
    EXPECT_TRUE(healthy) << resp.ShortDebugString();
    const std::string& message = resp.status().volume_condition().message();
    for (auto& n : *nodes_) {
      if (absl::EndsWith(message, "node " + n.id)) return &n;
    }
    ADD_FAILURE() << "no primary named in: " << message;
    return nullptr;
  }

  // Kills storage node `n` and starts it again on its data and ports (its
  // log goes on in a file of its own).
  static void Restart(StorageNode& n) {
    n.process->Kill(SIGKILL);
    n.process->Wait();
    n.process = std::make_unique<Subprocess>(n.argv, n.log + ".restarted");
  }

  // Control addresses of the storage nodes, comma-separated.
  static std::string StorageAddresses() {
    std::vector<std::string> out;
    for (const auto& n : *nodes_) out.push_back(n.control);
    return absl::StrJoin(out, ",");
  }

  // " --tls-ca ... --tls-key ..." of an admin, for `ctl` command lines.
  static std::string AdminTls() {
    return syncblock::testing::TlsFlagString(pki_->Issue("admin", syncblock::security::kRoleAdmin));
  }
  // A CSI node plugin's certificate (CN `node_id`, role node).
  static syncblock::security::TlsFiles NodePluginTls(const std::string& node_id) {
    return pki_->Issue(node_id, syncblock::security::kRoleNode);
  }

  static inline std::string* skip_reason_ = nullptr;
  static inline syncblock::testing::TestPki* pki_ = nullptr;
  static inline TempDir* dir_ = nullptr;
  static inline std::vector<StorageNode>* nodes_ = nullptr;
  static inline std::string* socket_ = nullptr;
  static inline Subprocess* csi_ = nullptr;
  static inline std::shared_ptr<grpc::Channel>* channel_ = nullptr;
  static inline bool ready_ = false;

  std::unique_ptr<Identity::Stub> identity_;
  std::unique_ptr<Controller::Stub> controller_;
  std::unique_ptr<Node::Stub> node_;
};

using Mode = VolumeCapability::AccessMode;

// Parameterized by access type: false = mount (ext4), true = block.
class CsiAccessTypeTest : public CsiConformanceTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool block() const { return GetParam(); }
  VolumeCapability Cap(Mode::Mode mode) const {
    return block() ? BlockCap(mode) : MountCap(mode, "ext4");
  }
  std::string Name(const std::string& base) const {
    return absl::StrCat(base, block() ? "-block" : "-mount");
  }
};

inline std::string AccessTypeName(const ::testing::TestParamInfo<bool>& info) {
  return info.param ? "Block" : "Mount";
}

// Runs qemu-io commands against an NBD URI; the output, or "" on failure.
// qemu-io reports a pattern mismatch in its output, not always in its exit code.
inline bool QemuIo(const std::string& uri, const std::string& cmds, std::string* out) {
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

}  // namespace syncblock::csi::conformance
